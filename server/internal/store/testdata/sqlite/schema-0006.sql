CREATE TABLE admins (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);
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
, health TEXT, health_at BIGINT, update_status TEXT, pinned_version TEXT NOT NULL DEFAULT '');
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE netmap_log (
    version    BIGINT PRIMARY KEY,
    machine_id TEXT NOT NULL
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
CREATE INDEX audit_action ON audit(action);
CREATE INDEX audit_target ON audit(target);
CREATE INDEX health_reports_machine ON health_reports(machine_id, id);
CREATE INDEX machines_state ON machines(state);
CREATE INDEX sessions_admin ON sessions(admin_id);
INSERT INTO "admins" VALUES('adm_ibukioatxwg477jz','alice','$2a$04$notarealhash',1795469787380);
INSERT INTO "api_keys" VALUES('key_puhgzlz2t5hehdiy','adm_ibukioatxwg477jz','wfa_abc','keyhash',1795469787380,NULL,NULL,NULL);
INSERT INTO "audit" VALUES(1,1795469787374,'admin:test','token.create','tok_jogjcmidnh7aldh4','127.0.0.1','{"ephemeral":false,"max_uses":0,"prefix":"wfe_000001","reusable":true,"tags":["env:prod"]}');
INSERT INTO "audit" VALUES(2,1795469787375,'token:wfe_000001','machine.enroll','m_jcdi2o25hkbi4lbe','127.0.0.1','{"arch":"amd64","hostname":"web-1","ipv4":"100.64.0.1","name":"web-1","os":"linux","token":"tok_jogjcmidnh7aldh4"}');
INSERT INTO "audit" VALUES(3,1795469787376,'token:wfe_000001','machine.enroll','m_s7dqh6vgtfe23lfj','127.0.0.1','{"arch":"amd64","hostname":"laptop","ipv4":"100.64.0.2","name":"laptop","os":"linux","token":"tok_jogjcmidnh7aldh4"}');
INSERT INTO "audit" VALUES(4,1795469787377,'admin:test','machine.revoke','m_s7dqh6vgtfe23lfj','127.0.0.1','{"name":"laptop"}');
INSERT INTO "audit" VALUES(5,1795469787378,'admin:test','machine.pin_version','m_jcdi2o25hkbi4lbe','127.0.0.1','{"name":"web-1","previous":"","version":"1.5.0"}');
INSERT INTO "audit" VALUES(6,1795469787379,'admin:test','flag.set','new-ui','127.0.0.1','{"default":false,"enabled":true,"rules":0,"type":"boolean","version":2}');
INSERT INTO "audit" VALUES(7,1795469787380,'admin:test','admin.create','adm_ibukioatxwg477jz','127.0.0.1','{"name":"alice"}');
INSERT INTO "enroll_tokens" VALUES('tok_jogjcmidnh7aldh4','wfe_000001','tokenhash-1-1795469787374294113',1,0,0,2,'["env:prod"]',NULL,'admin:test',1795469787374,NULL);
INSERT INTO "flags" VALUES('new-ui','boolean',1,'false','[]','',2,1795469787379,'admin:test');
INSERT INTO "health_reports" VALUES(1,'m_jcdi2o25hkbi4lbe',1795469787379,'{"at":"2026-11-23T21:36:27.379046586Z","agent_version":"1.0.0","os":"linux","uptime_sec":0,"cpu_percent":12,"mem_total":0,"mem_used":0,"disk_total":0,"disk_used":0,"tunnel":{"up":false,"peer_count":0,"connected":0,"peers":null}}');
INSERT INTO "machines" VALUES('m_jcdi2o25hkbi4lbe','web-1','web-1','linux','','amd64','1.0.0','ZgPny8zh7ZGVsqHC68mg1DwFD61B2uw84978JONNbSI=',1,'100.64.0.1','fdf6:32c9:16ce::1','["env:prod"]','[]',0,'cred-2-1795469787375297807','tok_jogjcmidnh7aldh4','active',1795469787375,1795469787379,NULL,5,'{"at":"2026-11-23T21:36:27.379046586Z","agent_version":"1.0.0","os":"linux","uptime_sec":0,"cpu_percent":12,"mem_total":0,"mem_used":0,"disk_total":0,"disk_used":0,"tunnel":{"up":false,"peer_count":0,"connected":0,"peers":null}}',1795469787379,NULL,'1.5.0');
INSERT INTO "machines" VALUES('m_s7dqh6vgtfe23lfj','laptop','laptop','linux','','amd64','1.0.0','HTlwED4atR4nVORz6us0VYCyrH+5eZxiIGCt38dk7l8=',2,'100.64.0.2','fdf6:32c9:16ce::2','["env:prod"]','[]',0,'cred-3-1795469787376529400','tok_jogjcmidnh7aldh4','revoked',1795469787376,1795469787376,1795469787377,4,NULL,NULL,NULL,'');
INSERT INTO "meta" VALUES('netmap_version','5');
INSERT INTO "meta" VALUES('next_ip_index','3');
INSERT INTO "meta" VALUES('flags_version','2');
INSERT INTO "meta" VALUES('ula_prefix','fdf6:32c9:16ce::/48');
INSERT INTO "netmap_log" VALUES(2,'m_jcdi2o25hkbi4lbe');
INSERT INTO "netmap_log" VALUES(3,'m_s7dqh6vgtfe23lfj');
INSERT INTO "netmap_log" VALUES(4,'m_s7dqh6vgtfe23lfj');
INSERT INTO "netmap_log" VALUES(5,'m_jcdi2o25hkbi4lbe');
INSERT INTO "schema_migrations" VALUES(1,1795469787368);
INSERT INTO "schema_migrations" VALUES(2,1795469787370);
INSERT INTO "schema_migrations" VALUES(3,1795469787370);
INSERT INTO "schema_migrations" VALUES(4,1795469787371);
INSERT INTO "schema_migrations" VALUES(5,1795469787372);
INSERT INTO "schema_migrations" VALUES(6,1795469787373);
