-- Every self-update attempt a machine reports (ok, rolled_back, failed),
-- newest last; trimmed per machine on write. machines.update_status stays
-- as the latest, for listing.
CREATE TABLE update_history (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
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
SELECT id, COALESCE(json_extract(update_status, '$.from'), ''), COALESCE(json_extract(update_status, '$.to'), ''),
       COALESCE(json_extract(update_status, '$.state'), ''), COALESCE(json_extract(update_status, '$.reason'), ''),
       CAST((julianday(json_extract(update_status, '$.at')) - 2440587.5) * 86400000 AS INTEGER),
       COALESCE(health_at, 0)
FROM machines
WHERE update_status IS NOT NULL AND json_valid(update_status) AND julianday(json_extract(update_status, '$.at')) IS NOT NULL;
