-- Interactive enrollment: an agent without a token asks to join and waits;
-- an admin signed in to the page (or the CLI) approves or denies the
-- request by its short code. Only the waiting agent's secret's hash is
-- kept. The approving admin becomes the machine's owner.
CREATE TABLE pending_enrollments (
    code        TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL UNIQUE,
    request     TEXT NOT NULL,
    source_ip   TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    state       TEXT NOT NULL,
    decided_by  TEXT,
    decided_at  BIGINT,
    machine_id  TEXT
);
ALTER TABLE machines ADD COLUMN owner TEXT;
