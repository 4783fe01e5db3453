CREATE TABLE admins (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at    BIGINT NOT NULL
, sso_subject TEXT, role TEXT NOT NULL DEFAULT 'admin');
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
, machine_expiry_s BIGINT);
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
, health TEXT, health_at BIGINT, update_status TEXT, pinned_version TEXT NOT NULL DEFAULT '', key_created_at BIGINT, rotate_key_before BIGINT, next_credential_hash TEXT, credential_created_at BIGINT, expires_at BIGINT, expiry_disabled INTEGER NOT NULL DEFAULT 0, owner TEXT);
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
CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL);
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
CREATE INDEX health_reports_machine ON health_reports(machine_id, id);
CREATE INDEX machines_expires_at ON machines(expires_at);
CREATE UNIQUE INDEX machines_next_credential ON machines(next_credential_hash);
CREATE INDEX machines_state ON machines(state);
CREATE INDEX sessions_admin ON sessions(admin_id);
CREATE INDEX update_history_at ON update_history(at);
CREATE UNIQUE INDEX update_history_attempt ON update_history(machine_id, to_version, state, at);
INSERT INTO "admins" VALUES('adm_p44wdblisho5wjer','alice','$2a$04$notarealhash',1795521910310,NULL,'admin');
INSERT INTO "admins" VALUES('adm_2qcy3rb6su4nmtn2','carol@example.com','!sso',1795521910311,'sub-1','admin');
INSERT INTO "api_keys" VALUES('key_73ljgzveppypg6d7','adm_p44wdblisho5wjer','wfa_abc','keyhash',1795521910310,NULL,NULL,NULL);
INSERT INTO "audit" VALUES(1,1795521910306,'admin:test','token.create','tok_qwqalzlslkpexj6d','127.0.0.1','{"ephemeral":false,"max_uses":0,"prefix":"wfe_000022","reusable":true,"tags":["env:prod"]}');
INSERT INTO "audit" VALUES(2,1795521910307,'token:wfe_000022','machine.enroll','m_5spsox72munkafie','127.0.0.1','{"arch":"amd64","hostname":"web-1","ipv4":"100.64.0.1","name":"web-1","os":"linux","token":"tok_qwqalzlslkpexj6d"}');
INSERT INTO "audit" VALUES(3,1795521910308,'token:wfe_000022','machine.enroll','m_4p2mtxhjca2n3jby','127.0.0.1','{"arch":"amd64","hostname":"laptop","ipv4":"100.64.0.2","name":"laptop","os":"linux","token":"tok_qwqalzlslkpexj6d"}');
INSERT INTO "audit" VALUES(4,1795521910308,'admin:test','machine.revoke','m_4p2mtxhjca2n3jby','127.0.0.1','{"name":"laptop"}');
INSERT INTO "audit" VALUES(5,1795521910309,'admin:test','machine.pin_version','m_5spsox72munkafie','127.0.0.1','{"name":"web-1","previous":"","version":"1.5.0"}');
INSERT INTO "audit" VALUES(6,1795521910310,'admin:test','flag.set','new-ui','127.0.0.1','{"default":false,"enabled":true,"rules":0,"type":"boolean","version":2}');
INSERT INTO "audit" VALUES(7,1795521910311,'admin:test','admin.create','adm_p44wdblisho5wjer','127.0.0.1','{"name":"alice"}');
INSERT INTO "audit" VALUES(8,1795521910311,'admin:test','admin.create','adm_2qcy3rb6su4nmtn2','127.0.0.1','{"name":"carol@example.com","role":"admin","sso":true}');
INSERT INTO "audit" VALUES(9,1795521910312,'admin:test','machine.rotate_key','m_5spsox72munkafie','127.0.0.1','{"name":"web-1"}');
INSERT INTO "audit" VALUES(10,1795521910313,'admin:test','policy.set','policy','127.0.0.1','{"diff":"","version":1}');
INSERT INTO "enroll_tokens" VALUES('tok_qwqalzlslkpexj6d','wfe_000022','tokenhash-22-1795521910306007969',1,0,0,2,'["env:prod"]',NULL,'admin:test',1795521910306,NULL,2592000);
INSERT INTO "flags" VALUES('new-ui','boolean',1,'false','[]','',2,1795521910310,'admin:test');
INSERT INTO "health_reports" VALUES(1,'m_5spsox72munkafie',1795521910309,'{"at":"2026-11-24T12:05:10.309942064Z","agent_version":"1.0.0","os":"linux","uptime_sec":0,"cpu_percent":12,"mem_total":0,"mem_used":0,"disk_total":0,"disk_used":0,"tunnel":{"up":false,"peer_count":0,"connected":0,"peers":null},"update":{"from":"0.9.0","to":"1.0.0","state":"ok","at":"2026-11-24T12:05:10.309942114Z"}}');
INSERT INTO "machines" VALUES('m_5spsox72munkafie','web-1','web-1','linux','','amd64','1.0.0','jIZGCzCvwmWYAnNyc8IP1H1gZBNMUk0Bm/nhXXUoG7E=',1,'100.64.0.1','fd76:9f41:970e::1','["env:prod"]','[]',0,'cred-23-1795521910306908619','tok_qwqalzlslkpexj6d','active',1795521910307,1795521910309,NULL,6,'{"at":"2026-11-24T12:05:10.309942064Z","agent_version":"1.0.0","os":"linux","uptime_sec":0,"cpu_percent":12,"mem_total":0,"mem_used":0,"disk_total":0,"disk_used":0,"tunnel":{"up":false,"peer_count":0,"connected":0,"peers":null},"update":{"from":"0.9.0","to":"1.0.0","state":"ok","at":"2026-11-24T12:05:10.309942114Z"}}',1795521910309,'{"from":"0.9.0","to":"1.0.0","state":"ok","at":"2026-11-24T12:05:10.309942114Z"}','1.5.0',1795521910307,1795521910312,'next-credential-hash',NULL,1798113910307,0,NULL);
INSERT INTO "machines" VALUES('m_4p2mtxhjca2n3jby','laptop','laptop','linux','','amd64','1.0.0','oMOxGlM0QlMkYqRpIEWHtu+KIuhscbaobaniT+jSrE8=',2,'100.64.0.2','fd76:9f41:970e::2','["env:prod"]','[]',0,'cred-24-1795521910307929138','tok_qwqalzlslkpexj6d','revoked',1795521910308,1795521910308,1795521910308,4,NULL,NULL,NULL,'',1795521910308,NULL,NULL,NULL,1798113910308,0,NULL);
INSERT INTO "meta" VALUES('netmap_version','7');
INSERT INTO "meta" VALUES('next_ip_index','3');
INSERT INTO "meta" VALUES('flags_version','2');
INSERT INTO "meta" VALUES('ula_prefix','fd76:9f41:970e::/48');
INSERT INTO "netmap_log" VALUES(2,'m_5spsox72munkafie');
INSERT INTO "netmap_log" VALUES(3,'m_4p2mtxhjca2n3jby');
INSERT INTO "netmap_log" VALUES(4,'m_4p2mtxhjca2n3jby');
INSERT INTO "netmap_log" VALUES(5,'m_5spsox72munkafie');
INSERT INTO "netmap_log" VALUES(6,'m_5spsox72munkafie');
INSERT INTO "netmap_log" VALUES(7,'policy:1');
INSERT INTO "pending_enrollments" VALUES('ABCD-EFGH','pending-secret-hash','{"token":"","public_key":"cbPcgTO/i8ZB8dFIBHohfUjAkiKOhpczN9ev0tON1D0=","hostname":"waiting","os":"linux","arch":"amd64","agent_version":""}','192.0.2.1',1795521910311,1795525510311,'pending',NULL,NULL,NULL);
INSERT INTO "policies" VALUES(1,'{"tags": ["tag:env:prod"], "rules": [{"src": ["tag:env:prod"], "dst": ["*"]}]}','admin:test',1795521910313,7);
INSERT INTO "schema_migrations" VALUES(1,1795521910295);
INSERT INTO "schema_migrations" VALUES(2,1795521910296);
INSERT INTO "schema_migrations" VALUES(3,1795521910296);
INSERT INTO "schema_migrations" VALUES(4,1795521910297);
INSERT INTO "schema_migrations" VALUES(5,1795521910297);
INSERT INTO "schema_migrations" VALUES(6,1795521910298);
INSERT INTO "schema_migrations" VALUES(7,1795521910299);
INSERT INTO "schema_migrations" VALUES(8,1795521910299);
INSERT INTO "schema_migrations" VALUES(9,1795521910300);
INSERT INTO "schema_migrations" VALUES(10,1795521910301);
INSERT INTO "schema_migrations" VALUES(11,1795521910301);
INSERT INTO "schema_migrations" VALUES(12,1795521910302);
INSERT INTO "schema_migrations" VALUES(13,1795521910304);
INSERT INTO "schema_migrations" VALUES(14,1795521910304);
INSERT INTO "schema_migrations" VALUES(15,1795521910305);
INSERT INTO "update_history" VALUES(1,'m_5spsox72munkafie','0.9.0','1.0.0','ok','',1795521910309,1795521910309);
