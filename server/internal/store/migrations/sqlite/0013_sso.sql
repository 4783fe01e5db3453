-- Single sign-on: sign-ins in progress (the state's hash, the nonce and
-- the PKCE verifier the callback checks; a row is used once), and admins
-- that come from the identity provider (no password; sso_subject is the
-- provider's "sub").
CREATE TABLE sso_logins (
    state_hash TEXT PRIMARY KEY,
    nonce      TEXT NOT NULL,
    verifier   TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
ALTER TABLE admins ADD COLUMN sso_subject TEXT;
