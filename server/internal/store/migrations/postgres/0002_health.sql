-- Health reports: the latest per machine (on machines, for listing) and a
-- bounded history (trimmed on write).
ALTER TABLE machines ADD COLUMN health TEXT;
ALTER TABLE machines ADD COLUMN health_at BIGINT;

CREATE TABLE health_reports (
    id          BIGSERIAL PRIMARY KEY,
    machine_id  TEXT NOT NULL REFERENCES machines(id) ON DELETE CASCADE,
    received_at BIGINT NOT NULL,
    report      TEXT NOT NULL
);
CREATE INDEX health_reports_machine ON health_reports(machine_id, id);
