-- WireGuard key rotation: when each machine's key was registered (NULL for
-- machines enrolled before this schema: their enrollment time), and an
-- admin's pending request to replace keys created before a time.
ALTER TABLE machines ADD COLUMN key_created_at BIGINT;
ALTER TABLE machines ADD COLUMN rotate_key_before BIGINT;
