-- Consent that every writer consults, home servers, and what each channel shows to everyone.
-- consent_version: one row whose number grows with every consent change (opt-out, opt-in, forget), so a job that read
--   people's text (prepare, embed) can tell, under the workspace's consent lock, whether consent moved while it ran.
-- channels.everyone_reads: 1 when @everyone can read the channel (fetch and the bot record it from Discord), 0 when
--   not, NULL when unknown (an imported export): the playground recalls memories only from channels known to be 1.
-- bot_guild_notices: the servers outside the home ones where the bot said once that it serves another server.
CREATE TABLE consent_version (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    version  INTEGER NOT NULL
);
INSERT INTO consent_version (id, version) VALUES (1, 0);
CREATE TRIGGER consent_version_inserted AFTER INSERT ON consent
BEGIN UPDATE consent_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER consent_version_updated AFTER UPDATE ON consent
BEGIN UPDATE consent_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER consent_version_deleted AFTER DELETE ON consent
BEGIN UPDATE consent_version SET version = version + 1 WHERE id = 1; END;

ALTER TABLE channels ADD COLUMN everyone_reads INTEGER;

CREATE TABLE bot_guild_notices (
    guild_id    INTEGER PRIMARY KEY,
    noticed_at  TEXT NOT NULL
);

-- A workspace from before home servers: the servers of its allowlisted channels are the ones the bot serves.
INSERT INTO bot_settings (key, value)
SELECT 'home_guild_ids', json_group_array(guild_id) FROM (SELECT DISTINCT guild_id FROM channels
                                                        WHERE allowlisted = 1 AND guild_id IS NOT NULL)
WHERE NOT EXISTS (SELECT 1 FROM bot_settings WHERE key = 'home_guild_ids')
HAVING COUNT(*) > 0;
