-- Counts writes to a tag's members (rule recomputes, per-person
-- re-evaluations, manual assignments, imports), so each node's bitmap
-- population reloads only the tags whose version moved since its last load.
ALTER TABLE tags ADD COLUMN members_version BIGINT NOT NULL DEFAULT 0;
