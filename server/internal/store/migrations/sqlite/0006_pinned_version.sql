-- An admin's choice of agent version for one machine ('' = follow the channel).
ALTER TABLE machines ADD COLUMN pinned_version TEXT NOT NULL DEFAULT '';
