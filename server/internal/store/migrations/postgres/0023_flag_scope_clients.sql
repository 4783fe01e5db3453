-- Flags scoped to a team, and the applications that read flags over
-- OFREP (issue 38). flags.team: the team the flag belongs to ('' the
-- whole fleet): only machines with one of the team's tags receive it.
-- flag_clients: applications and services outside the fleet (a CI
-- pipeline, a backend) that evaluate flags on the server; their keys are
-- stored hashed, several at once for rotation. flag_usage: evaluations
-- per flag per client or machine per hour (subject 'client:ID' or
-- 'machine:ID'), and when last.
ALTER TABLE flags ADD COLUMN team TEXT NOT NULL DEFAULT '';
CREATE TABLE flag_clients (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    description  TEXT NOT NULL,
    kind         TEXT NOT NULL,
    team         TEXT NOT NULL,
    active       INTEGER NOT NULL,
    rate_per_min INTEGER NOT NULL,
    allow        TEXT NOT NULL,
    created_by   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_seen    BIGINT
);
CREATE TABLE flag_client_keys (
    id         TEXT PRIMARY KEY,
    client_id  TEXT NOT NULL REFERENCES flag_clients(id) ON DELETE CASCADE,
    prefix     TEXT NOT NULL,
    hash       TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX flag_client_keys_client ON flag_client_keys (client_id);
CREATE TABLE flag_usage (
    flag    TEXT NOT NULL,
    subject TEXT NOT NULL,
    hour    BIGINT NOT NULL,
    count   BIGINT NOT NULL,
    last_at BIGINT NOT NULL,
    PRIMARY KEY (flag, subject, hour)
);
CREATE INDEX flag_usage_hour ON flag_usage (hour);
