-- Replies the bot sent, counted per calendar day (the machine's local date, as the Dashboard's "replies today"
-- means it), so the count survives bot restarts and the panel can read it without asking the bot.
-- day: YYYY-MM-DD; replies: messages the bot answered that day (a reply split into several parts counts once).
CREATE TABLE bot_daily_replies (
    day      TEXT PRIMARY KEY,
    replies  INTEGER NOT NULL DEFAULT 0 CHECK (replies >= 0)
);
