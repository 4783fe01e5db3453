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
CREATE TABLE ssh_checks (
    id           TEXT PRIMARY KEY,
    owner        TEXT NOT NULL,
    src_machine  TEXT NOT NULL,
    dst_machine  TEXT NOT NULL,
    login        TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    confirmed_at BIGINT
);
CREATE TABLE ssh_recordings (
    session TEXT NOT NULL,
    offset_bytes BIGINT NOT NULL,
    data    BLOB NOT NULL,
    PRIMARY KEY (session, offset_bytes)
);
CREATE TABLE ssh_sessions (
    id              TEXT PRIMARY KEY,
    machine         TEXT NOT NULL,
    machine_name    TEXT NOT NULL,
    src             TEXT NOT NULL,
    src_name        TEXT NOT NULL,
    owner           TEXT NOT NULL,
    console         TEXT NOT NULL,
    login           TEXT NOT NULL,
    kind            TEXT NOT NULL,
    command         TEXT NOT NULL,
    start_at        BIGINT NOT NULL,
    end_at          BIGINT,
    exit_status     INTEGER,
    reason          TEXT NOT NULL,
    recorded        INTEGER NOT NULL,
    recording_bytes BIGINT NOT NULL
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
CREATE INDEX ssh_checks_owner ON ssh_checks (owner, confirmed_at);
CREATE INDEX ssh_sessions_start ON ssh_sessions (start_at);
CREATE INDEX team_roles_subject ON team_roles (kind, subject);
CREATE INDEX team_tags_tag ON team_tags (tag);
CREATE INDEX update_history_at ON update_history(at);
CREATE UNIQUE INDEX update_history_attempt ON update_history(machine_id, to_version, state, at);
INSERT INTO "admins" VALUES('adm_llkjdntohmhxkv4c','alice','$2a$04$notarealhash',1796620438122,NULL,'admin',1,NULL,NULL,NULL);
INSERT INTO "admins" VALUES('adm_vmdcbxs4rssvnxc3','carol@example.com','!sso',1796620438123,'sub-1','admin',1,NULL,NULL,NULL);
INSERT INTO "api_keys" VALUES('key_g47bnbpssjn234up','adm_llkjdntohmhxkv4c','wfa_abc','keyhash',1796620438122,NULL,NULL,NULL);
INSERT INTO "audit" VALUES(1,1796620438116,'admin:test','token.create','tok_fiyfjwt47vlsy5fu','127.0.0.1','{"ephemeral":false,"max_uses":0,"prefix":"wfe_000040","reusable":true,"tags":["env:prod"]}');
INSERT INTO "audit" VALUES(2,1796620438117,'token:wfe_000040','machine.enroll','m_abff2gnpe6wrqvsn','127.0.0.1','{"arch":"amd64","hostname":"web-1","ipv4":"100.64.0.1","name":"web-1","os":"linux","token":"tok_fiyfjwt47vlsy5fu"}');
INSERT INTO "audit" VALUES(3,1796620438118,'token:wfe_000040','machine.enroll','m_h7tgvaaglyutqxzj','127.0.0.1','{"arch":"amd64","hostname":"laptop","ipv4":"100.64.0.2","name":"laptop","os":"linux","token":"tok_fiyfjwt47vlsy5fu"}');
INSERT INTO "audit" VALUES(4,1796620438119,'admin:test','machine.revoke','m_h7tgvaaglyutqxzj','127.0.0.1','{"name":"laptop"}');
INSERT INTO "audit" VALUES(5,1796620438120,'admin:test','machine.pin_version','m_abff2gnpe6wrqvsn','127.0.0.1','{"name":"web-1","previous":"","version":"1.5.0"}');
INSERT INTO "audit" VALUES(6,1796620438122,'admin:test','flag.set','new-ui','127.0.0.1','{"default":false,"enabled":true,"rules":0,"team":"","type":"boolean","version":2}');
INSERT INTO "audit" VALUES(7,1796620438122,'admin:test','admin.create','adm_llkjdntohmhxkv4c','127.0.0.1','{"name":"alice"}');
INSERT INTO "audit" VALUES(8,1796620438123,'admin:test','admin.create','adm_vmdcbxs4rssvnxc3','127.0.0.1','{"name":"carol@example.com","role":"admin","sso":true}');
INSERT INTO "audit" VALUES(9,1796620438124,'admin:test','machine.rotate_key','m_abff2gnpe6wrqvsn','127.0.0.1','{"name":"web-1"}');
INSERT INTO "audit" VALUES(10,1796620438125,'admin:test','policy.set','policy','127.0.0.1','{"diff":"","version":1}');
INSERT INTO "enroll_tokens" VALUES('tok_fiyfjwt47vlsy5fu','wfe_000040','tokenhash-40-1796620438116328799',1,0,0,2,'["env:prod"]',NULL,'admin:test',1796620438116,NULL,2592000,NULL);
INSERT INTO "flags" VALUES('new-ui','boolean',1,'false','[]','',2,1796620438122,'admin:test','');
INSERT INTO "health_reports" VALUES(1,'m_abff2gnpe6wrqvsn',1796620438121,'{"at":"2026-12-07T05:13:58.121028088Z","agent_version":"1.0.0","os":"linux","uptime_sec":0,"cpu_percent":12,"mem_total":0,"mem_used":0,"disk_total":0,"disk_used":0,"tunnel":{"up":false,"peer_count":0,"connected":0,"peers":null},"update":{"from":"0.9.0","to":"1.0.0","state":"ok","at":"2026-12-07T05:13:58.121028135Z"}}');
INSERT INTO "machines" VALUES('m_abff2gnpe6wrqvsn','web-1','web-1','linux','','amd64','1.0.0','M+bbSp/jPtLrfKW5MJB8dR8oCakNUiN5eAdQNV3ps40=',1,'100.64.0.1','fdd6:805f:4f7e::1','["env:prod"]','[]',0,'cred-41-1796620438117462934','tok_fiyfjwt47vlsy5fu','active',1796620438117,1796620438121,NULL,6,'{"at":"2026-12-07T05:13:58.121028088Z","agent_version":"1.0.0","os":"linux","uptime_sec":0,"cpu_percent":12,"mem_total":0,"mem_used":0,"disk_total":0,"disk_used":0,"tunnel":{"up":false,"peer_count":0,"connected":0,"peers":null},"update":{"from":"0.9.0","to":"1.0.0","state":"ok","at":"2026-12-07T05:13:58.121028135Z"}}',1796620438121,'{"from":"0.9.0","to":"1.0.0","state":"ok","at":"2026-12-07T05:13:58.121028135Z"}','1.5.0',1796620438117,1796620438124,'next-credential-hash',NULL,1799212438117,0,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL);
INSERT INTO "machines" VALUES('m_h7tgvaaglyutqxzj','laptop','laptop','linux','','amd64','1.0.0','pfIpWuukj0YZHatPbbyPlQA+1k1mflX4l90JOrfQHTE=',2,'100.64.0.2','fdd6:805f:4f7e::2','["env:prod"]','[]',0,'cred-42-1796620438118544436','tok_fiyfjwt47vlsy5fu','revoked',1796620438118,1796620438118,1796620438119,4,NULL,NULL,NULL,'',1796620438118,NULL,NULL,NULL,1799212438118,0,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL);
INSERT INTO "meta" VALUES('netmap_version','7');
INSERT INTO "meta" VALUES('next_ip_index','3');
INSERT INTO "meta" VALUES('flags_version','2');
INSERT INTO "meta" VALUES('ula_prefix','fdd6:805f:4f7e::/48');
INSERT INTO "netmap_log" VALUES(2,'m_abff2gnpe6wrqvsn');
INSERT INTO "netmap_log" VALUES(3,'m_h7tgvaaglyutqxzj');
INSERT INTO "netmap_log" VALUES(4,'m_h7tgvaaglyutqxzj');
INSERT INTO "netmap_log" VALUES(5,'m_abff2gnpe6wrqvsn');
INSERT INTO "netmap_log" VALUES(6,'m_abff2gnpe6wrqvsn');
INSERT INTO "netmap_log" VALUES(7,'policy:1');
INSERT INTO "pending_enrollments" VALUES('ABCD-EFGH','pending-secret-hash','{"token":"","public_key":"L+n/KgBb69qH4Tv9YgAnTssJxa2AF7VKUsZRubiF9gM=","hostname":"waiting","os":"linux","arch":"amd64","agent_version":""}','192.0.2.1',1796620438123,1796624038123,'pending',NULL,NULL,NULL);
INSERT INTO "policies" VALUES(1,'{"tags": ["tag:env:prod"], "rules": [{"src": ["tag:env:prod"], "dst": ["*"]}]}','admin:test',1796620438125,7);
INSERT INTO "schema_migrations" VALUES(1,1796620438093);
INSERT INTO "schema_migrations" VALUES(2,1796620438095);
INSERT INTO "schema_migrations" VALUES(3,1796620438096);
INSERT INTO "schema_migrations" VALUES(4,1796620438097);
INSERT INTO "schema_migrations" VALUES(5,1796620438098);
INSERT INTO "schema_migrations" VALUES(6,1796620438099);
INSERT INTO "schema_migrations" VALUES(7,1796620438100);
INSERT INTO "schema_migrations" VALUES(8,1796620438100);
INSERT INTO "schema_migrations" VALUES(9,1796620438101);
INSERT INTO "schema_migrations" VALUES(10,1796620438102);
INSERT INTO "schema_migrations" VALUES(11,1796620438103);
INSERT INTO "schema_migrations" VALUES(12,1796620438104);
INSERT INTO "schema_migrations" VALUES(13,1796620438105);
INSERT INTO "schema_migrations" VALUES(14,1796620438105);
INSERT INTO "schema_migrations" VALUES(15,1796620438106);
INSERT INTO "schema_migrations" VALUES(16,1796620438107);
INSERT INTO "schema_migrations" VALUES(17,1796620438107);
INSERT INTO "schema_migrations" VALUES(18,1796620438108);
INSERT INTO "schema_migrations" VALUES(19,1796620438109);
INSERT INTO "schema_migrations" VALUES(20,1796620438110);
INSERT INTO "schema_migrations" VALUES(21,1796620438112);
INSERT INTO "schema_migrations" VALUES(22,1796620438113);
INSERT INTO "schema_migrations" VALUES(23,1796620438114);
INSERT INTO "schema_migrations" VALUES(24,1796620438115);
INSERT INTO "update_history" VALUES(1,'m_abff2gnpe6wrqvsn','0.9.0','1.0.0','ok','',1796620438121,1796620438121);
