-- Every self-update attempt a machine reports (ok, rolled_back, failed),
-- newest last; trimmed per machine on write. machines.update_status stays
-- as the latest, for listing.
CREATE TABLE update_history (
    id           BIGSERIAL PRIMARY KEY,
    machine_id   TEXT NOT NULL REFERENCES machines(id) ON DELETE CASCADE,
    from_version TEXT NOT NULL,
    to_version   TEXT NOT NULL,
    state        TEXT NOT NULL,
    reason       TEXT NOT NULL DEFAULT '',
    at           BIGINT NOT NULL,
    received_at  BIGINT NOT NULL
);
-- An agent resends a report it is not sure arrived: one row per attempt.
CREATE UNIQUE INDEX update_history_attempt ON update_history(machine_id, to_version, state, at);
CREATE INDEX update_history_at ON update_history(at);

-- The last outcome each machine had becomes its first history entry.
INSERT INTO update_history (machine_id, from_version, to_version, state, reason, at, received_at)
SELECT id, COALESCE(update_status::json->>'from', ''), COALESCE(update_status::json->>'to', ''),
       COALESCE(update_status::json->>'state', ''), COALESCE(update_status::json->>'reason', ''),
       (EXTRACT(EPOCH FROM (update_status::json->>'at')::timestamptz) * 1000)::BIGINT,
       COALESCE(health_at, 0)
FROM machines
WHERE update_status IS NOT NULL AND update_status::json->>'at' IS NOT NULL;
