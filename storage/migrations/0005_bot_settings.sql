-- The running bot's settings, shared by the control panel, the CLI and the bot's own admin commands.
-- bot_settings: one row per global setting, the value as JSON (storage/bot_settings.py knows the keys and types).
-- bot_channels: per-channel overrides: the persona answering there (NULL: the default one), webhook mode.
-- bot_settings_version: one row whose number grows with every change (triggers below, the allowlist included), so
--   the bot notices an edit made anywhere by polling one integer.
-- users.avatar_url: the user's avatar as Discord last showed it (the bot records it live); a webhook reply uses it.
CREATE TABLE bot_settings (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);

CREATE TABLE bot_channels (
    channel_id  INTEGER PRIMARY KEY,
    persona_id  INTEGER,
    webhook     INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE bot_settings_version (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    version  INTEGER NOT NULL
);
INSERT INTO bot_settings_version (id, version) VALUES (1, 0);

ALTER TABLE users ADD COLUMN avatar_url TEXT;

CREATE TRIGGER bot_settings_inserted AFTER INSERT ON bot_settings
BEGIN UPDATE bot_settings_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER bot_settings_updated AFTER UPDATE ON bot_settings
BEGIN UPDATE bot_settings_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER bot_settings_deleted AFTER DELETE ON bot_settings
BEGIN UPDATE bot_settings_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER bot_channels_inserted AFTER INSERT ON bot_channels
BEGIN UPDATE bot_settings_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER bot_channels_updated AFTER UPDATE ON bot_channels
BEGIN UPDATE bot_settings_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER bot_channels_deleted AFTER DELETE ON bot_channels
BEGIN UPDATE bot_settings_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER bot_allowlist_changed AFTER UPDATE OF allowlisted ON channels
BEGIN UPDATE bot_settings_version SET version = version + 1 WHERE id = 1; END;
-- Consent and stale marks change what the bot may say and which model it may use: the bot re-reads them too.
CREATE TRIGGER bot_consent_inserted AFTER INSERT ON consent
BEGIN UPDATE bot_settings_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER bot_consent_updated AFTER UPDATE ON consent
BEGIN UPDATE bot_settings_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER bot_artifact_marked AFTER UPDATE OF stale_since ON artifacts
BEGIN UPDATE bot_settings_version SET version = version + 1 WHERE id = 1; END;
