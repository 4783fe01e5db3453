-- What postures and the inventory need besides the facts themselves.
-- The serial and SMBIOS UUID a machine's facts claim, as columns: one
-- machine may not claim another's (store.saveFacts), which needs a lookup
-- by value. seen_within: the durations of the policy's last_seen posture
-- conditions the machine was last seen within (a JSON list, versioned
-- like any machine attribute; store.SetSeenWithin).
ALTER TABLE machines ADD COLUMN hw_serial TEXT;
ALTER TABLE machines ADD COLUMN hw_uuid TEXT;
ALTER TABLE machines ADD COLUMN seen_within TEXT;
CREATE INDEX machines_hw_serial ON machines (hw_serial);
CREATE INDEX machines_hw_uuid ON machines (hw_uuid);
UPDATE machines SET hw_serial = NULLIF(facts::jsonb->>'serial', ''), hw_uuid = NULLIF(facts::jsonb->>'machine_uuid', '') WHERE facts IS NOT NULL;
