-- Flow logs: what agents report of the connections their packet filter
-- saw, one row per flow (or refused attempt) per interval, from the
-- reporting machine (one of its ends). Not audit events: their own table,
-- pruned by age and by count.
CREATE TABLE flow_records (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    reporter    TEXT NOT NULL,
    start_at    BIGINT NOT NULL,
    end_at      BIGINT NOT NULL,
    proto       TEXT NOT NULL,
    src         TEXT NOT NULL,
    dst         TEXT NOT NULL,
    src_port    INTEGER NOT NULL,
    dst_port    INTEGER NOT NULL,
    src_machine TEXT NOT NULL,
    dst_machine TEXT NOT NULL,
    tx_packets  BIGINT NOT NULL,
    tx_bytes    BIGINT NOT NULL,
    rx_packets  BIGINT NOT NULL,
    rx_bytes    BIGINT NOT NULL,
    path        TEXT NOT NULL,
    verdict     TEXT NOT NULL,
    rule        TEXT NOT NULL
);
CREATE INDEX flow_records_src_machine ON flow_records (src_machine, id);
CREATE INDEX flow_records_dst_machine ON flow_records (dst_machine, id);
CREATE INDEX flow_records_end ON flow_records (end_at);
