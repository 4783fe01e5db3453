-- Inventory facts (wire.Facts): the machine's latest, as JSON, and when
-- the agent sent them (it sends them only when they change).
ALTER TABLE machines ADD COLUMN facts TEXT;
ALTER TABLE machines ADD COLUMN facts_at BIGINT;
