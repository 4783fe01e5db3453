-- The relay across replicas (PostgreSQL; one SQLite server has no
-- others). relay_replicas: each running replica's direct address and
-- certificate pin, renewed every few seconds while it runs; a row past
-- expires_at is a replica that died. relay_sessions: which replica holds
-- each machine's relay session, by its WireGuard key, so that a replica
-- forwards a frame for a machine it does not hold to the one that does.
CREATE TABLE relay_replicas (
    id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    pin TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE TABLE relay_sessions (
    public_key TEXT PRIMARY KEY,
    machine_id TEXT NOT NULL,
    replica TEXT NOT NULL,
    since BIGINT NOT NULL
);
CREATE INDEX relay_sessions_replica ON relay_sessions (replica);
