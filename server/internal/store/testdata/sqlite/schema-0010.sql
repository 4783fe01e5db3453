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
, health TEXT, health_at BIGINT, update_status TEXT, pinned_version TEXT NOT NULL DEFAULT '', key_created_at BIGINT, rotate_key_before BIGINT);
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE netmap_log (
    version    BIGINT PRIMARY KEY,
    machine_id TEXT NOT NULL
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
CREATE INDEX machines_state ON machines(state);
CREATE INDEX sessions_admin ON sessions(admin_id);
CREATE INDEX update_history_at ON update_history(at);
CREATE UNIQUE INDEX update_history_attempt ON update_history(machine_id, to_version, state, at);
INSERT INTO "admins" VALUES('adm_uj2tp3pf3svhyzbp','alice','$2a$04$notarealhash',1795508581359);
INSERT INTO "api_keys" VALUES('key_aelo4g2sjsysfsui','adm_uj2tp3pf3svhyzbp','wfa_abc','keyhash',1795508581359,NULL,NULL,NULL);
INSERT INTO "audit" VALUES(1,1795508581353,'admin:test','token.create','tok_7z4uzqe3m4voyote','127.0.0.1','{"ephemeral":false,"max_uses":0,"prefix":"wfe_000014","reusable":true,"tags":["env:prod"]}');
INSERT INTO "audit" VALUES(2,1795508581354,'token:wfe_000014','machine.enroll','m_7ub725ull2inn2q3','127.0.0.1','{"arch":"amd64","hostname":"web-1","ipv4":"100.64.0.1","name":"web-1","os":"linux","token":"tok_7z4uzqe3m4voyote"}');
INSERT INTO "audit" VALUES(3,1795508581356,'token:wfe_000014','machine.enroll','m_wlm542k4xhoe44u7','127.0.0.1','{"arch":"amd64","hostname":"laptop","ipv4":"100.64.0.2","name":"laptop","os":"linux","token":"tok_7z4uzqe3m4voyote"}');
INSERT INTO "audit" VALUES(4,1795508581357,'admin:test','machine.revoke','m_wlm542k4xhoe44u7','127.0.0.1','{"name":"laptop"}');
INSERT INTO "audit" VALUES(5,1795508581357,'admin:test','machine.pin_version','m_7ub725ull2inn2q3','127.0.0.1','{"name":"web-1","previous":"","version":"1.5.0"}');
INSERT INTO "audit" VALUES(6,1795508581359,'admin:test','flag.set','new-ui','127.0.0.1','{"default":false,"enabled":true,"rules":0,"type":"boolean","version":2}');
INSERT INTO "audit" VALUES(7,1795508581359,'admin:test','admin.create','adm_uj2tp3pf3svhyzbp','127.0.0.1','{"name":"alice"}');
INSERT INTO "audit" VALUES(8,1795508581360,'admin:test','policy.set','policy','127.0.0.1','{"diff":"","version":1}');
INSERT INTO "enroll_tokens" VALUES('tok_7z4uzqe3m4voyote','wfe_000014','tokenhash-14-1795508581353176641',1,0,0,2,'["env:prod"]',NULL,'admin:test',1795508581353,NULL);
INSERT INTO "flags" VALUES('new-ui','boolean',1,'false','[]','',2,1795508581359,'admin:test');
INSERT INTO "health_reports" VALUES(1,'m_7ub725ull2inn2q3',1795508581358,'{"at":"2026-11-24T08:23:01.35851723Z","agent_version":"1.0.0","os":"linux","uptime_sec":0,"cpu_percent":12,"mem_total":0,"mem_used":0,"disk_total":0,"disk_used":0,"tunnel":{"up":false,"peer_count":0,"connected":0,"peers":null},"update":{"from":"0.9.0","to":"1.0.0","state":"ok","at":"2026-11-24T08:23:01.35851728Z"}}');
INSERT INTO "machines" VALUES('m_7ub725ull2inn2q3','web-1','web-1','linux','','amd64','1.0.0','DDqK6Z9oC4J7eT3/uYe395FHvz2zPlVDZ/XuD2oW1qg=',1,'100.64.0.1','fde6:4c8c:1776::1','["env:prod"]','[]',0,'cred-15-1795508581354378269','tok_7z4uzqe3m4voyote','active',1795508581354,1795508581358,NULL,5,'{"at":"2026-11-24T08:23:01.35851723Z","agent_version":"1.0.0","os":"linux","uptime_sec":0,"cpu_percent":12,"mem_total":0,"mem_used":0,"disk_total":0,"disk_used":0,"tunnel":{"up":false,"peer_count":0,"connected":0,"peers":null},"update":{"from":"0.9.0","to":"1.0.0","state":"ok","at":"2026-11-24T08:23:01.35851728Z"}}',1795508581358,'{"from":"0.9.0","to":"1.0.0","state":"ok","at":"2026-11-24T08:23:01.35851728Z"}','1.5.0',1795508581354,NULL);
INSERT INTO "machines" VALUES('m_wlm542k4xhoe44u7','laptop','laptop','linux','','amd64','1.0.0','xDh6HOz/R51jLdD8SDTLCPe7DO0+UGN8oGnilAuHOIY=',2,'100.64.0.2','fde6:4c8c:1776::2','["env:prod"]','[]',0,'cred-16-1795508581355558897','tok_7z4uzqe3m4voyote','revoked',1795508581355,1795508581355,1795508581357,4,NULL,NULL,NULL,'',1795508581355,NULL);
INSERT INTO "meta" VALUES('next_ip_index','3');
INSERT INTO "meta" VALUES('flags_version','2');
INSERT INTO "meta" VALUES('ula_prefix','fde6:4c8c:1776::/48');
INSERT INTO "meta" VALUES('netmap_version','6');
INSERT INTO "netmap_log" VALUES(2,'m_7ub725ull2inn2q3');
INSERT INTO "netmap_log" VALUES(3,'m_wlm542k4xhoe44u7');
INSERT INTO "netmap_log" VALUES(4,'m_wlm542k4xhoe44u7');
INSERT INTO "netmap_log" VALUES(5,'m_7ub725ull2inn2q3');
INSERT INTO "netmap_log" VALUES(6,'policy:1');
INSERT INTO "policies" VALUES(1,'{"tags": ["tag:env:prod"], "rules": [{"src": ["tag:env:prod"], "dst": ["*"]}]}','admin:test',1795508581360,6);
INSERT INTO "schema_migrations" VALUES(1,1795508581344);
INSERT INTO "schema_migrations" VALUES(2,1795508581346);
INSERT INTO "schema_migrations" VALUES(3,1795508581346);
INSERT INTO "schema_migrations" VALUES(4,1795508581347);
INSERT INTO "schema_migrations" VALUES(5,1795508581348);
INSERT INTO "schema_migrations" VALUES(6,1795508581349);
INSERT INTO "schema_migrations" VALUES(7,1795508581349);
INSERT INTO "schema_migrations" VALUES(8,1795508581350);
INSERT INTO "schema_migrations" VALUES(9,1795508581351);
INSERT INTO "schema_migrations" VALUES(10,1795508581352);
INSERT INTO "update_history" VALUES(1,'m_7ub725ull2inn2q3','0.9.0','1.0.0','ok','',1795508581358,1795508581358);
