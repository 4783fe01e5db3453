--
-- PostgreSQL database dump
--

\restrict fWEbDkTyc2K8peTTXot31Mw82XApzH3Su0apDbFIgtGR5pOufW8KwBhaxL3h7bK

-- Dumped from database version 15.18 (Debian 15.18-0+deb12u1)
-- Dumped by pg_dump version 15.18 (Debian 15.18-0+deb12u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: admins; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.admins (
    id text NOT NULL,
    name text NOT NULL,
    password_hash text NOT NULL,
    created_at bigint NOT NULL,
    sso_subject text,
    role text DEFAULT 'admin'::text NOT NULL,
    active integer DEFAULT 1 NOT NULL,
    external_id text,
    display_name text,
    updated_at bigint
);


--
-- Name: api_keys; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.api_keys (
    id text NOT NULL,
    admin_id text NOT NULL,
    prefix text NOT NULL,
    hash text NOT NULL,
    created_at bigint NOT NULL,
    expires_at bigint,
    last_used_at bigint,
    revoked_at bigint
);


--
-- Name: audit; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.audit (
    id bigint NOT NULL,
    at bigint NOT NULL,
    actor text NOT NULL,
    action text NOT NULL,
    target text NOT NULL,
    source_ip text NOT NULL,
    details text NOT NULL
);


--
-- Name: audit_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.audit_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: audit_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.audit_id_seq OWNED BY public.audit.id;


--
-- Name: dir_groups; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.dir_groups (
    id text NOT NULL,
    name text NOT NULL,
    external_id text,
    created_at bigint NOT NULL,
    updated_at bigint NOT NULL
);


--
-- Name: dir_members; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.dir_members (
    group_id text NOT NULL,
    admin_id text NOT NULL
);


--
-- Name: dns_records; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.dns_records (
    name text NOT NULL,
    type text NOT NULL,
    value text NOT NULL,
    created_by text NOT NULL,
    created_at bigint NOT NULL
);


--
-- Name: enroll_tokens; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.enroll_tokens (
    id text NOT NULL,
    prefix text NOT NULL,
    hash text NOT NULL,
    reusable integer NOT NULL,
    ephemeral integer NOT NULL,
    max_uses integer NOT NULL,
    uses integer DEFAULT 0 NOT NULL,
    tags text NOT NULL,
    expires_at bigint,
    created_by text NOT NULL,
    created_at bigint NOT NULL,
    revoked_at bigint,
    machine_expiry_s bigint,
    owner text
);


--
-- Name: flag_client_keys; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.flag_client_keys (
    id text NOT NULL,
    client_id text NOT NULL,
    prefix text NOT NULL,
    hash text NOT NULL,
    created_at bigint NOT NULL,
    revoked_at bigint
);


--
-- Name: flag_clients; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.flag_clients (
    id text NOT NULL,
    name text NOT NULL,
    description text NOT NULL,
    kind text NOT NULL,
    team text NOT NULL,
    active integer NOT NULL,
    rate_per_min integer NOT NULL,
    allow text NOT NULL,
    created_by text NOT NULL,
    created_at bigint NOT NULL,
    last_seen bigint
);


--
-- Name: flag_usage; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.flag_usage (
    flag text NOT NULL,
    subject text NOT NULL,
    hour bigint NOT NULL,
    count bigint NOT NULL,
    last_at bigint NOT NULL
);


--
-- Name: flags; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.flags (
    key text NOT NULL,
    type text NOT NULL,
    enabled integer NOT NULL,
    default_value text NOT NULL,
    rules text NOT NULL,
    description text NOT NULL,
    version bigint NOT NULL,
    updated_at bigint NOT NULL,
    updated_by text NOT NULL,
    team text DEFAULT ''::text NOT NULL
);


--
-- Name: flow_records; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.flow_records (
    id bigint NOT NULL,
    reporter text NOT NULL,
    start_at bigint NOT NULL,
    end_at bigint NOT NULL,
    proto text NOT NULL,
    src text NOT NULL,
    dst text NOT NULL,
    src_port integer NOT NULL,
    dst_port integer NOT NULL,
    src_machine text NOT NULL,
    dst_machine text NOT NULL,
    tx_packets bigint NOT NULL,
    tx_bytes bigint NOT NULL,
    rx_packets bigint NOT NULL,
    rx_bytes bigint NOT NULL,
    path text NOT NULL,
    verdict text NOT NULL,
    rule text NOT NULL
);


--
-- Name: flow_records_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.flow_records_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: flow_records_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.flow_records_id_seq OWNED BY public.flow_records.id;


--
-- Name: health_reports; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.health_reports (
    id bigint NOT NULL,
    machine_id text NOT NULL,
    received_at bigint NOT NULL,
    report text NOT NULL
);


--
-- Name: health_reports_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.health_reports_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: health_reports_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.health_reports_id_seq OWNED BY public.health_reports.id;


--
-- Name: machines; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.machines (
    id text NOT NULL,
    name text NOT NULL,
    hostname text NOT NULL,
    os text NOT NULL,
    os_version text NOT NULL,
    arch text NOT NULL,
    agent_version text NOT NULL,
    public_key text NOT NULL,
    ip_index bigint NOT NULL,
    ipv4 text NOT NULL,
    ipv6 text NOT NULL,
    tags text NOT NULL,
    endpoints text NOT NULL,
    ephemeral integer NOT NULL,
    credential_hash text NOT NULL,
    token_id text,
    state text NOT NULL,
    created_at bigint NOT NULL,
    last_seen bigint,
    revoked_at bigint,
    version bigint NOT NULL,
    health text,
    health_at bigint,
    update_status text,
    pinned_version text DEFAULT ''::text NOT NULL,
    key_created_at bigint,
    rotate_key_before bigint,
    next_credential_hash text,
    credential_created_at bigint,
    expires_at bigint,
    expiry_disabled integer DEFAULT 0 NOT NULL,
    owner text,
    routes text,
    facts text,
    facts_at bigint,
    hw_serial text,
    hw_uuid text,
    seen_within text,
    owner_groups text
);


--
-- Name: meta; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.meta (
    key text NOT NULL,
    value text NOT NULL
);


--
-- Name: netmap_log; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.netmap_log (
    version bigint NOT NULL,
    machine_id text NOT NULL
);


--
-- Name: pending_enrollments; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.pending_enrollments (
    code text NOT NULL,
    secret_hash text NOT NULL,
    request text NOT NULL,
    source_ip text NOT NULL,
    created_at bigint NOT NULL,
    expires_at bigint NOT NULL,
    state text NOT NULL,
    decided_by text,
    decided_at bigint,
    machine_id text
);


--
-- Name: policies; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.policies (
    version bigint NOT NULL,
    body text NOT NULL,
    author text NOT NULL,
    created_at bigint NOT NULL,
    map_version bigint NOT NULL
);


--
-- Name: relay_replicas; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.relay_replicas (
    id text NOT NULL,
    url text NOT NULL,
    pin text NOT NULL,
    expires_at bigint NOT NULL
);


--
-- Name: relay_sessions; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.relay_sessions (
    public_key text NOT NULL,
    machine_id text NOT NULL,
    replica text NOT NULL,
    since bigint NOT NULL
);


--
-- Name: schema_migrations; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.schema_migrations (
    version integer NOT NULL,
    applied_at bigint NOT NULL
);


--
-- Name: scim_tokens; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.scim_tokens (
    id text NOT NULL,
    prefix text NOT NULL,
    hash text NOT NULL,
    created_by text NOT NULL,
    created_at bigint NOT NULL,
    last_used_at bigint,
    revoked_at bigint
);


--
-- Name: sessions; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.sessions (
    hash text NOT NULL,
    admin_id text NOT NULL,
    csrf text NOT NULL,
    created_at bigint NOT NULL,
    expires_at bigint NOT NULL,
    source_ip text NOT NULL
);


--
-- Name: ssh_checks; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.ssh_checks (
    id text NOT NULL,
    owner text NOT NULL,
    src_machine text NOT NULL,
    dst_machine text NOT NULL,
    login text NOT NULL,
    created_at bigint NOT NULL,
    confirmed_at bigint
);


--
-- Name: ssh_recordings; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.ssh_recordings (
    session text NOT NULL,
    offset_bytes bigint NOT NULL,
    data bytea NOT NULL
);


--
-- Name: ssh_sessions; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.ssh_sessions (
    id text NOT NULL,
    machine text NOT NULL,
    machine_name text NOT NULL,
    src text NOT NULL,
    src_name text NOT NULL,
    owner text NOT NULL,
    console text NOT NULL,
    login text NOT NULL,
    kind text NOT NULL,
    command text NOT NULL,
    start_at bigint NOT NULL,
    end_at bigint,
    exit_status integer,
    reason text NOT NULL,
    recorded integer NOT NULL,
    recording_bytes bigint NOT NULL
);


--
-- Name: sso_logins; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.sso_logins (
    state_hash text NOT NULL,
    nonce text NOT NULL,
    verifier text NOT NULL,
    created_at bigint NOT NULL
);


--
-- Name: team_roles; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.team_roles (
    team_id text NOT NULL,
    kind text NOT NULL,
    subject text NOT NULL,
    role text NOT NULL
);


--
-- Name: team_tags; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.team_tags (
    team_id text NOT NULL,
    tag text NOT NULL
);


--
-- Name: teams; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.teams (
    id text NOT NULL,
    name text NOT NULL,
    created_at bigint NOT NULL
);


--
-- Name: update_history; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.update_history (
    id bigint NOT NULL,
    machine_id text NOT NULL,
    from_version text NOT NULL,
    to_version text NOT NULL,
    state text NOT NULL,
    reason text DEFAULT ''::text NOT NULL,
    at bigint NOT NULL,
    received_at bigint NOT NULL
);


--
-- Name: update_history_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.update_history_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: update_history_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.update_history_id_seq OWNED BY public.update_history.id;


--
-- Name: audit id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.audit ALTER COLUMN id SET DEFAULT nextval('public.audit_id_seq'::regclass);


--
-- Name: flow_records id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.flow_records ALTER COLUMN id SET DEFAULT nextval('public.flow_records_id_seq'::regclass);


--
-- Name: health_reports id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.health_reports ALTER COLUMN id SET DEFAULT nextval('public.health_reports_id_seq'::regclass);


--
-- Name: update_history id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.update_history ALTER COLUMN id SET DEFAULT nextval('public.update_history_id_seq'::regclass);


--
-- Data for Name: admins; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.admins VALUES ('adm_pshxrogw2jhhyte6', 'alice', '$2a$04$notarealhash', 1796620435330, NULL, 'admin', 1, NULL, NULL, NULL);
INSERT INTO public.admins VALUES ('adm_wrcgre5vmffwv7wx', 'carol@example.com', '!sso', 1796620435331, 'sub-1', 'admin', 1, NULL, NULL, NULL);


--
-- Data for Name: api_keys; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.api_keys VALUES ('key_e4m7nquoi52zqgkw', 'adm_pshxrogw2jhhyte6', 'wfa_abc', 'keyhash', 1796620435330, NULL, NULL, NULL);


--
-- Data for Name: audit; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.audit VALUES (1, 1796620435316, 'admin:test', 'token.create', 'tok_6zvvhf7yrt3fb7p5', '127.0.0.1', '{"ephemeral":false,"max_uses":0,"prefix":"wfe_000001","reusable":true,"tags":["env:prod"]}');
INSERT INTO public.audit VALUES (2, 1796620435319, 'token:wfe_000001', 'machine.enroll', 'm_pvcgwma5bmgrsmvd', '127.0.0.1', '{"arch":"amd64","hostname":"web-1","ipv4":"100.64.0.1","name":"web-1","os":"linux","token":"tok_6zvvhf7yrt3fb7p5"}');
INSERT INTO public.audit VALUES (3, 1796620435321, 'token:wfe_000001', 'machine.enroll', 'm_xjmjphgrlwljcofn', '127.0.0.1', '{"arch":"amd64","hostname":"laptop","ipv4":"100.64.0.2","name":"laptop","os":"linux","token":"tok_6zvvhf7yrt3fb7p5"}');
INSERT INTO public.audit VALUES (4, 1796620435323, 'admin:test', 'machine.revoke', 'm_xjmjphgrlwljcofn', '127.0.0.1', '{"name":"laptop"}');
INSERT INTO public.audit VALUES (5, 1796620435324, 'admin:test', 'machine.pin_version', 'm_pvcgwma5bmgrsmvd', '127.0.0.1', '{"name":"web-1","previous":"","version":"1.5.0"}');
INSERT INTO public.audit VALUES (6, 1796620435329, 'admin:test', 'flag.set', 'new-ui', '127.0.0.1', '{"default":false,"enabled":true,"rules":0,"team":"","type":"boolean","version":2}');
INSERT INTO public.audit VALUES (7, 1796620435331, 'admin:test', 'admin.create', 'adm_pshxrogw2jhhyte6', '127.0.0.1', '{"name":"alice"}');
INSERT INTO public.audit VALUES (8, 1796620435332, 'admin:test', 'admin.create', 'adm_wrcgre5vmffwv7wx', '127.0.0.1', '{"name":"carol@example.com","role":"admin","sso":true}');
INSERT INTO public.audit VALUES (9, 1796620435334, 'admin:test', 'machine.rotate_key', 'm_pvcgwma5bmgrsmvd', '127.0.0.1', '{"name":"web-1"}');
INSERT INTO public.audit VALUES (10, 1796620435336, 'admin:test', 'policy.set', 'policy', '127.0.0.1', '{"diff":"","version":1}');


--
-- Data for Name: dir_groups; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: dir_members; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: dns_records; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: enroll_tokens; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.enroll_tokens VALUES ('tok_6zvvhf7yrt3fb7p5', 'wfe_000001', 'tokenhash-1-1796620435315490013', 1, 0, 0, 2, '["env:prod"]', NULL, 'admin:test', 1796620435315, NULL, 2592000, NULL);


--
-- Data for Name: flag_client_keys; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: flag_clients; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: flag_usage; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: flags; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.flags VALUES ('new-ui', 'boolean', 1, 'false', '[]', '', 2, 1796620435329, 'admin:test', '');


--
-- Data for Name: flow_records; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: health_reports; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.health_reports VALUES (1, 'm_pvcgwma5bmgrsmvd', 1796620435325, '{"at":"2026-12-07T05:13:55.325063108Z","agent_version":"1.0.0","os":"linux","uptime_sec":0,"cpu_percent":12,"mem_total":0,"mem_used":0,"disk_total":0,"disk_used":0,"tunnel":{"up":false,"peer_count":0,"connected":0,"peers":null},"update":{"from":"0.9.0","to":"1.0.0","state":"ok","at":"2026-12-07T05:13:55.325063169Z"}}');


--
-- Data for Name: machines; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.machines VALUES ('m_xjmjphgrlwljcofn', 'laptop', 'laptop', 'linux', '', 'amd64', '1.0.0', 'rMfVv3ti/I/IEntkMKsFZHkPGaEjQHzpr25cDyJIiEM=', 2, '100.64.0.2', 'fd65:7568:fe90::2', '["env:prod"]', '[]', 0, 'cred-3-1796620435320750168', 'tok_6zvvhf7yrt3fb7p5', 'revoked', 1796620435321, 1796620435321, 1796620435322, 4, NULL, NULL, NULL, '', 1796620435321, NULL, NULL, NULL, 1799212435321, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
INSERT INTO public.machines VALUES ('m_pvcgwma5bmgrsmvd', 'web-1', 'web-1', 'linux', '', 'amd64', '1.0.0', 'h99rV9hK3AQUeMWkMZWTT8ClzqI0QprVzavx9/KfEzQ=', 1, '100.64.0.1', 'fd65:7568:fe90::1', '["env:prod"]', '[]', 0, 'cred-2-1796620435317035685', 'tok_6zvvhf7yrt3fb7p5', 'active', 1796620435318, 1796620435325, NULL, 6, '{"at":"2026-12-07T05:13:55.325063108Z","agent_version":"1.0.0","os":"linux","uptime_sec":0,"cpu_percent":12,"mem_total":0,"mem_used":0,"disk_total":0,"disk_used":0,"tunnel":{"up":false,"peer_count":0,"connected":0,"peers":null},"update":{"from":"0.9.0","to":"1.0.0","state":"ok","at":"2026-12-07T05:13:55.325063169Z"}}', 1796620435325, '{"from":"0.9.0","to":"1.0.0","state":"ok","at":"2026-12-07T05:13:55.325063169Z"}', '1.5.0', 1796620435318, 1796620435334, 'next-credential-hash', NULL, 1799212435319, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);


--
-- Data for Name: meta; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.meta VALUES ('ula_prefix', 'fd65:7568:fe90::/48');
INSERT INTO public.meta VALUES ('next_ip_index', '3');
INSERT INTO public.meta VALUES ('flags_version', '2');
INSERT INTO public.meta VALUES ('netmap_version', '7');


--
-- Data for Name: netmap_log; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.netmap_log VALUES (2, 'm_pvcgwma5bmgrsmvd');
INSERT INTO public.netmap_log VALUES (3, 'm_xjmjphgrlwljcofn');
INSERT INTO public.netmap_log VALUES (4, 'm_xjmjphgrlwljcofn');
INSERT INTO public.netmap_log VALUES (5, 'm_pvcgwma5bmgrsmvd');
INSERT INTO public.netmap_log VALUES (6, 'm_pvcgwma5bmgrsmvd');
INSERT INTO public.netmap_log VALUES (7, 'policy:1');


--
-- Data for Name: pending_enrollments; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.pending_enrollments VALUES ('ABCD-EFGH', 'pending-secret-hash', '{"token":"","public_key":"kaEEVb/apmLx+AGeQvTUVEhfy5WIJ7QcpRuuW195yAw=","hostname":"waiting","os":"linux","arch":"amd64","agent_version":""}', '192.0.2.1', 1796620435332, 1796624035332, 'pending', NULL, NULL, NULL);


--
-- Data for Name: policies; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.policies VALUES (1, '{"tags": ["tag:env:prod"], "rules": [{"src": ["tag:env:prod"], "dst": ["*"]}]}', 'admin:test', 1796620435335, 7);


--
-- Data for Name: relay_replicas; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: relay_sessions; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: schema_migrations; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.schema_migrations VALUES (1, 1796620435271);
INSERT INTO public.schema_migrations VALUES (2, 1796620435273);
INSERT INTO public.schema_migrations VALUES (3, 1796620435275);
INSERT INTO public.schema_migrations VALUES (4, 1796620435277);
INSERT INTO public.schema_migrations VALUES (5, 1796620435278);
INSERT INTO public.schema_migrations VALUES (6, 1796620435278);
INSERT INTO public.schema_migrations VALUES (7, 1796620435281);
INSERT INTO public.schema_migrations VALUES (8, 1796620435283);
INSERT INTO public.schema_migrations VALUES (9, 1796620435284);
INSERT INTO public.schema_migrations VALUES (10, 1796620435285);
INSERT INTO public.schema_migrations VALUES (11, 1796620435286);
INSERT INTO public.schema_migrations VALUES (12, 1796620435287);
INSERT INTO public.schema_migrations VALUES (13, 1796620435289);
INSERT INTO public.schema_migrations VALUES (14, 1796620435291);
INSERT INTO public.schema_migrations VALUES (15, 1796620435291);
INSERT INTO public.schema_migrations VALUES (16, 1796620435292);
INSERT INTO public.schema_migrations VALUES (17, 1796620435294);
INSERT INTO public.schema_migrations VALUES (18, 1796620435295);
INSERT INTO public.schema_migrations VALUES (19, 1796620435297);
INSERT INTO public.schema_migrations VALUES (20, 1796620435299);
INSERT INTO public.schema_migrations VALUES (21, 1796620435303);
INSERT INTO public.schema_migrations VALUES (22, 1796620435306);
INSERT INTO public.schema_migrations VALUES (23, 1796620435310);
INSERT INTO public.schema_migrations VALUES (24, 1796620435313);


--
-- Data for Name: scim_tokens; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: sessions; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: ssh_checks; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: ssh_recordings; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: ssh_sessions; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: sso_logins; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: team_roles; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: team_tags; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: teams; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: update_history; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.update_history VALUES (1, 'm_pvcgwma5bmgrsmvd', '0.9.0', '1.0.0', 'ok', '', 1796620435325, 1796620435325);


--
-- Name: audit_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.audit_id_seq', 10, true);


--
-- Name: flow_records_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.flow_records_id_seq', 1, false);


--
-- Name: health_reports_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.health_reports_id_seq', 1, true);


--
-- Name: update_history_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.update_history_id_seq', 1, true);


--
-- Name: admins admins_name_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.admins
    ADD CONSTRAINT admins_name_key UNIQUE (name);


--
-- Name: admins admins_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.admins
    ADD CONSTRAINT admins_pkey PRIMARY KEY (id);


--
-- Name: api_keys api_keys_hash_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.api_keys
    ADD CONSTRAINT api_keys_hash_key UNIQUE (hash);


--
-- Name: api_keys api_keys_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.api_keys
    ADD CONSTRAINT api_keys_pkey PRIMARY KEY (id);


--
-- Name: audit audit_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.audit
    ADD CONSTRAINT audit_pkey PRIMARY KEY (id);


--
-- Name: dir_groups dir_groups_name_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.dir_groups
    ADD CONSTRAINT dir_groups_name_key UNIQUE (name);


--
-- Name: dir_groups dir_groups_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.dir_groups
    ADD CONSTRAINT dir_groups_pkey PRIMARY KEY (id);


--
-- Name: dir_members dir_members_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.dir_members
    ADD CONSTRAINT dir_members_pkey PRIMARY KEY (group_id, admin_id);


--
-- Name: dns_records dns_records_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.dns_records
    ADD CONSTRAINT dns_records_pkey PRIMARY KEY (name, type, value);


--
-- Name: enroll_tokens enroll_tokens_hash_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.enroll_tokens
    ADD CONSTRAINT enroll_tokens_hash_key UNIQUE (hash);


--
-- Name: enroll_tokens enroll_tokens_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.enroll_tokens
    ADD CONSTRAINT enroll_tokens_pkey PRIMARY KEY (id);


--
-- Name: flag_client_keys flag_client_keys_hash_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.flag_client_keys
    ADD CONSTRAINT flag_client_keys_hash_key UNIQUE (hash);


--
-- Name: flag_client_keys flag_client_keys_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.flag_client_keys
    ADD CONSTRAINT flag_client_keys_pkey PRIMARY KEY (id);


--
-- Name: flag_clients flag_clients_name_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.flag_clients
    ADD CONSTRAINT flag_clients_name_key UNIQUE (name);


--
-- Name: flag_clients flag_clients_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.flag_clients
    ADD CONSTRAINT flag_clients_pkey PRIMARY KEY (id);


--
-- Name: flag_usage flag_usage_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.flag_usage
    ADD CONSTRAINT flag_usage_pkey PRIMARY KEY (flag, subject, hour);


--
-- Name: flags flags_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.flags
    ADD CONSTRAINT flags_pkey PRIMARY KEY (key);


--
-- Name: flow_records flow_records_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.flow_records
    ADD CONSTRAINT flow_records_pkey PRIMARY KEY (id);


--
-- Name: health_reports health_reports_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.health_reports
    ADD CONSTRAINT health_reports_pkey PRIMARY KEY (id);


--
-- Name: machines machines_credential_hash_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.machines
    ADD CONSTRAINT machines_credential_hash_key UNIQUE (credential_hash);


--
-- Name: machines machines_ip_index_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.machines
    ADD CONSTRAINT machines_ip_index_key UNIQUE (ip_index);


--
-- Name: machines machines_ipv4_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.machines
    ADD CONSTRAINT machines_ipv4_key UNIQUE (ipv4);


--
-- Name: machines machines_ipv6_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.machines
    ADD CONSTRAINT machines_ipv6_key UNIQUE (ipv6);


--
-- Name: machines machines_name_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.machines
    ADD CONSTRAINT machines_name_key UNIQUE (name);


--
-- Name: machines machines_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.machines
    ADD CONSTRAINT machines_pkey PRIMARY KEY (id);


--
-- Name: machines machines_public_key_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.machines
    ADD CONSTRAINT machines_public_key_key UNIQUE (public_key);


--
-- Name: meta meta_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.meta
    ADD CONSTRAINT meta_pkey PRIMARY KEY (key);


--
-- Name: netmap_log netmap_log_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.netmap_log
    ADD CONSTRAINT netmap_log_pkey PRIMARY KEY (version);


--
-- Name: pending_enrollments pending_enrollments_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.pending_enrollments
    ADD CONSTRAINT pending_enrollments_pkey PRIMARY KEY (code);


--
-- Name: pending_enrollments pending_enrollments_secret_hash_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.pending_enrollments
    ADD CONSTRAINT pending_enrollments_secret_hash_key UNIQUE (secret_hash);


--
-- Name: policies policies_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.policies
    ADD CONSTRAINT policies_pkey PRIMARY KEY (version);


--
-- Name: relay_replicas relay_replicas_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.relay_replicas
    ADD CONSTRAINT relay_replicas_pkey PRIMARY KEY (id);


--
-- Name: relay_sessions relay_sessions_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.relay_sessions
    ADD CONSTRAINT relay_sessions_pkey PRIMARY KEY (public_key);


--
-- Name: schema_migrations schema_migrations_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.schema_migrations
    ADD CONSTRAINT schema_migrations_pkey PRIMARY KEY (version);


--
-- Name: scim_tokens scim_tokens_hash_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.scim_tokens
    ADD CONSTRAINT scim_tokens_hash_key UNIQUE (hash);


--
-- Name: scim_tokens scim_tokens_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.scim_tokens
    ADD CONSTRAINT scim_tokens_pkey PRIMARY KEY (id);


--
-- Name: sessions sessions_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.sessions
    ADD CONSTRAINT sessions_pkey PRIMARY KEY (hash);


--
-- Name: ssh_checks ssh_checks_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ssh_checks
    ADD CONSTRAINT ssh_checks_pkey PRIMARY KEY (id);


--
-- Name: ssh_recordings ssh_recordings_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ssh_recordings
    ADD CONSTRAINT ssh_recordings_pkey PRIMARY KEY (session, offset_bytes);


--
-- Name: ssh_sessions ssh_sessions_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ssh_sessions
    ADD CONSTRAINT ssh_sessions_pkey PRIMARY KEY (id);


--
-- Name: sso_logins sso_logins_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.sso_logins
    ADD CONSTRAINT sso_logins_pkey PRIMARY KEY (state_hash);


--
-- Name: team_roles team_roles_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.team_roles
    ADD CONSTRAINT team_roles_pkey PRIMARY KEY (team_id, kind, subject);


--
-- Name: team_tags team_tags_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.team_tags
    ADD CONSTRAINT team_tags_pkey PRIMARY KEY (team_id, tag);


--
-- Name: teams teams_name_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.teams
    ADD CONSTRAINT teams_name_key UNIQUE (name);


--
-- Name: teams teams_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.teams
    ADD CONSTRAINT teams_pkey PRIMARY KEY (id);


--
-- Name: update_history update_history_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.update_history
    ADD CONSTRAINT update_history_pkey PRIMARY KEY (id);


--
-- Name: audit_action; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX audit_action ON public.audit USING btree (action);


--
-- Name: audit_target; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX audit_target ON public.audit USING btree (target);


--
-- Name: dir_members_admin; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX dir_members_admin ON public.dir_members USING btree (admin_id);


--
-- Name: flag_client_keys_client; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX flag_client_keys_client ON public.flag_client_keys USING btree (client_id);


--
-- Name: flag_usage_hour; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX flag_usage_hour ON public.flag_usage USING btree (hour);


--
-- Name: flow_records_dst_machine; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX flow_records_dst_machine ON public.flow_records USING btree (dst_machine, id);


--
-- Name: flow_records_end; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX flow_records_end ON public.flow_records USING btree (end_at);


--
-- Name: flow_records_src_machine; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX flow_records_src_machine ON public.flow_records USING btree (src_machine, id);


--
-- Name: health_reports_machine; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX health_reports_machine ON public.health_reports USING btree (machine_id, id);


--
-- Name: machines_expires_at; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX machines_expires_at ON public.machines USING btree (expires_at);


--
-- Name: machines_hw_serial; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX machines_hw_serial ON public.machines USING btree (hw_serial);


--
-- Name: machines_hw_uuid; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX machines_hw_uuid ON public.machines USING btree (hw_uuid);


--
-- Name: machines_next_credential; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX machines_next_credential ON public.machines USING btree (next_credential_hash);


--
-- Name: machines_owner; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX machines_owner ON public.machines USING btree (owner);


--
-- Name: machines_state; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX machines_state ON public.machines USING btree (state);


--
-- Name: relay_sessions_replica; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX relay_sessions_replica ON public.relay_sessions USING btree (replica);


--
-- Name: sessions_admin; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX sessions_admin ON public.sessions USING btree (admin_id);


--
-- Name: ssh_checks_owner; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ssh_checks_owner ON public.ssh_checks USING btree (owner, confirmed_at);


--
-- Name: ssh_sessions_start; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ssh_sessions_start ON public.ssh_sessions USING btree (start_at);


--
-- Name: team_roles_subject; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX team_roles_subject ON public.team_roles USING btree (kind, subject);


--
-- Name: team_tags_tag; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX team_tags_tag ON public.team_tags USING btree (tag);


--
-- Name: update_history_at; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX update_history_at ON public.update_history USING btree (at);


--
-- Name: update_history_attempt; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX update_history_attempt ON public.update_history USING btree (machine_id, to_version, state, at);


--
-- Name: api_keys api_keys_admin_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.api_keys
    ADD CONSTRAINT api_keys_admin_id_fkey FOREIGN KEY (admin_id) REFERENCES public.admins(id) ON DELETE CASCADE;


--
-- Name: dir_members dir_members_admin_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.dir_members
    ADD CONSTRAINT dir_members_admin_id_fkey FOREIGN KEY (admin_id) REFERENCES public.admins(id) ON DELETE CASCADE;


--
-- Name: dir_members dir_members_group_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.dir_members
    ADD CONSTRAINT dir_members_group_id_fkey FOREIGN KEY (group_id) REFERENCES public.dir_groups(id) ON DELETE CASCADE;


--
-- Name: flag_client_keys flag_client_keys_client_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.flag_client_keys
    ADD CONSTRAINT flag_client_keys_client_id_fkey FOREIGN KEY (client_id) REFERENCES public.flag_clients(id) ON DELETE CASCADE;


--
-- Name: health_reports health_reports_machine_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.health_reports
    ADD CONSTRAINT health_reports_machine_id_fkey FOREIGN KEY (machine_id) REFERENCES public.machines(id) ON DELETE CASCADE;


--
-- Name: sessions sessions_admin_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.sessions
    ADD CONSTRAINT sessions_admin_id_fkey FOREIGN KEY (admin_id) REFERENCES public.admins(id) ON DELETE CASCADE;


--
-- Name: team_roles team_roles_team_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.team_roles
    ADD CONSTRAINT team_roles_team_id_fkey FOREIGN KEY (team_id) REFERENCES public.teams(id) ON DELETE CASCADE;


--
-- Name: team_tags team_tags_team_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.team_tags
    ADD CONSTRAINT team_tags_team_id_fkey FOREIGN KEY (team_id) REFERENCES public.teams(id) ON DELETE CASCADE;


--
-- Name: update_history update_history_machine_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.update_history
    ADD CONSTRAINT update_history_machine_id_fkey FOREIGN KEY (machine_id) REFERENCES public.machines(id) ON DELETE CASCADE;


--
-- PostgreSQL database dump complete
--

\unrestrict fWEbDkTyc2K8peTTXot31Mw82XApzH3Su0apDbFIgtGR5pOufW8KwBhaxL3h7bK

