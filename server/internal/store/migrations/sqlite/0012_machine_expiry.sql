-- Machine expiry: when a machine's enrollment expires (NULL: never), an
-- admin's per-machine opt-out, and a token's lifetime for the machines it
-- enrolls (seconds; NULL: the server's --machine-expiry).
ALTER TABLE machines ADD COLUMN expires_at BIGINT;
ALTER TABLE machines ADD COLUMN expiry_disabled INTEGER NOT NULL DEFAULT 0;
ALTER TABLE enroll_tokens ADD COLUMN machine_expiry_s BIGINT;
CREATE INDEX machines_expires_at ON machines(expires_at);
