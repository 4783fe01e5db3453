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
);
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
CREATE INDEX update_history_at ON update_history(at);
CREATE UNIQUE INDEX update_history_attempt ON update_history(machine_id, to_version, state, at);
INSERT INTO "admins" VALUES('adm_kosr3nh5h37ulcmx','alice','$2a$04$notarealhash',1796600304794,NULL,'admin',1,NULL,NULL,NULL);
INSERT INTO "admins" VALUES('adm_yefesfz34cuaa5r6','carol@example.com','!sso',1796600304794,'sub-1','admin',1,NULL,NULL,NULL);
INSERT INTO "api_keys" VALUES('key_6ftw4r7oxbmzr2u4','adm_kosr3nh5h37ulcmx','wfa_abc','keyhash',1796600304794,NULL,NULL,NULL);
INSERT INTO "audit" VALUES(1,1796600304787,'admin:test','token.create','tok_xtwqdjg2elzoooph','127.0.0.1','{"ephemeral":false,"max_uses":0,"prefix":"wfe_000038","reusable":true,"tags":["env:prod"]}');
INSERT INTO "audit" VALUES(2,1796600304789,'token:wfe_000038','machine.enroll','m_juzu7o2pg4gjyqjf','127.0.0.1','{"arch":"amd64","hostname":"web-1","ipv4":"100.64.0.1","name":"web-1","os":"linux","token":"tok_xtwqdjg2elzoooph"}');
INSERT INTO "audit" VALUES(3,1796600304790,'token:wfe_000038','machine.enroll','m_272tsas3yweph7er','127.0.0.1','{"arch":"amd64","hostname":"laptop","ipv4":"100.64.0.2","name":"laptop","os":"linux","token":"tok_xtwqdjg2elzoooph"}');
INSERT INTO "audit" VALUES(4,1796600304791,'admin:test','machine.revoke','m_272tsas3yweph7er','127.0.0.1','{"name":"laptop"}');
INSERT INTO "audit" VALUES(5,1796600304792,'admin:test','machine.pin_version','m_juzu7o2pg4gjyqjf','127.0.0.1','{"name":"web-1","previous":"","version":"1.5.0"}');
INSERT INTO "audit" VALUES(6,1796600304793,'admin:test','flag.set','new-ui','127.0.0.1','{"default":false,"enabled":true,"rules":0,"type":"boolean","version":2}');
INSERT INTO "audit" VALUES(7,1796600304794,'admin:test','admin.create','adm_kosr3nh5h37ulcmx','127.0.0.1','{"name":"alice"}');
INSERT INTO "audit" VALUES(8,1796600304794,'admin:test','admin.create','adm_yefesfz34cuaa5r6','127.0.0.1','{"name":"carol@example.com","role":"admin","sso":true}');
INSERT INTO "audit" VALUES(9,1796600304795,'admin:test','machine.rotate_key','m_juzu7o2pg4gjyqjf','127.0.0.1','{"name":"web-1"}');
INSERT INTO "audit" VALUES(10,1796600304796,'admin:test','policy.set','policy','127.0.0.1','{"diff":"","version":1}');
INSERT INTO "enroll_tokens" VALUES('tok_xtwqdjg2elzoooph','wfe_000038','tokenhash-38-1796600304787556766',1,0,0,2,'["env:prod"]',NULL,'admin:test',1796600304787,NULL,2592000,NULL);
INSERT INTO "flags" VALUES('new-ui','boolean',1,'false','[]','',2,1796600304793,'admin:test');
INSERT INTO "health_reports" VALUES(1,'m_juzu7o2pg4gjyqjf',1796600304792,'{"at":"2026-12-06T23:38:24.792861011Z","agent_version":"1.0.0","os":"linux","uptime_sec":0,"cpu_percent":12,"mem_total":0,"mem_used":0,"disk_total":0,"disk_used":0,"tunnel":{"up":false,"peer_count":0,"connected":0,"peers":null},"update":{"from":"0.9.0","to":"1.0.0","state":"ok","at":"2026-12-06T23:38:24.792861067Z"}}');
INSERT INTO "machines" VALUES('m_juzu7o2pg4gjyqjf','web-1','web-1','linux','','amd64','1.0.0','ubLbcjQ6WeNMhe+hv2xBbiCl9zdK/OsQEfVj8NzaSLU=',1,'100.64.0.1','fdf2:6ef5:e9b5::1','["env:prod"]','[]',0,'cred-39-1796600304788817803','tok_xtwqdjg2elzoooph','active',1796600304789,1796600304792,NULL,6,'{"at":"2026-12-06T23:38:24.792861011Z","agent_version":"1.0.0","os":"linux","uptime_sec":0,"cpu_percent":12,"mem_total":0,"mem_used":0,"disk_total":0,"disk_used":0,"tunnel":{"up":false,"peer_count":0,"connected":0,"peers":null},"update":{"from":"0.9.0","to":"1.0.0","state":"ok","at":"2026-12-06T23:38:24.792861067Z"}}',1796600304792,'{"from":"0.9.0","to":"1.0.0","state":"ok","at":"2026-12-06T23:38:24.792861067Z"}','1.5.0',1796600304789,1796600304795,'next-credential-hash',NULL,1799192304789,0,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL);
INSERT INTO "machines" VALUES('m_272tsas3yweph7er','laptop','laptop','linux','','amd64','1.0.0','5qIlHNyNfqhYs+jjLFNE2gYGkSeiKIAeXcmaviaNz0c=',2,'100.64.0.2','fdf2:6ef5:e9b5::2','["env:prod"]','[]',0,'cred-40-1796600304790111986','tok_xtwqdjg2elzoooph','revoked',1796600304790,1796600304790,1796600304791,4,NULL,NULL,NULL,'',1796600304790,NULL,NULL,NULL,1799192304790,0,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL);
INSERT INTO "meta" VALUES('netmap_version','7');
INSERT INTO "meta" VALUES('next_ip_index','3');
INSERT INTO "meta" VALUES('flags_version','2');
INSERT INTO "meta" VALUES('ula_prefix','fdf2:6ef5:e9b5::/48');
INSERT INTO "netmap_log" VALUES(2,'m_juzu7o2pg4gjyqjf');
INSERT INTO "netmap_log" VALUES(3,'m_272tsas3yweph7er');
INSERT INTO "netmap_log" VALUES(4,'m_272tsas3yweph7er');
INSERT INTO "netmap_log" VALUES(5,'m_juzu7o2pg4gjyqjf');
INSERT INTO "netmap_log" VALUES(6,'m_juzu7o2pg4gjyqjf');
INSERT INTO "netmap_log" VALUES(7,'policy:1');
INSERT INTO "pending_enrollments" VALUES('ABCD-EFGH','pending-secret-hash','{"token":"","public_key":"fbZdJsNeAjzaneWxCKsTtYpL8kWM4P5w0qoYbN6K3oE=","hostname":"waiting","os":"linux","arch":"amd64","agent_version":""}','192.0.2.1',1796600304794,1796603904794,'pending',NULL,NULL,NULL);
INSERT INTO "policies" VALUES(1,'{"tags": ["tag:env:prod"], "rules": [{"src": ["tag:env:prod"], "dst": ["*"]}]}','admin:test',1796600304796,7);
INSERT INTO "schema_migrations" VALUES(1,1796600304766);
INSERT INTO "schema_migrations" VALUES(2,1796600304767);
INSERT INTO "schema_migrations" VALUES(3,1796600304768);
INSERT INTO "schema_migrations" VALUES(4,1796600304768);
INSERT INTO "schema_migrations" VALUES(5,1796600304769);
INSERT INTO "schema_migrations" VALUES(6,1796600304770);
INSERT INTO "schema_migrations" VALUES(7,1796600304771);
INSERT INTO "schema_migrations" VALUES(8,1796600304771);
INSERT INTO "schema_migrations" VALUES(9,1796600304772);
INSERT INTO "schema_migrations" VALUES(10,1796600304773);
INSERT INTO "schema_migrations" VALUES(11,1796600304774);
INSERT INTO "schema_migrations" VALUES(12,1796600304775);
INSERT INTO "schema_migrations" VALUES(13,1796600304776);
INSERT INTO "schema_migrations" VALUES(14,1796600304777);
INSERT INTO "schema_migrations" VALUES(15,1796600304778);
INSERT INTO "schema_migrations" VALUES(16,1796600304779);
INSERT INTO "schema_migrations" VALUES(17,1796600304779);
INSERT INTO "schema_migrations" VALUES(18,1796600304780);
INSERT INTO "schema_migrations" VALUES(19,1796600304782);
INSERT INTO "schema_migrations" VALUES(20,1796600304783);
INSERT INTO "schema_migrations" VALUES(21,1796600304786);
INSERT INTO "update_history" VALUES(1,'m_juzu7o2pg4gjyqjf','0.9.0','1.0.0','ok','',1796600304792,1796600304792);
