-- Teams (issue 38): administration scoped to the machines of the tags a
-- team owns. team_tags: the tags a team owns (a machine belongs to the
-- teams owning one of its tags). team_roles: who is a team's admin or
-- member — a person directly (kind 'person', subject an account ID) or
-- everyone in a directory group (kind 'group', subject the group's name).
-- Tokens and machines need no column: what a team manages follows from
-- their tags.
CREATE TABLE teams (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);
CREATE TABLE team_tags (
    team_id TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    tag     TEXT NOT NULL,
    PRIMARY KEY (team_id, tag)
);
CREATE INDEX team_tags_tag ON team_tags (tag);
CREATE TABLE team_roles (
    team_id TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    kind    TEXT NOT NULL,
    subject TEXT NOT NULL,
    role    TEXT NOT NULL,
    PRIMARY KEY (team_id, kind, subject)
);
CREATE INDEX team_roles_subject ON team_roles (kind, subject);
