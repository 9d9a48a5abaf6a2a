"""The shared normalisers: timestamps, message types, snowflakes, mentions."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from core.ingest.records import (RecordError, is_user_message, mentioned_user_ids, normalize_message_type,
                          normalize_timestamp, snowflake)


@pytest.mark.parametrize("text, expected", [
    ("2023-01-06T14:27:11.85+00:00", "2023-01-06T14:27:11.850000+00:00"),
    ("2023-01-06T14:27:11.8512345+00:00", "2023-01-06T14:27:11.851234+00:00"),   # 7 digits: truncated
    ("2023-01-06T14:27:11+05:30", "2023-01-06T08:57:11.000000+00:00"),
    ("2023-01-06T01:00:00.5-08:00", "2023-01-06T09:00:00.500000+00:00"),
    ("2023-01-06T23:59:59.999999-0130", "2023-01-07T01:29:59.999999+00:00"),
    ("2023-01-06 14:27Z", "2023-01-06T14:27:00.000000+00:00"),
    ("2023-01-06T14:27:11,25", "2023-01-06T14:27:11.250000+00:00"),               # no offset: UTC
    ("  2024-02-29T12:00:00+00:00 ", "2024-02-29T12:00:00.000000+00:00"),
])
def test_timestamps_to_utc(text, expected):
    assert normalize_timestamp(text) == expected


def test_timestamp_datetimes_and_empty():
    aware = datetime(2024, 1, 1, 12, tzinfo=timezone(timedelta(hours=2)))
    assert normalize_timestamp(aware) == "2024-01-01T10:00:00.000000+00:00"
    assert normalize_timestamp(datetime(2024, 1, 1, 12)) == "2024-01-01T12:00:00.000000+00:00"
    assert normalize_timestamp(None) is None and normalize_timestamp("") is None


@pytest.mark.parametrize("text", ["yesterday", "2023-13-01T00:00:00Z", "2023-02-30T00:00:00Z",
                                  "2023-01-01T00:00:00+25:00", "2023-01-01T24:00:00Z"])
def test_bad_timestamps_are_record_errors(text):
    with pytest.raises(RecordError):
        normalize_timestamp(text)


@pytest.mark.parametrize("value, expected", [
    ("Default", "Default"), ("reply", "Reply"), ("20", "ChatInputCommand"), (" 19 ", "Reply"), (7, "GuildMemberJoin"),
    ("99", "Type99"), (None, "Default"), ("", "Default"), ("thread_created", "ThreadCreated"),
    ("Brand new", "Brand new"),
])
def test_message_types(value, expected):
    assert normalize_message_type(value) == expected


def test_user_and_system_messages():
    assert is_user_message("Reply") and is_user_message("ChatInputCommand")
    assert not is_user_message("GuildMemberJoin") and not is_user_message("ThreadCreated")


def test_snowflakes():
    assert snowflake("1060927310439657577", "id") == 1060927310439657577 == snowflake(1060927310439657577, "id")
    for bad in ("abc", None, "-5", str(2**63), [1]):
        with pytest.raises(RecordError, match="message id"):
            snowflake(bad, "message id")


def test_mentions_from_both_styles():
    text = "hi <@123456789012345678> and <@!223456789012345678>, not <#323456789012345678> or <@&423456789012345678>"
    assert mentioned_user_ids([523456789012345678, 123456789012345678], text) == [
        123456789012345678, 223456789012345678, 523456789012345678]
    assert mentioned_user_ids([], "") == []


@pytest.mark.parametrize("message_type, forward, bare, same_channel, expected", [
    ("Reply", False, False, True, "Reply"),
    ("Reply", False, False, False, "Reply"),                  # a reply to another channel's message is a reply
    ("ChannelPinnedMessage", False, False, True, "Pin"),
    ("ThreadStarterMessage", False, True, False, "ThreadStarter"),
    ("ThreadCreated", False, False, True, "ThreadCreated"),
    ("ChannelFollowAdd", False, False, False, "ChannelFollow"),
    ("Default", True, True, False, "Forward"),                # DCE 2026+: reference.type Forward
    ("Default", False, True, False, "Forward"),               # older DCE: an empty message pointing elsewhere
    ("Default", False, False, False, "Crosspost"),            # a followed channel's announcement
    ("Default", False, False, True, "Reply"),                 # hand-made or very old exports
    ("ChatInputCommand", False, False, True, "Other"),
])
def test_reference_kinds(message_type, forward, bare, same_channel, expected):
    from core.ingest.records import reference_kind
    assert reference_kind(message_type, forward=forward, bare=bare, same_channel=same_channel) == expected


@pytest.mark.parametrize("value, expected", [("GuildPublicThread", "GuildPublicThread"), ("11", "GuildPublicThread"),
                                             ("10", "GuildNewsThread"), (12, "GuildPrivateThread"),
                                             ("0", "GuildTextChat"), ("99", "Type99"), (None, "Unknown")])
def test_channel_kinds_from_names_and_numbers(value, expected):
    from core.ingest.records import normalize_channel_kind
    assert normalize_channel_kind(value) == expected


def test_csv_timezones():
    from core.ingest.dce_csv import parse_timezone
    assert parse_timezone(None) is None and parse_timezone("local") is None
    assert parse_timezone("UTC") == timezone.utc
    assert parse_timezone("+02:00") == timezone(timedelta(hours=2))
    assert parse_timezone("UTC-5") == timezone(-timedelta(hours=5))
    assert parse_timezone("Europe/Berlin").key == "Europe/Berlin"
    for bad in ("Mars/Olympus", "+25:00", "../etc/passwd"):
        with pytest.raises(ValueError):
            parse_timezone(bad)
