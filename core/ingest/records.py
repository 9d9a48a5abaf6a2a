"""The stored shape of Discord data, shared by the export importer and the live fetcher.

Both paths build these rows through the same normalisers (timestamps, message types, mentions), so one message
stores the same row whichever way it arrived.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from storage.rows import ChannelRow, GuildRow, MessageBatch, MessageRow, UserRow  # noqa: F401  (re-exported)

# Discord's message type numbers with the names DiscordChatExporter writes; other numbers arrive as strings ("20").
MESSAGE_TYPES = {
    0: "Default", 1: "RecipientAdd", 2: "RecipientRemove", 3: "Call", 4: "ChannelNameChange",
    5: "ChannelIconChange", 6: "ChannelPinnedMessage", 7: "GuildMemberJoin", 8: "UserPremiumGuildSubscription",
    9: "UserPremiumGuildSubscriptionTier1", 10: "UserPremiumGuildSubscriptionTier2",
    11: "UserPremiumGuildSubscriptionTier3", 12: "ChannelFollowAdd", 14: "GuildDiscoveryDisqualified",
    15: "GuildDiscoveryRequalified", 16: "GuildDiscoveryGracePeriodInitialWarning",
    17: "GuildDiscoveryGracePeriodFinalWarning", 18: "ThreadCreated", 19: "Reply", 20: "ChatInputCommand",
    21: "ThreadStarterMessage", 22: "GuildInviteReminder", 23: "ContextMenuCommand", 24: "AutoModerationAction",
    25: "RoleSubscriptionPurchase", 26: "InteractionPremiumUpsell", 27: "StageStart", 28: "StageEnd",
    29: "StageSpeaker", 31: "StageTopic", 32: "GuildApplicationPremiumSubscription",
    36: "GuildIncidentAlertModeEnabled", 37: "GuildIncidentAlertModeDisabled", 38: "GuildIncidentReportRaid",
    39: "GuildIncidentReportFalseAlarm", 44: "PurchaseNotification", 46: "PollResult",
}
TYPE_BY_LOWER_NAME = {name.lower(): name for name in MESSAGE_TYPES.values()}
# Types whose content a person wrote; everything else is a system message.
USER_MESSAGE_TYPES = frozenset({"Default", "Reply", "ChatInputCommand", "ContextMenuCommand"})
# Discord's channel type numbers with DCE's ChannelKind names: DCE before 2.35 had no thread kinds and wrote a
# thread's type as its number ("11"); live fetch maps discord.ChannelType values through the same table.
CHANNEL_KINDS = {
    0: "GuildTextChat", 1: "DirectTextChat", 2: "GuildVoiceChat", 3: "DirectGroupTextChat", 4: "GuildCategory",
    5: "GuildNews", 6: "GuildStore", 10: "GuildNewsThread", 11: "GuildPublicThread", 12: "GuildPrivateThread",
    13: "GuildStageVoice", 14: "GuildDirectory", 15: "GuildForum", 16: "GuildMedia",
}
THREAD_KINDS = frozenset({"GuildPublicThread", "GuildPrivateThread", "GuildNewsThread"})
# What a message's reference means, by message type (MessageReference is written for all of them). Only "Reply"
# fills reply_to_id; the others keep the referenced id in reference_id.
REFERENCE_KIND_BY_TYPE = {"Reply": "Reply", "ChannelPinnedMessage": "Pin", "ThreadStarterMessage": "ThreadStarter",
                          "ThreadCreated": "ThreadCreated", "ChannelFollowAdd": "ChannelFollow"}

ISO_TIMESTAMP = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$",
    re.IGNORECASE)
RAW_USER_MENTION = re.compile(r"<@!?(\d{15,21})>")


class RecordError(ValueError):
    """A value in an export or API payload cannot be stored (bad timestamp, missing id...)."""


def normalize_timestamp(value: str | datetime | None) -> str | None:
    """Any ISO 8601 timestamp (any UTC offset, any number of fraction digits) → UTC ISO with microseconds."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    else:
        match = ISO_TIMESTAMP.match(value.strip())
        if not match:
            raise RecordError(f"not an ISO 8601 timestamp: {value[:40]!r}")
        year, month, day, hour, minute, second, fraction, offset = match.groups()
        micro = int((fraction or "0")[:6].ljust(6, "0"))
        try:
            moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0), micro,
                              tzinfo=parse_offset(offset))
        except ValueError as exc:
            raise RecordError(f"invalid timestamp {value[:40]!r}: {exc}") from None
    try:
        return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")
    except OverflowError:  # an offset pushing year 1 or 9999 out of range
        raise RecordError(f"timestamp out of range: {str(value)[:40]!r}") from None


def parse_offset(offset: str | None) -> timezone:
    if offset is None or offset.upper() == "Z":
        return timezone.utc
    sign = -1 if offset[0] == "-" else 1
    digits = offset[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
    if hours > 23 or minutes > 59:
        raise RecordError(f"invalid UTC offset {offset!r}")
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def normalize_message_type(value: str | int | None) -> str:
    """DCE names ("Reply"), numbers (19), numeric strings ("20") and discord.py enum names → canonical name."""
    if value is None or value == "":
        return "Default"
    if isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit()):
        number = int(value)
        return MESSAGE_TYPES.get(number, f"Type{number}")
    text = str(value).strip()
    return TYPE_BY_LOWER_NAME.get(text.lower().replace("_", ""), text)


def normalize_channel_kind(value) -> str:
    """DCE's ChannelKind name, from a name or a (numeric string) number; "Unknown" when there is none."""
    text = "" if value is None else str(value).strip()
    if text.isdigit():
        return CHANNEL_KINDS.get(int(text), f"Type{text}")
    return text or "Unknown"


def reference_kind(message_type: str, *, forward: bool, bare: bool, same_channel: bool) -> str:
    """What a message's reference is: Reply, Forward, Pin, ThreadStarter, ThreadCreated, ChannelFollow, Crosspost,
    Other. ``forward``: the reference says so (DCE 2026+: reference.type "Forward", or a forwardedMessage);
    ``bare``: the message has no content, attachment, embed or sticker (how older DCE versions wrote a forward);
    ``same_channel``: the referenced message is in the message's own channel."""
    if forward:
        return "Forward"
    kind = REFERENCE_KIND_BY_TYPE.get(message_type)
    if kind is not None:
        return kind
    if message_type != "Default":
        return "Other"
    if bare:
        return "Forward"
    # a crosspost (a followed channel's announcement) points to its source channel; a Default message with text
    # pointing into its own channel is a reply as hand-made and very old exports write one
    return "Reply" if same_channel else "Crosspost"


def shown_text(parts) -> str | None:
    """The text a message shows besides its content (embed titles and descriptions, sticker names), one part a
    line; None when there is none."""
    lines = [part.strip() for part in parts if isinstance(part, str) and part.strip()]
    return "\n".join(lines) if lines else None


def is_user_message(message_type: str) -> bool:
    return message_type in USER_MESSAGE_TYPES


def snowflake(value, what: str) -> int:
    """A Discord id from an int or a numeric string; anything else is a RecordError naming what it was."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise RecordError(f"{what} is not a Discord id: {str(value)[:40]!r}") from None
    if number < 0 or number >= 2**63:
        raise RecordError(f"{what} is out of range: {number}")
    return number


def mentioned_user_ids(explicit_ids, content: str) -> list[int]:
    """Mentioned users: the payload's list plus raw ``<@id>``/``<@!id>`` in the text, sorted, unique."""
    ids = {int(i) for i in explicit_ids}
    ids.update(int(m) for m in RAW_USER_MENTION.findall(content or ""))
    return sorted(ids)
