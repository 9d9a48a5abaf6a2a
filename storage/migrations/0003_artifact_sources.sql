-- What each artifact was built from, so that an opt-out or a forget marks only what holds that person's text.
-- built_from: the artifact this one was made from (a run's dataset, an export's or an evaluation's run), or NULL.
-- users_known: 1 when artifact_users lists every author whose text the artifact holds or was trained on; 0 (rows
--   from before this migration, or a dataset folder this app did not write) means "unknown": treat it as holding
--   everyone's text.
ALTER TABLE artifacts ADD COLUMN built_from TEXT;
ALTER TABLE artifacts ADD COLUMN users_known INTEGER NOT NULL DEFAULT 0;

-- artifact_users: (artifact, author) for every author whose messages appear anywhere in it (as a persona's reply or
--   as context in someone else's example) or in the data it was trained on. Ids only, never text.
CREATE TABLE artifact_users (
    artifact_id  INTEGER NOT NULL REFERENCES artifacts(id) ON DELETE CASCADE,
    user_id      INTEGER NOT NULL,
    PRIMARY KEY (artifact_id, user_id)
) WITHOUT ROWID;
CREATE INDEX artifact_users_user ON artifact_users(user_id);
