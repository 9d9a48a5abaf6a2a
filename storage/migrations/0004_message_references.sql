-- What DiscordChatExporter writes beyond a reply: every reference kept apart from replies, a forward's text, the text
-- an embed or sticker shows, and when the stored copy was seen (so an older export never overwrites a newer one).
--   reference_id:      the referenced message of any reference (reply, pin notice, forward, crosspost, thread starter)
--   reference_kind:    Reply, Forward, Pin, ThreadStarter, ThreadCreated, ChannelFollow, Crosspost, Other; NULL: none.
--                      reply_to_id is set only for Reply.
--   forwarded_content: a forward's forwarded text (content stays what the forwarding user wrote, usually nothing)
--   visible_text:      embed titles/descriptions and sticker names, one a line (a forward's included)
--   seen_at:           when the source saw this copy: the export's exportedAt (else the file's time), or the fetch
ALTER TABLE messages ADD COLUMN reference_id INTEGER;
ALTER TABLE messages ADD COLUMN reference_kind TEXT;
ALTER TABLE messages ADD COLUMN forwarded_content TEXT;
ALTER TABLE messages ADD COLUMN visible_text TEXT;
ALTER TABLE messages ADD COLUMN seen_at TEXT;

-- Rows stored before: every reference sat in reply_to_id. Sort them by type as core.ingest.records.reference_kind
-- does (without the reference's channel, a Default message with text stays a reply until it is imported again).
UPDATE messages SET reference_id = reply_to_id,
    reference_kind = CASE type
        WHEN 'Reply' THEN 'Reply'
        WHEN 'ChannelPinnedMessage' THEN 'Pin'
        WHEN 'ThreadStarterMessage' THEN 'ThreadStarter'
        WHEN 'ThreadCreated' THEN 'ThreadCreated'
        WHEN 'ChannelFollowAdd' THEN 'ChannelFollow'
        WHEN 'Default' THEN CASE WHEN content = '' AND attachment_count = 0 THEN 'Forward' ELSE 'Reply' END
        ELSE 'Other' END
WHERE reply_to_id IS NOT NULL;
UPDATE messages SET reply_to_id = NULL WHERE reference_kind IS NOT NULL AND reference_kind != 'Reply';
CREATE INDEX messages_reference ON messages(reference_id);
