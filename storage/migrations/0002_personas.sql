-- Personas, consent and what was built from the data.
-- persona_profiles: the owner's edits to a persona (display name, description); personas themselves are discovered
--   from message counts, so a profile row exists only once something was edited.
CREATE TABLE persona_profiles (
    user_id      INTEGER PRIMARY KEY,   -- not a foreign key: the profile must survive a user row being replaced
    name         TEXT,
    description  TEXT,
    updated_at   TEXT NOT NULL
);

-- consent: opt-out applies to ANY user id, stored or not yet imported (an opt-out may come before the import).
--   aliases: the names the user went by (JSON array), kept as a suppression list so that mentions of them in other
--   people's messages can still be hidden after `forget` deleted their user row.
CREATE TABLE consent (
    user_id       INTEGER PRIMARY KEY,
    opted_out     INTEGER NOT NULL,
    aliases       TEXT NOT NULL DEFAULT '[]',
    changed_at    TEXT NOT NULL,
    forgotten_at  TEXT                  -- set by `forget`: their messages and reactions were deleted then
);

-- artifacts: datasets, memory indexes, evaluation files built from the messages. An opt-out or a forget marks every
--   artifact built before it stale (stale_since); the owner rebuilds, and the bot/trainer refuse or warn.
CREATE TABLE artifacts (
    id            INTEGER PRIMARY KEY,
    kind          TEXT NOT NULL,        -- dataset, memory, eval, model
    path          TEXT NOT NULL UNIQUE,
    built_at      TEXT NOT NULL,
    stale_since   TEXT,
    stale_reason  TEXT
);
