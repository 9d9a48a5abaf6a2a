"""The mapping from DiscordChatExporter's JSON objects (a message, its author, reactions, attachments, the export
header) to storage rows. The live fetcher's mapping uses the same ``core.ingest.records`` normalisers, so one
message stores the same row either way."""
from __future__ import annotations

from datetime import datetime, timezone

from core.ingest.records import (MESSAGE_TYPES, THREAD_KINDS, RecordError, mentioned_user_ids,
                                 normalize_channel_kind, normalize_message_type, normalize_timestamp, reference_kind,
                                 shown_text, snowflake)
from storage.rows import ChannelRow, GuildRow, MessageRow, UserRow

USER_CACHE_LIMIT = 100_000  # distinct (id, name, nickname, bot) seen; authors repeat, so most lookups hit
CANONICAL_TYPES = frozenset(MESSAGE_TYPES.values())
_users: dict[tuple, UserRow] = {}


def message_from_dce(raw: dict, channel_id: int) -> tuple[MessageRow, list[UserRow]]:
    """One DCE message object → its row, plus the users it names (the author first, then mentioned users)."""
    if not isinstance(raw, dict):
        raise RecordError("a message is not a JSON object")
    message_id = snowflake(raw.get("id"), "message id")
    try:
        author = user_from_dce(raw.get("author"), "author")
        content = raw.get("content")
        if content is None:
            content = ""
        elif not isinstance(content, str):
            raise RecordError("content is not text")
        mentioned = [user_from_dce(user, "mentioned user") for user in listed(raw, "mentions")]
        # mentioned_user_ids also reads raw <@id> markup; most messages have neither
        mentions = tuple(mentioned_user_ids([user.id for user in mentioned], content)) \
            if mentioned or "<@" in content else ()
        kind = message_type(raw.get("type"))
        urls = tuple(attachment_url(item) for item in listed(raw, "attachments"))
        embeds, stickers, forwarded = listed(raw, "embeds"), listed(raw, "stickers"), raw.get("forwardedMessage")
        if forwarded is not None and not isinstance(forwarded, dict):
            raise RecordError("forwardedMessage is not an object")
        reference_id, link = reference_of(raw.get("reference"), kind, channel_id, forward=forwarded is not None,
                                          bare=not content and not urls and not embeds and not stickers)
        shown = None
        if embeds or stickers or forwarded:
            parts = visible_parts(embeds, stickers)
            if forwarded:
                parts += visible_parts(listed(forwarded, "embeds"), listed(forwarded, "stickers"))
            shown = shown_text(parts)
        row = MessageRow(
            id=message_id, channel_id=channel_id, author_id=author.id,
            created_at=timestamp(raw.get("timestamp"), "timestamp") or missing("timestamp"),
            edited_at=timestamp(raw.get("timestampEdited"), "timestampEdited"),
            type=kind, content=content,
            reply_to_id=reference_id if link == "Reply" else None,
            mentions=mentions, attachment_urls=urls, pinned=raw.get("isPinned") is True,
            reactions=tuple(reaction_from_dce(item) for item in listed(raw, "reactions")),
            reference_id=reference_id, reference_kind=link,
            forwarded_content=forwarded_text(forwarded), visible_text=shown)
    except RecordError as exc:
        raise RecordError(f"message {message_id}: {exc}") from None
    return row, [author, *mentioned]


def reference_of(reference, kind: str, channel_id: int, *, forward: bool, bare: bool) -> tuple[int | None, str | None]:
    """(referenced message id, reference kind) of DCE's ``reference`` object (type, messageId, channelId, guildId)."""
    if reference is None:
        return None, None
    if not isinstance(reference, dict):
        raise RecordError("reference is not an object")
    target, target_channel = reference.get("messageId"), reference.get("channelId")
    link = reference_kind(kind, forward=forward or reference.get("type") == "Forward", bare=bare,
                          same_channel=target_channel is None or str(target_channel) == str(channel_id))
    return (None if target is None else snowflake(target, "reference.messageId")), link


def visible_parts(embeds: list, stickers: list) -> list:
    """Embed titles and descriptions, then sticker names, as DCE writes them (markdown already formatted)."""
    parts = []
    for embed in embeds:
        if isinstance(embed, dict):
            parts += [embed.get("title"), embed.get("description")]
    return parts + [sticker.get("name") for sticker in stickers if isinstance(sticker, dict)]


def forwarded_text(forwarded: dict | None) -> str | None:
    if forwarded is None:
        return None
    content = forwarded.get("content")
    if content is not None and not isinstance(content, str):
        raise RecordError("forwardedMessage.content is not text")
    return content or ""


def user_from_dce(raw, what: str) -> UserRow:
    """Display name: the export's nickname (guild nick or global name) when present, else the user name."""
    if not isinstance(raw, dict):
        raise RecordError(f"{what} is not an object")
    key = (raw.get("id"), raw.get("name"), raw.get("nickname"), raw.get("isBot"))
    try:
        return _users[key]
    except KeyError:
        pass
    except TypeError:  # a list or object where text belongs: build the row, never cache it
        return new_user(raw, what)
    if len(_users) >= USER_CACHE_LIMIT:
        _users.clear()
    user = _users[key] = new_user(raw, what)
    return user


def new_user(raw: dict, what: str) -> UserRow:
    user_id = snowflake(raw.get("id"), f"{what} id")
    name, nickname = raw.get("name"), raw.get("nickname")
    name = name if isinstance(name, str) and name else str(user_id)
    return UserRow(user_id, name, nickname if isinstance(nickname, str) and nickname else name,
                   raw.get("isBot") is True)


def reaction_from_dce(raw) -> tuple[str, int]:
    """(emoji, count); the emoji as discord.py's ``str(emoji)`` writes it: the character, or ``<:name:id>``."""
    emoji = raw.get("emoji") if isinstance(raw, dict) else None
    if not isinstance(emoji, dict) or not isinstance(emoji.get("name"), str):
        raise RecordError("a reaction has no emoji name")
    count = raw.get("count", 0)
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise RecordError(f"a reaction count is not a count: {str(count)[:20]!r}")
    emoji_id = emoji.get("id")
    if not emoji_id:
        return emoji["name"], count
    animated = "a" if emoji.get("isAnimated") is True else ""
    return f"<{animated}:{emoji['name']}:{snowflake(emoji_id, 'emoji id')}>", count


def attachment_url(raw) -> str:
    url = raw.get("url") if isinstance(raw, dict) else None
    if not isinstance(url, str):
        raise RecordError("an attachment has no url")
    return url


def listed(raw: dict | None, key: str) -> list:
    value = raw.get(key) if raw is not None else None
    if value is None:
        return []
    if not isinstance(value, list):
        raise RecordError(f"{key} is not a list")
    return value


def timestamp(value, what: str) -> str | None:
    """core.ingest.records.normalize_timestamp's result; the C ISO parser first, as it is several times faster."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise RecordError(f"{what} is not text")
    try:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            moment = None
        if moment is not None and moment.tzinfo is not None and len(value) >= 19:
            return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")
        return normalize_timestamp(value)  # other shapes (and the one clear error message)
    except OverflowError:
        raise RecordError(f"{what} {value[:40]!r} is out of range") from None


def missing(what: str):
    raise RecordError(f"no {what}")


def message_type(value) -> str:
    if type(value) is str and value in CANONICAL_TYPES:
        return value
    if value is not None and (not isinstance(value, (str, int)) or isinstance(value, bool)):
        raise RecordError(f"type {str(value)[:20]!r} is neither a name nor a number")
    return normalize_message_type(value)


def rows_from_header(header: dict) -> tuple[GuildRow | None, list[ChannelRow], int]:
    """The guild, the channel (a thread's parent as a placeholder first) and the channel id of a JSON export."""
    guild, channel = header.get("guild"), header["channel"]
    guild_row = None
    if isinstance(guild, dict) and guild.get("id") is not None:
        guild_row = GuildRow(snowflake(guild["id"], "guild id"), text(guild.get("name")),
                             text(guild.get("iconUrl")) or None)
    guild_id = guild_row.id if guild_row else None
    channel_id = snowflake(channel.get("id"), "channel id")
    kind = normalize_channel_kind(channel.get("type"))
    rows, parent_id, category = [], None, text(channel.get("category")) or None
    if kind in THREAD_KINDS and channel.get("categoryId") and str(channel["categoryId"]) != "0":
        # DCE names a thread's parent channel in the category fields; the parent's own file may come later
        parent_id = snowflake(channel["categoryId"], "thread parent id")
        rows.append(ChannelRow(parent_id, guild_id, "Unknown", category or str(parent_id)))
        category = None
    rows.append(ChannelRow(channel_id, guild_id, kind, text(channel.get("name")) or str(channel_id), parent_id,
                           category, text(channel.get("topic")) or None))
    return guild_row, rows, channel_id


def text(value) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)
