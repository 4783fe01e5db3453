-- SSH over the overlay. ssh_checks: a person's confirmation of logins
-- from their machines (a "check" rule admits while the owner's latest
-- confirmation is recent); the ID is the confirm link's, random.
CREATE TABLE ssh_checks (
    id           TEXT PRIMARY KEY,
    owner        TEXT NOT NULL,
    src_machine  TEXT NOT NULL,
    dst_machine  TEXT NOT NULL,
    login        TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    confirmed_at BIGINT
);
CREATE INDEX ssh_checks_owner ON ssh_checks (owner, confirmed_at);
-- ssh_sessions: every session the agents report (the audit log has an
-- event for each too); ssh_recordings its asciinema cast, in the chunks
-- the agent streamed, pruned with the sessions.
CREATE TABLE ssh_sessions (
    id              TEXT PRIMARY KEY,
    machine         TEXT NOT NULL,
    machine_name    TEXT NOT NULL,
    src             TEXT NOT NULL,
    src_name        TEXT NOT NULL,
    owner           TEXT NOT NULL,
    console         TEXT NOT NULL,
    login           TEXT NOT NULL,
    kind            TEXT NOT NULL,
    command         TEXT NOT NULL,
    start_at        BIGINT NOT NULL,
    end_at          BIGINT,
    exit_status     INTEGER,
    reason          TEXT NOT NULL,
    recorded        INTEGER NOT NULL,
    recording_bytes BIGINT NOT NULL
);
CREATE INDEX ssh_sessions_start ON ssh_sessions (start_at);
CREATE TABLE ssh_recordings (
    session TEXT NOT NULL,
    offset_bytes BIGINT NOT NULL,
    data    BLOB NOT NULL,
    PRIMARY KEY (session, offset_bytes)
);
