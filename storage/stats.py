"""Counts over the stored Discord history: what `launcher.py stats` reports."""
from __future__ import annotations

import sqlite3

TOP_AUTHORS = 10


def collect_stats(conn: sqlite3.Connection, top: int = TOP_AUTHORS) -> dict:
    """Messages (system messages included), distinct authors (bots included), channels holding messages,
    replies (messages carrying a reference) and those whose referenced message is stored, reactions, the date
    range and the most active authors."""
    messages, authors, channels, replies, first, last = conn.execute(
        "SELECT count(*), count(DISTINCT author_id), count(DISTINCT channel_id), count(reply_to_id), "
        "min(created_at), max(created_at) FROM messages").fetchone()
    replies_resolved = conn.execute(
        "SELECT count(*) FROM messages AS m WHERE m.reply_to_id IS NOT NULL "
        "AND EXISTS (SELECT 1 FROM messages AS target WHERE target.id = m.reply_to_id)").fetchone()[0]
    reacted, reactions = conn.execute(
        "SELECT count(DISTINCT message_id), coalesce(sum(count), 0) FROM reactions").fetchone()
    bots = conn.execute(
        "SELECT count(DISTINCT m.author_id) FROM messages AS m JOIN users AS u ON u.id = m.author_id "
        "WHERE u.is_bot = 1").fetchone()[0]
    top_authors = [
        {"id": author_id, "name": name, "messages": count}
        for author_id, name, count in conn.execute(
            "SELECT m.author_id, coalesce(u.display_name, u.name), count(*) AS n FROM messages AS m "
            "LEFT JOIN users AS u ON u.id = m.author_id GROUP BY m.author_id ORDER BY n DESC, m.author_id "
            "LIMIT ?", (top,))]
    return {"messages": messages, "authors": authors, "bots": bots, "channels": channels, "replies": replies,
            "replies_resolved": replies_resolved, "reactions": reactions, "reacted_messages": reacted,
            "first": first, "last": last, "top_authors": top_authors}
