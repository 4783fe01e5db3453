-- The company's directory (issue 38): people are the accounts of the
-- admins table (role admin or member), provisioned by SCIM or by their
-- first single sign-on; groups and memberships come from SCIM's /Groups or
-- the OIDC groups claim. active = 0: deprovisioned (no sign-in, no API
-- key, no session). machines.owner_groups: the directory groups of the
-- machine's owner while the owner is active (a JSON list, versioned like
-- any machine attribute: a membership change is a map change of the
-- owner's machines). enroll_tokens.owner: the person whose machines its
-- enrollments are. scim_tokens: the bearer tokens an identity provider
-- provisions with (hashes only).
ALTER TABLE admins ADD COLUMN active INTEGER NOT NULL DEFAULT 1;
ALTER TABLE admins ADD COLUMN external_id TEXT;
ALTER TABLE admins ADD COLUMN display_name TEXT;
ALTER TABLE admins ADD COLUMN updated_at BIGINT;
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
CREATE INDEX dir_members_admin ON dir_members (admin_id);
CREATE TABLE scim_tokens (
    id           TEXT PRIMARY KEY,
    prefix       TEXT NOT NULL,
    hash         TEXT NOT NULL UNIQUE,
    created_by   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT
);
ALTER TABLE machines ADD COLUMN owner_groups TEXT;
CREATE INDEX machines_owner ON machines (owner);
ALTER TABLE enroll_tokens ADD COLUMN owner TEXT;
