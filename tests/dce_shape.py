"""DiscordChatExporter's output, rebuilt in code from its writer source (Tyrrrz/DiscordChatExporter,
``DiscordChatExporter.Core/Exporting/JsonMessageWriter.cs``, ``CsvMessageWriter.cs``, ``ExportRequest.cs``,
``MessageExporter.cs``), for the conformance tests.

Keys come in the writer's order. ``render`` lays a document out as Utf8JsonWriter does: ``indented-crlf`` is
``Indented = true`` on Windows (two spaces, ``"key": value``, Environment.NewLine = CRLF), ``minified`` is the
compact form (a re-saved or hand-compacted export), ``one-per-line`` the indented header with each message compact
on its own line (what line-oriented tools such as ``jq -c`` leave when an export is rewritten). Enum values DCE has
no name for are written as numbers (``MessageKind`` stops at Reply = 19, so a thread's starter stub is ``"21"``;
before 2.35 ``ChannelKind`` had no thread kinds, so a thread was ``"11"``). ``reference.type`` exists since 2026
(forwards); ``exportedAt`` since 2.40.1. CSV: a header line, then every field quoted with ``"`` doubled, rows
ended by WriteLine (CRLF on Windows).
"""
from __future__ import annotations

import json

LAYOUTS = ("indented-crlf", "minified", "one-per-line")
GUILD = {"id": "748545324524575035", "name": "Example guild", "iconUrl": "https://cdn.discordapp.com/icons/1/a.png"}


def user(user_id: int, name: str, nickname: str | None = None, *, bot: bool = False) -> dict:
    return {"id": str(user_id), "name": name, "discriminator": "0000", "nickname": nickname or name,
            "color": None, "isBot": bot, "roles": [], "avatarUrl": "https://cdn.discordapp.com/embed/avatars/0.png"}


def emoji(name: str, emoji_id: str = "") -> dict:
    return {"id": emoji_id, "name": name, "code": name, "isAnimated": False,
            "imageUrl": "https://cdn.jsdelivr.net/gh/twitter/twemoji@latest/assets/svg/1f44d.svg"}


def reaction(name: str, count: int) -> dict:
    return {"emoji": emoji(name), "count": count, "users": []}


def embed(title: str = "", description: str = "", url: str | None = None) -> dict:
    return {"title": title, "url": url, "timestamp": None, "description": description, "images": [], "fields": [],
            "inlineEmojis": []}


def sticker(sticker_id: int, name: str) -> dict:
    return {"id": str(sticker_id), "name": name, "format": "Png",
            "sourceUrl": f"https://media.discordapp.net/stickers/{sticker_id}.png"}


def reference(message_id: int | None, channel_id: int, guild_id: str = GUILD["id"], kind: str | None = "Default"
              ) -> dict:
    """``kind`` None: the shape before 2026, when DCE wrote no reference type."""
    fields = {} if kind is None else {"type": kind}
    return {**fields, "messageId": None if message_id is None else str(message_id), "channelId": str(channel_id),
            "guildId": guild_id}


def forwarded(content: str, timestamp: str, embeds=(), stickers=()) -> dict:
    return {"timestamp": timestamp, "timestampEdited": None, "content": content, "attachments": [],
            "embeds": list(embeds), "stickers": list(stickers)}


def message(message_id: int, author: dict, content: str = "", *, kind: str = "Default",
            timestamp: str = "2024-03-01T14:05:00.000+00:00", edited: str | None = None, pinned: bool = False,
            embeds=(), stickers=(), reactions=(), mentions=(), ref: dict | None = None, forward: dict | None = None
            ) -> dict:
    """A message as WriteMessageAsync writes it; reference and forwardedMessage only when present."""
    written = {"id": str(message_id), "type": kind, "timestamp": timestamp, "timestampEdited": edited,
               "callEndedTimestamp": None, "isPinned": pinned, "content": content, "author": author,
               "attachments": [], "embeds": list(embeds), "stickers": list(stickers), "reactions": list(reactions),
               "mentions": list(mentions)}
    if ref is not None:
        written["reference"] = ref
    if forward is not None:
        written["forwardedMessage"] = forward
    written["inlineEmojis"] = []
    return written


def channel(channel_id: int, name: str, kind: str = "GuildTextChat", *, parent_id: int | None = None,
            parent: str | None = None) -> dict:
    """The preamble's channel: for a thread, categoryId/category name the parent channel (DCE's comment says so)."""
    return {"id": str(channel_id), "type": kind, "categoryId": None if parent_id is None else str(parent_id),
            "category": parent, "name": name, "topic": None}


def export(channel_object: dict, messages: list[dict], *, exported_at: str | None = "2024-03-02T10:00:00.0000000+00:00"
           ) -> dict:
    """A whole export; ``exported_at`` None: the shape before 2.40.1 (no exportedAt key)."""
    document = {"guild": GUILD, "channel": channel_object, "dateRange": {"after": None, "before": None}}
    if exported_at is not None:
        document["exportedAt"] = exported_at
    document["messages"] = messages
    document["messageCount"] = len(messages)
    return document


def render(document: dict, layout: str) -> bytes:
    if layout == "indented-crlf":
        text = json.dumps(document, indent=2, ensure_ascii=False).replace("\n", "\r\n")
    elif layout == "minified":
        text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    elif layout == "one-per-line":
        lines = ",\n    ".join(json.dumps(item, ensure_ascii=False) for item in document["messages"])
        text = json.dumps({**document, "messages": ["\0"]}, indent=2, ensure_ascii=False).replace('"\\u0000"', lines)
    else:
        raise ValueError(layout)
    return text.encode("utf-8")


def file_name(channel_name: str, channel_id: int, parent: str | None = "Text Channels", *, after: str | None = None,
              before: str | None = None, part: int = 1, extension: str = "json") -> str:
    """ExportRequest.GetDefaultOutputFileName, then MessageExporter.GetPartitionFilePath."""
    name = GUILD["name"] + (f" - {parent}" if parent else "") + f" - {channel_name} [{channel_id}]"
    if after and before:
        name += f" ({after} to {before})"
    elif after:
        name += f" (after {after})"
    elif before:
        name += f" (before {before})"
    return name + (f" [part {part}]" if part > 1 else "") + f".{extension}"


def csv_export(rows: list[tuple], newline: str = "\r\n") -> bytes:
    """CsvMessageWriter: rows of (author id, author full name, date, content, attachment urls, reactions text)."""
    def encode(value) -> str:
        return '"' + str(value).replace('"', '""') + '"'
    lines = ["AuthorID,Author,Date,Content,Attachments,Reactions"]
    lines += [",".join(encode(value) for value in row) for row in rows]
    return "".join(line + newline for line in lines).encode("utf-8")
