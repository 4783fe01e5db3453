-- Access-control policies, every version kept. The newest row is in force;
-- an empty text means no policy (every machine reaches every machine).
-- Setting one also logs a network-map change ("policy:VERSION" in
-- netmap_log.machine_id) so that hubs and replicas apply it in order.
CREATE TABLE policies (
    version     BIGINT PRIMARY KEY,
    body        TEXT NOT NULL,
    author      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    map_version BIGINT NOT NULL
);
