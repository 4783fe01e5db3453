-- Machine-credential rotation: a new credential the server minted for a
-- machine, valid beside the current one until the agent first uses it
-- (then it replaces the current one), so a crash at any point leaves the
-- machine a credential that works; and when the current one was issued.
ALTER TABLE machines ADD COLUMN next_credential_hash TEXT;
ALTER TABLE machines ADD COLUMN credential_created_at BIGINT;
CREATE UNIQUE INDEX machines_next_credential ON machines(next_credential_hash);
