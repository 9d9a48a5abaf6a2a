"""The "can't answer" notice for mentions (bot_controller.bot.notices): one plain line, once per channel per hour,
never the admins' reason text. A fake clock; no Discord."""
from __future__ import annotations

import re

import pytest

from bot_controller.bot.notices import (BROKEN_MODEL, NO_MODEL, PAUSED, STALE_MODEL, MentionNotices, reason_kind_of,
                                        user_line)

STALE_DETAIL = ("refusing the model: the model /home/ann/ws/runs/20261124-093012-train-1a2b/export/model-q4_k_m.gguf "
                "is stale: built from the messages of user 304918273645546372, who opted out (since "
                "2026-11-24T09:30:12+00:00); rebuild: launcher.py prepare, then launcher.py train")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_each_reason_gets_its_own_short_line():
    notices = MentionNotices(clock=FakeClock())
    assert notices.line_for(1, PAUSED, "training job 20261124-train-1a2b is using the GPU") == (
        "I can't answer right now: my model is being retrained. Try again later.")
    assert notices.line_for(2, PAUSED, "") == "I can't answer right now: I'm paused. Try again later."
    assert notices.line_for(3, NO_MODEL, "no model: export one (`launcher.py export RUN`) or set model_path") == (
        "I can't answer right now: no model is loaded yet. Try again later.")
    assert notices.line_for(4, STALE_MODEL, STALE_DETAIL) == (
        "I can't answer right now: my model was built from the messages of someone who opted out, so it's switched "
        "off until it's rebuilt.")
    assert "couldn't be loaded" in notices.line_for(5, BROKEN_MODEL, "/x/model.gguf is not a GGUF model file")
    assert notices.line_for(6, "something new", STALE_DETAIL) == "I can't answer right now. Try again later."


def test_a_channel_is_told_at_most_once_an_hour_whatever_the_reason():
    clock = FakeClock()
    notices = MentionNotices(clock=clock)
    assert notices.line_for(10, PAUSED, "training") is not None
    clock.now += 60
    assert notices.line_for(10, PAUSED, "training") is None
    assert notices.line_for(10, STALE_MODEL, STALE_DETAIL) is None  # a new reason within the hour: still quiet
    assert notices.line_for(11, PAUSED, "training") is not None    # another channel is told at once
    clock.now += 3600 - 60 - 1
    assert notices.line_for(10, NO_MODEL, "") is None               # one second short of the hour
    clock.now += 1
    assert notices.line_for(10, NO_MODEL, "") == "I can't answer right now: no model is loaded yet. Try again later."
    assert notices.line_for(10, NO_MODEL, "") is None               # and the hour starts again


def test_the_window_is_configurable_and_old_channels_are_forgotten():
    clock = FakeClock()
    notices = MentionNotices(clock=clock, per_channel_seconds=5)
    for channel in range(100):
        notices.line_for(channel, NO_MODEL, "")
    clock.now += 5
    assert notices.line_for(0, NO_MODEL, "") is not None
    assert len(notices._told) == 1  # a busy server's channels do not pile up past the window


@pytest.mark.parametrize("kind", [PAUSED, NO_MODEL, STALE_MODEL, BROKEN_MODEL, "unknown"])
def test_lines_never_carry_paths_file_names_ids_or_the_admin_reason(kind):
    for detail in (STALE_DETAIL, "training job 20261124-093012-train-1a2b: C:\\Users\\ann\\model.gguf", None):
        line = user_line(kind, detail)
        assert not re.search(r"\d|/|\\|\.gguf|launcher|rebuild|user |since", line), line
        assert len(line) <= 150 and "\n" not in line


def test_the_bots_state_maps_to_a_reason_kind_of():
    assert reason_kind_of(True, "refusing the model: stale") == PAUSED  # paused wins: the model is unloaded anyway
    assert reason_kind_of(False, None) == NO_MODEL
    assert reason_kind_of(False, "no model: export one (`launcher.py export RUN`) or set model_path") == NO_MODEL
    assert reason_kind_of(False, STALE_DETAIL) == STALE_MODEL
    assert reason_kind_of(False, "model file not found: /x/model.gguf") == BROKEN_MODEL
