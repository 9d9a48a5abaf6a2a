-- Curation marks from the panel's Dataset page: one row per reviewed training example.
-- message_id: the example's stable id, the target turn's message id (meta.message_id of every JSONL row that
--   core/dataset writes; the same message gives the same example at every prepare, so a mark survives a re-prepare).
-- persona_id: whose example it is (filtering, and forget).
-- mark: 'good' (reviewed, kept) or 'bad' (dropped at the next prepare; with better_answer it becomes a DPO pair:
--   chosen = better_answer, rejected = the example's answer).
-- A mark goes with the text it is about: deleting the message (forget, a deleted Discord message) or the user
-- deletes the mark, so no curation row outlives the person's text.
CREATE TABLE curation (
    message_id     INTEGER PRIMARY KEY,
    persona_id     INTEGER NOT NULL,
    mark           TEXT NOT NULL CHECK (mark IN ('good', 'bad')),
    better_answer  TEXT,
    marked_at      TEXT NOT NULL
);
CREATE INDEX curation_persona ON curation (persona_id);

CREATE TRIGGER curation_message_deleted AFTER DELETE ON messages
BEGIN DELETE FROM curation WHERE message_id = OLD.id; END;
CREATE TRIGGER curation_user_deleted AFTER DELETE ON users
BEGIN DELETE FROM curation WHERE persona_id = OLD.id; END;
