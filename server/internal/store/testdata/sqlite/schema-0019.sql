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
, health TEXT, health_at BIGINT, update_status TEXT, pinned_version TEXT NOT NULL DEFAULT '', key_created_at BIGINT, rotate_key_before BIGINT, next_credential_hash TEXT, credential_created_at BIGINT, expires_at BIGINT, expiry_disabled INTEGER NOT NULL DEFAULT 0, owner TEXT, routes TEXT, facts TEXT, facts_at BIGINT, hw_serial TEXT, hw_uuid TEXT, seen_within TEXT);
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
CREATE INDEX machines_hw_serial ON machines (hw_serial);
CREATE INDEX machines_hw_uuid ON machines (hw_uuid);
CREATE UNIQUE INDEX machines_next_credential ON machines(next_credential_hash);
CREATE INDEX machines_state ON machines(state);
CREATE INDEX relay_sessions_replica ON relay_sessions (replica);
CREATE INDEX sessions_admin ON sessions(admin_id);
CREATE INDEX update_history_at ON update_history(at);
CREATE UNIQUE INDEX update_history_attempt ON update_history(machine_id, to_version, state, at);
INSERT INTO "admins" VALUES('adm_tfamxayvwpfu4juv','alice','$2a$04$notarealhash',1796591790034,NULL,'admin');
INSERT INTO "admins" VALUES('adm_um4xwh2xy2wnemkn','carol@example.com','!sso',1796591790035,'sub-1','admin');
INSERT INTO "api_keys" VALUES('key_rlxefuzqhhnpo6rb','adm_tfamxayvwpfu4juv','wfa_abc','keyhash',1796591790034,NULL,NULL,NULL);
INSERT INTO "audit" VALUES(1,1796591790027,'admin:test','token.create','tok_ccneavkwydembtcl','127.0.0.1','{"ephemeral":false,"max_uses":0,"prefix":"wfe_000030","reusable":true,"tags":["env:prod"]}');
INSERT INTO "audit" VALUES(2,1796591790029,'token:wfe_000030','machine.enroll','m_sopkwyxvu7bef3kr','127.0.0.1','{"arch":"amd64","hostname":"web-1","ipv4":"100.64.0.1","name":"web-1","os":"linux","token":"tok_ccneavkwydembtcl"}');
INSERT INTO "audit" VALUES(3,1796591790030,'token:wfe_000030','machine.enroll','m_ccwzkshxfsoagdkx','127.0.0.1','{"arch":"amd64","hostname":"laptop","ipv4":"100.64.0.2","name":"laptop","os":"linux","token":"tok_ccneavkwydembtcl"}');
INSERT INTO "audit" VALUES(4,1796591790031,'admin:test','machine.revoke','m_ccwzkshxfsoagdkx','127.0.0.1','{"name":"laptop"}');
INSERT INTO "audit" VALUES(5,1796591790032,'admin:test','machine.pin_version','m_sopkwyxvu7bef3kr','127.0.0.1','{"name":"web-1","previous":"","version":"1.5.0"}');
INSERT INTO "audit" VALUES(6,1796591790034,'admin:test','flag.set','new-ui','127.0.0.1','{"default":false,"enabled":true,"rules":0,"type":"boolean","version":2}');
INSERT INTO "audit" VALUES(7,1796591790035,'admin:test','admin.create','adm_tfamxayvwpfu4juv','127.0.0.1','{"name":"alice"}');
INSERT INTO "audit" VALUES(8,1796591790035,'admin:test','admin.create','adm_um4xwh2xy2wnemkn','127.0.0.1','{"name":"carol@example.com","role":"admin","sso":true}');
INSERT INTO "audit" VALUES(9,1796591790036,'admin:test','machine.rotate_key','m_sopkwyxvu7bef3kr','127.0.0.1','{"name":"web-1"}');
INSERT INTO "audit" VALUES(10,1796591790038,'admin:test','policy.set','policy','127.0.0.1','{"diff":"","version":1}');
INSERT INTO "enroll_tokens" VALUES('tok_ccneavkwydembtcl','wfe_000030','tokenhash-30-1796591790027626323',1,0,0,2,'["env:prod"]',NULL,'admin:test',1796591790027,NULL,2592000);
INSERT INTO "flags" VALUES('new-ui','boolean',1,'false','[]','',2,1796591790034,'admin:test');
INSERT INTO "health_reports" VALUES(1,'m_sopkwyxvu7bef3kr',1796591790032,'{"at":"2026-12-06T21:16:30.032993686Z","agent_version":"1.0.0","os":"linux","uptime_sec":0,"cpu_percent":12,"mem_total":0,"mem_used":0,"disk_total":0,"disk_used":0,"tunnel":{"up":false,"peer_count":0,"connected":0,"peers":null},"update":{"from":"0.9.0","to":"1.0.0","state":"ok","at":"2026-12-06T21:16:30.032993752Z"}}');
INSERT INTO "machines" VALUES('m_sopkwyxvu7bef3kr','web-1','web-1','linux','','amd64','1.0.0','x8UdKvR1Bvhad0BSp8IiE6KCOavg74jSp/eBFinDl8c=',1,'100.64.0.1','fd78:245a:7b77::1','["env:prod"]','[]',0,'cred-31-1796591790028885743','tok_ccneavkwydembtcl','active',1796591790029,1796591790032,NULL,6,'{"at":"2026-12-06T21:16:30.032993686Z","agent_version":"1.0.0","os":"linux","uptime_sec":0,"cpu_percent":12,"mem_total":0,"mem_used":0,"disk_total":0,"disk_used":0,"tunnel":{"up":false,"peer_count":0,"connected":0,"peers":null},"update":{"from":"0.9.0","to":"1.0.0","state":"ok","at":"2026-12-06T21:16:30.032993752Z"}}',1796591790032,'{"from":"0.9.0","to":"1.0.0","state":"ok","at":"2026-12-06T21:16:30.032993752Z"}','1.5.0',1796591790029,1796591790036,'next-credential-hash',NULL,1799183790029,0,NULL,NULL,NULL,NULL,NULL,NULL,NULL);
INSERT INTO "machines" VALUES('m_ccwzkshxfsoagdkx','laptop','laptop','linux','','amd64','1.0.0','OlPC98w2oSPStw/PYXunNRS/qMDjQhak8jnYhRRK2yY=',2,'100.64.0.2','fd78:245a:7b77::2','["env:prod"]','[]',0,'cred-32-1796591790029878366','tok_ccneavkwydembtcl','revoked',1796591790030,1796591790030,1796591790031,4,NULL,NULL,NULL,'',1796591790030,NULL,NULL,NULL,1799183790030,0,NULL,NULL,NULL,NULL,NULL,NULL,NULL);
INSERT INTO "meta" VALUES('flags_version','2');
INSERT INTO "meta" VALUES('ula_prefix','fd78:245a:7b77::/48');
INSERT INTO "meta" VALUES('netmap_version','7');
INSERT INTO "meta" VALUES('next_ip_index','3');
INSERT INTO "netmap_log" VALUES(2,'m_sopkwyxvu7bef3kr');
INSERT INTO "netmap_log" VALUES(3,'m_ccwzkshxfsoagdkx');
INSERT INTO "netmap_log" VALUES(4,'m_ccwzkshxfsoagdkx');
INSERT INTO "netmap_log" VALUES(5,'m_sopkwyxvu7bef3kr');
INSERT INTO "netmap_log" VALUES(6,'m_sopkwyxvu7bef3kr');
INSERT INTO "netmap_log" VALUES(7,'policy:1');
INSERT INTO "pending_enrollments" VALUES('ABCD-EFGH','pending-secret-hash','{"token":"","public_key":"nm05fSLhqORV59CekUNL/lQ4uhMzGF2HJbatcvvyqU4=","hostname":"waiting","os":"linux","arch":"amd64","agent_version":""}','192.0.2.1',1796591790036,1796595390036,'pending',NULL,NULL,NULL);
INSERT INTO "policies" VALUES(1,'{"tags": ["tag:env:prod"], "rules": [{"src": ["tag:env:prod"], "dst": ["*"]}]}','admin:test',1796591790038,7);
INSERT INTO "schema_migrations" VALUES(1,1796591790007);
INSERT INTO "schema_migrations" VALUES(2,1796591790008);
INSERT INTO "schema_migrations" VALUES(3,1796591790009);
INSERT INTO "schema_migrations" VALUES(4,1796591790010);
INSERT INTO "schema_migrations" VALUES(5,1796591790011);
INSERT INTO "schema_migrations" VALUES(6,1796591790012);
INSERT INTO "schema_migrations" VALUES(7,1796591790013);
INSERT INTO "schema_migrations" VALUES(8,1796591790014);
INSERT INTO "schema_migrations" VALUES(9,1796591790015);
INSERT INTO "schema_migrations" VALUES(10,1796591790016);
INSERT INTO "schema_migrations" VALUES(11,1796591790017);
INSERT INTO "schema_migrations" VALUES(12,1796591790019);
INSERT INTO "schema_migrations" VALUES(13,1796591790020);
INSERT INTO "schema_migrations" VALUES(14,1796591790021);
INSERT INTO "schema_migrations" VALUES(15,1796591790022);
INSERT INTO "schema_migrations" VALUES(16,1796591790023);
INSERT INTO "schema_migrations" VALUES(17,1796591790023);
INSERT INTO "schema_migrations" VALUES(18,1796591790025);
INSERT INTO "schema_migrations" VALUES(19,1796591790026);
INSERT INTO "update_history" VALUES(1,'m_sopkwyxvu7bef3kr','0.9.0','1.0.0','ok','',1796591790032,1796591790032);
