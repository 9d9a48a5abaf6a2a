-- persona_styles: the automatic persona profile (core.dataset.profile) that prepare computes from a persona's
--   training replies and adds to their system message. Its phrases are the person's words: forget and opt-out delete
--   the row. edited: the owner's own line, used instead of the computed one. active: whether the latest prepare used
--   profile lines (dataset.style_profile), so that the bot's prompts match what the model was trained on.
CREATE TABLE persona_styles (
    user_id      INTEGER PRIMARY KEY,
    profile      TEXT NOT NULL,         -- JSON of the computed StyleProfile
    line         TEXT NOT NULL,         -- the computed line
    edited       TEXT,                  -- the owner's line, replaces the computed one when set
    active       INTEGER NOT NULL DEFAULT 1,
    computed_at  TEXT NOT NULL
);
