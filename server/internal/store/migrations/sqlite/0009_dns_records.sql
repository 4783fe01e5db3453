-- Admin-defined DNS records of the fleet's domain (A, AAAA, CNAME), served
-- by every agent's resolver next to the machines' names. A change logs a
-- network-map change ("dns:" in netmap_log.machine_id) that sends every
-- agent the whole set again.
CREATE TABLE dns_records (
    name       TEXT NOT NULL,
    type       TEXT NOT NULL,
    value      TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (name, type, value)
);
