-- Discord history as imported or fetched. Ids are Discord snowflakes (time-ordered 64-bit integers).
CREATE TABLE guilds (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    icon_url    TEXT
);

CREATE TABLE channels (
    id                INTEGER PRIMARY KEY,
    guild_id          INTEGER REFERENCES guilds(id),
    parent_id         INTEGER,             -- the text/forum channel of a thread; not a foreign key: a thread may arrive first
    kind              TEXT NOT NULL,       -- GuildTextChat, GuildPublicThread, GuildForum, ...
    name              TEXT NOT NULL,
    category          TEXT,
    topic             TEXT,
    allowlisted       INTEGER NOT NULL DEFAULT 0,
    newest_stored_id  INTEGER,             -- fetch checkpoint: incremental fetch continues after this id
    oldest_stored_id  INTEGER,             -- fetch checkpoint: backfill continues before this id
    backfill_complete INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX channels_guild ON channels(guild_id);
CREATE INDEX channels_parent ON channels(parent_id);

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL,
    display_name  TEXT,
    is_bot        INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE messages (
    id                INTEGER PRIMARY KEY,
    channel_id        INTEGER NOT NULL REFERENCES channels(id),
    author_id         INTEGER NOT NULL REFERENCES users(id),
    created_at        TEXT NOT NULL,       -- ISO 8601 in UTC, microseconds: 2025-01-09T14:21:43.813000+00:00
    edited_at         TEXT,
    type              TEXT NOT NULL,       -- canonical Discord message type name (Default, Reply, GuildMemberJoin, ...)
    content           TEXT NOT NULL,
    reply_to_id       INTEGER,             -- kept even when the target is not stored (dangling reply)
    mentions          TEXT NOT NULL DEFAULT '[]',   -- JSON array of mentioned user ids
    attachment_count  INTEGER NOT NULL DEFAULT 0,
    attachment_urls   TEXT NOT NULL DEFAULT '[]',   -- JSON array of URLs
    pinned            INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX messages_channel ON messages(channel_id, id);
CREATE INDEX messages_author ON messages(author_id);
CREATE INDEX messages_reply ON messages(reply_to_id);

CREATE TABLE reactions (
    message_id  INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    emoji       TEXT NOT NULL,
    count       INTEGER NOT NULL,
    PRIMARY KEY (message_id, emoji)
) WITHOUT ROWID;
