CREATE TABLE admins (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at    BIGINT NOT NULL
, sso_subject TEXT, role TEXT NOT NULL DEFAULT 'admin', active INTEGER NOT NULL DEFAULT 1, external_id TEXT, display_name TEXT, updated_at BIGINT);
CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    admin_id     TEXT NOT NULL REFERENCES admins(id) ON DELETE CASCADE,
    prefix       TEXT NOT NULL,
    hash         TEXT NOT NULL UNIQUE,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT,
    last_used_at BIGINT,
    revoked_at   BIGINT
);
CREATE TABLE audit (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    at        BIGINT NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    target    TEXT NOT NULL,
    source_ip TEXT NOT NULL,
    details   TEXT NOT NULL
);
CREATE TABLE dir_groups (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    external_id TEXT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE TABLE dir_members (
    group_id TEXT NOT NULL REFERENCES dir_groups(id) ON DELETE CASCADE,
    admin_id TEXT NOT NULL REFERENCES admins(id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, admin_id)
);
CREATE TABLE dns_records (
    name       TEXT NOT NULL,
    type       TEXT NOT NULL,
    value      TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (name, type, value)
);
CREATE TABLE enroll_tokens (
    id         TEXT PRIMARY KEY,
    prefix     TEXT NOT NULL,
    hash       TEXT NOT NULL UNIQUE,
    reusable   INTEGER NOT NULL,
    ephemeral  INTEGER NOT NULL,
    max_uses   INTEGER NOT NULL,
    uses       INTEGER NOT NULL DEFAULT 0,
    tags       TEXT NOT NULL,
    expires_at BIGINT,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
, machine_expiry_s BIGINT, owner TEXT);
CREATE TABLE flag_client_keys (
    id         TEXT PRIMARY KEY,
    client_id  TEXT NOT NULL REFERENCES flag_clients(id) ON DELETE CASCADE,
    prefix     TEXT NOT NULL,
    hash       TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
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
CREATE TABLE flag_usage (
    flag    TEXT NOT NULL,
    subject TEXT NOT NULL,
    hour    BIGINT NOT NULL,
    count   BIGINT NOT NULL,
    last_at BIGINT NOT NULL,
    PRIMARY KEY (flag, subject, hour)
);
CREATE TABLE flags (
    key           TEXT PRIMARY KEY,
    type          TEXT NOT NULL,
    enabled       INTEGER NOT NULL,
    default_value TEXT NOT NULL,
    rules         TEXT NOT NULL,
    description   TEXT NOT NULL,
    version       BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    updated_by    TEXT NOT NULL
, team TEXT NOT NULL DEFAULT '');
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
CREATE TABLE health_reports (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    machine_id  TEXT NOT NULL REFERENCES machines(id) ON DELETE CASCADE,
    received_at BIGINT NOT NULL,
    report      TEXT NOT NULL
);
CREATE TABLE machines (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL UNIQUE,
    hostname        TEXT NOT NULL,
    os              TEXT NOT NULL,
    os_version      TEXT NOT NULL,
    arch            TEXT NOT NULL,
    agent_version   TEXT NOT NULL,
    public_key      TEXT NOT NULL UNIQUE,
    ip_index        BIGINT NOT NULL UNIQUE,
    ipv4            TEXT NOT NULL UNIQUE,
    ipv6            TEXT NOT NULL UNIQUE,
    tags            TEXT NOT NULL,
    endpoints       TEXT NOT NULL,
    ephemeral       INTEGER NOT NULL,
    credential_hash TEXT NOT NULL UNIQUE,
    token_id        TEXT,
    state           TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    last_seen       BIGINT,
    revoked_at      BIGINT,
    version         BIGINT NOT NULL
, health TEXT, health_at BIGINT, update_status TEXT, pinned_version TEXT NOT NULL DEFAULT '', key_created_at BIGINT, rotate_key_before BIGINT, next_credential_hash TEXT, credential_created_at BIGINT, expires_at BIGINT, expiry_disabled INTEGER NOT NULL DEFAULT 0, owner TEXT, routes TEXT, facts TEXT, facts_at BIGINT, hw_serial TEXT, hw_uuid TEXT, seen_within TEXT, owner_groups TEXT);
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE netmap_log (
    version    BIGINT PRIMARY KEY,
    machine_id TEXT NOT NULL
);
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
CREATE TABLE policies (
    version     BIGINT PRIMARY KEY,
    body        TEXT NOT NULL,
    author      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    map_version BIGINT NOT NULL
);
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
CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL);
CREATE TABLE scim_tokens (
    id           TEXT PRIMARY KEY,
    prefix       TEXT NOT NULL,
    hash         TEXT NOT NULL UNIQUE,
    created_by   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT
);
CREATE TABLE sessions (
    hash       TEXT PRIMARY KEY,
    admin_id   TEXT NOT NULL REFERENCES admins(id) ON DELETE CASCADE,
    csrf       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    source_ip  TEXT NOT NULL
);
CREATE TABLE sso_logins (
    state_hash TEXT PRIMARY KEY,
    nonce      TEXT NOT NULL,
    verifier   TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE team_roles (
    team_id TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    kind    TEXT NOT NULL,
    subject TEXT NOT NULL,
    role    TEXT NOT NULL,
    PRIMARY KEY (team_id, kind, subject)
);
CREATE TABLE team_tags (
    team_id TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    tag     TEXT NOT NULL,
    PRIMARY KEY (team_id, tag)
);
CREATE TABLE teams (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);
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
CREATE INDEX audit_action ON audit(action);
CREATE INDEX audit_target ON audit(target);
CREATE INDEX dir_members_admin ON dir_members (admin_id);
CREATE INDEX flag_client_keys_client ON flag_client_keys (client_id);
CREATE INDEX flag_usage_hour ON flag_usage (hour);
CREATE INDEX flow_records_dst_machine ON flow_records (dst_machine, id);
CREATE INDEX flow_records_end ON flow_records (end_at);
CREATE INDEX flow_records_src_machine ON flow_records (src_machine, id);
CREATE INDEX health_reports_machine ON health_reports(machine_id, id);
CREATE INDEX machines_expires_at ON machines(expires_at);
CREATE INDEX machines_hw_serial ON machines (hw_serial);
CREATE INDEX machines_hw_uuid ON machines (hw_uuid);
CREATE UNIQUE INDEX machines_next_credential ON machines(next_credential_hash);
CREATE INDEX machines_owner ON machines (owner);
CREATE INDEX machines_state ON machines(state);
CREATE INDEX relay_sessions_replica ON relay_sessions (replica);
CREATE INDEX sessions_admin ON sessions(admin_id);
CREATE INDEX team_roles_subject ON team_roles (kind, subject);
CREATE INDEX team_tags_tag ON team_tags (tag);
CREATE INDEX update_history_at ON update_history(at);
CREATE UNIQUE INDEX update_history_attempt ON update_history(machine_id, to_version, state, at);
INSERT INTO "admins" VALUES('adm_6ilf3gm7i7sqycdy','alice','$2a$04$notarealhash',1796603124490,NULL,'admin',1,NULL,NULL,NULL);
INSERT INTO "admins" VALUES('adm_eclkq4csimizw33d','carol@example.com','!sso',1796603124491,'sub-1','admin',1,NULL,NULL,NULL);
INSERT INTO "api_keys" VALUES('key_iyfc2agz3wbfvl75','adm_6ilf3gm7i7sqycdy','wfa_abc','keyhash',1796603124490,NULL,NULL,NULL);
INSERT INTO "audit" VALUES(1,1796603124484,'admin:test','token.create','tok_qfxrk4sw4uvedcxt','127.0.0.1','{"ephemeral":false,"max_uses":0,"prefix":"wfe_000038","reusable":true,"tags":["env:prod"]}');
INSERT INTO "audit" VALUES(2,1796603124486,'token:wfe_000038','machine.enroll','m_xjnbabhkvyd2zne5','127.0.0.1','{"arch":"amd64","hostname":"web-1","ipv4":"100.64.0.1","name":"web-1","os":"linux","token":"tok_qfxrk4sw4uvedcxt"}');
INSERT INTO "audit" VALUES(3,1796603124487,'token:wfe_000038','machine.enroll','m_rqulw6eeepylpb7h','127.0.0.1','{"arch":"amd64","hostname":"laptop","ipv4":"100.64.0.2","name":"laptop","os":"linux","token":"tok_qfxrk4sw4uvedcxt"}');
INSERT INTO "audit" VALUES(4,1796603124487,'admin:test','machine.revoke','m_rqulw6eeepylpb7h','127.0.0.1','{"name":"laptop"}');
INSERT INTO "audit" VALUES(5,1796603124488,'admin:test','machine.pin_version','m_xjnbabhkvyd2zne5','127.0.0.1','{"name":"web-1","previous":"","version":"1.5.0"}');
INSERT INTO "audit" VALUES(6,1796603124490,'admin:test','flag.set','new-ui','127.0.0.1','{"default":false,"enabled":true,"rules":0,"team":"","type":"boolean","version":2}');
INSERT INTO "audit" VALUES(7,1796603124490,'admin:test','admin.create','adm_6ilf3gm7i7sqycdy','127.0.0.1','{"name":"alice"}');
INSERT INTO "audit" VALUES(8,1796603124491,'admin:test','admin.create','adm_eclkq4csimizw33d','127.0.0.1','{"name":"carol@example.com","role":"admin","sso":true}');
INSERT INTO "audit" VALUES(9,1796603124492,'admin:test','machine.rotate_key','m_xjnbabhkvyd2zne5','127.0.0.1','{"name":"web-1"}');
INSERT INTO "audit" VALUES(10,1796603124493,'admin:test','policy.set','policy','127.0.0.1','{"diff":"","version":1}');
INSERT INTO "enroll_tokens" VALUES('tok_qfxrk4sw4uvedcxt','wfe_000038','tokenhash-38-1796603124484353390',1,0,0,2,'["env:prod"]',NULL,'admin:test',1796603124484,NULL,2592000,NULL);
INSERT INTO "flags" VALUES('new-ui','boolean',1,'false','[]','',2,1796603124490,'admin:test','');
INSERT INTO "health_reports" VALUES(1,'m_xjnbabhkvyd2zne5',1796603124489,'{"at":"2026-12-07T00:25:24.489123114Z","agent_version":"1.0.0","os":"linux","uptime_sec":0,"cpu_percent":12,"mem_total":0,"mem_used":0,"disk_total":0,"disk_used":0,"tunnel":{"up":false,"peer_count":0,"connected":0,"peers":null},"update":{"from":"0.9.0","to":"1.0.0","state":"ok","at":"2026-12-07T00:25:24.48912317Z"}}');
INSERT INTO "machines" VALUES('m_xjnbabhkvyd2zne5','web-1','web-1','linux','','amd64','1.0.0','4f6ijsT3VCjLeYaUfQa8RUhN2dvLyz+ynTaL+UD/rFw=',1,'100.64.0.1','fd9c:90df:4758::1','["env:prod"]','[]',0,'cred-39-1796603124485488169','tok_qfxrk4sw4uvedcxt','active',1796603124485,1796603124489,NULL,6,'{"at":"2026-12-07T00:25:24.489123114Z","agent_version":"1.0.0","os":"linux","uptime_sec":0,"cpu_percent":12,"mem_total":0,"mem_used":0,"disk_total":0,"disk_used":0,"tunnel":{"up":false,"peer_count":0,"connected":0,"peers":null},"update":{"from":"0.9.0","to":"1.0.0","state":"ok","at":"2026-12-07T00:25:24.48912317Z"}}',1796603124489,'{"from":"0.9.0","to":"1.0.0","state":"ok","at":"2026-12-07T00:25:24.48912317Z"}','1.5.0',1796603124485,1796603124492,'next-credential-hash',NULL,1799195124485,0,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL);
INSERT INTO "machines" VALUES('m_rqulw6eeepylpb7h','laptop','laptop','linux','','amd64','1.0.0','ThBoF09MI1zG+S8+QmI0h/kAA0sk6efLnl2wUV+UwGI=',2,'100.64.0.2','fd9c:90df:4758::2','["env:prod"]','[]',0,'cred-40-1796603124486649163','tok_qfxrk4sw4uvedcxt','revoked',1796603124486,1796603124486,1796603124487,4,NULL,NULL,NULL,'',1796603124486,NULL,NULL,NULL,1799195124486,0,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL);
INSERT INTO "meta" VALUES('netmap_version','7');
INSERT INTO "meta" VALUES('next_ip_index','3');
INSERT INTO "meta" VALUES('flags_version','2');
INSERT INTO "meta" VALUES('ula_prefix','fd9c:90df:4758::/48');
INSERT INTO "netmap_log" VALUES(2,'m_xjnbabhkvyd2zne5');
INSERT INTO "netmap_log" VALUES(3,'m_rqulw6eeepylpb7h');
INSERT INTO "netmap_log" VALUES(4,'m_rqulw6eeepylpb7h');
INSERT INTO "netmap_log" VALUES(5,'m_xjnbabhkvyd2zne5');
INSERT INTO "netmap_log" VALUES(6,'m_xjnbabhkvyd2zne5');
INSERT INTO "netmap_log" VALUES(7,'policy:1');
INSERT INTO "pending_enrollments" VALUES('ABCD-EFGH','pending-secret-hash','{"token":"","public_key":"QfbBJ9Hj4Woxzic+3FGyv1IFtHSEDrZPasULKCqpDps=","hostname":"waiting","os":"linux","arch":"amd64","agent_version":""}','192.0.2.1',1796603124491,1796606724491,'pending',NULL,NULL,NULL);
INSERT INTO "policies" VALUES(1,'{"tags": ["tag:env:prod"], "rules": [{"src": ["tag:env:prod"], "dst": ["*"]}]}','admin:test',1796603124493,7);
INSERT INTO "schema_migrations" VALUES(1,1796603124463);
INSERT INTO "schema_migrations" VALUES(2,1796603124466);
INSERT INTO "schema_migrations" VALUES(3,1796603124466);
INSERT INTO "schema_migrations" VALUES(4,1796603124467);
INSERT INTO "schema_migrations" VALUES(5,1796603124467);
INSERT INTO "schema_migrations" VALUES(6,1796603124468);
INSERT INTO "schema_migrations" VALUES(7,1796603124468);
INSERT INTO "schema_migrations" VALUES(8,1796603124469);
INSERT INTO "schema_migrations" VALUES(9,1796603124470);
INSERT INTO "schema_migrations" VALUES(10,1796603124470);
INSERT INTO "schema_migrations" VALUES(11,1796603124471);
INSERT INTO "schema_migrations" VALUES(12,1796603124472);
INSERT INTO "schema_migrations" VALUES(13,1796603124473);
INSERT INTO "schema_migrations" VALUES(14,1796603124474);
INSERT INTO "schema_migrations" VALUES(15,1796603124475);
INSERT INTO "schema_migrations" VALUES(16,1796603124475);
INSERT INTO "schema_migrations" VALUES(17,1796603124476);
INSERT INTO "schema_migrations" VALUES(18,1796603124477);
INSERT INTO "schema_migrations" VALUES(19,1796603124478);
INSERT INTO "schema_migrations" VALUES(20,1796603124479);
INSERT INTO "schema_migrations" VALUES(21,1796603124481);
INSERT INTO "schema_migrations" VALUES(22,1796603124482);
INSERT INTO "schema_migrations" VALUES(23,1796603124483);
INSERT INTO "update_history" VALUES(1,'m_xjnbabhkvyd2zne5','0.9.0','1.0.0','ok','',1796603124489,1796603124489);
