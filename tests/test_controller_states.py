"""The supervisor's pure transition function, table-driven: every state against every input that matters."""
from __future__ import annotations

import pytest

from bot_controller.protocol import EXIT_BAD_TOKEN, EXIT_CONFIG
from bot_controller.states import (Beat, CancelRetry, Context, Exited, Kill, KillNow, LaunchFailed, Note, Policy,
                                   ResetBudget, Restart, ScheduleRetry, SendStop, SetRestartAfterStop, Spawn, Start,
                                   State, Stop, Terminate, Tick, backoff_delay, transition)

S = State
POLICY = Policy(heartbeat_seconds=5, missed_heartbeats=3, start_timeout=60, backoff_base=1, backoff_cap=8,
                max_restarts=5, restart_window=3600, stable_seconds=300, stop_grace=15, terminate_grace=5)
NOW = 10_000.0


def ctx(**facts) -> Context:
    return Context(now=NOW, policy=POLICY, **facts)


def kinds(actions) -> list[str]:
    return [type(action).__name__ for action in actions]


# (name, state, input, facts, expected state, expected action kinds)
TABLE = [
    ("start from stopped", S.STOPPED, Start(), {}, S.STARTING, ["CancelRetry", "ResetBudget", "Spawn", "Note"]),
    ("start from fatal resets the budget", S.FATAL, Start(), {"failures": 5}, S.STARTING,
     ["CancelRetry", "ResetBudget", "Spawn", "Note"]),
    ("start from exited", S.EXITED, Start(), {}, S.STARTING, ["CancelRetry", "ResetBudget", "Spawn", "Note"]),
    ("start during backoff starts now", S.BACKOFF, Start(), {"retry_at": NOW + 5}, S.STARTING,
     ["CancelRetry", "ResetBudget", "Spawn", "Note"]),
    ("start while starting is a no-op", S.STARTING, Start(), {}, S.STARTING, []),
    ("start while running is a no-op", S.RUNNING, Start(), {}, S.RUNNING, []),
    ("start while stopping starts after", S.STOPPING, Start(), {}, S.STOPPING, ["SetRestartAfterStop"]),
    ("stop while running", S.RUNNING, Stop(), {}, S.STOPPING, ["SetRestartAfterStop", "SendStop", "Note"]),
    ("stop while starting", S.STARTING, Stop(), {}, S.STOPPING, ["SetRestartAfterStop", "SendStop", "Note"]),
    ("stop while stopped", S.STOPPED, Stop(), {}, S.STOPPED, []),
    ("stop during backoff cancels the retry", S.BACKOFF, Stop(), {"retry_at": NOW + 5}, S.STOPPED,
     ["CancelRetry", "Note"]),
    ("stop acknowledges fatal", S.FATAL, Stop(), {}, S.STOPPED, ["CancelRetry", "Note"]),
    ("stop while stopping cancels a pending restart", S.STOPPING, Stop(), {"restart_after_stop": True}, S.STOPPING,
     ["SetRestartAfterStop"]),
    ("restart while running", S.RUNNING, Restart(), {}, S.STOPPING, ["SetRestartAfterStop", "SendStop", "Note"]),
    ("restart while stopping", S.STOPPING, Restart(), {}, S.STOPPING, ["SetRestartAfterStop"]),
    ("restart from fatal", S.FATAL, Restart(), {}, S.STARTING, ["CancelRetry", "ResetBudget", "Spawn", "Note"]),
    ("kill now while running", S.RUNNING, KillNow(), {}, S.RUNNING, ["Kill"]),
    ("kill now twice is one kill", S.STOPPING, KillNow(), {"kill_reason": "x"}, S.STOPPING, []),
    ("kill now while stopped", S.STOPPED, KillNow(), {}, S.STOPPED, []),
    ("first heartbeat: running", S.STARTING, Beat(), {"started_at": NOW - 1}, S.RUNNING, ["Note"]),
    ("heartbeat while running", S.RUNNING, Beat(), {}, S.RUNNING, []),
    ("launch failure is fatal", S.STARTING, LaunchFailed("no python"), {}, S.FATAL, ["Note"]),
    ("bad token is fatal, no retry", S.RUNNING, Exited(EXIT_BAD_TOKEN), {}, S.FATAL, ["Note"]),
    ("bad token while starting is fatal", S.STARTING, Exited(EXIT_BAD_TOKEN), {}, S.FATAL, ["Note"]),
    ("config error is fatal, no retry", S.STARTING, Exited(EXIT_CONFIG, "no persona"), {}, S.FATAL, ["Note"]),
    ("clean exit on its own: exited, no retry", S.RUNNING, Exited(0), {}, S.EXITED, ["Note"]),
    ("crash while running: exited, retry", S.RUNNING, Exited(1), {"running_since": NOW - 10}, S.EXITED,
     ["ScheduleRetry", "Note"]),
    ("crash while starting: backoff", S.STARTING, Exited(1), {}, S.BACKOFF, ["ScheduleRetry", "Note"]),
    ("killed (exit 0 after a kill) still restarts", S.RUNNING, Exited(0), {"kill_reason": "missed 3 heartbeats"},
     S.EXITED, ["ScheduleRetry", "Note"]),
    ("sixth crash within the hour: fatal", S.RUNNING, Exited(-9), {"restarts": tuple(NOW - 60 * i for i in range(5))},
     S.FATAL, ["Note"]),
    ("old restarts fall out of the window", S.RUNNING, Exited(-9),
     {"restarts": tuple(NOW - 3600 - i for i in range(5))}, S.EXITED, ["ScheduleRetry", "Note"]),
    ("exit while stopping: stopped", S.STOPPING, Exited(0), {}, S.STOPPED, ["Note"]),
    ("exit while stopping with a crash code: still stopped", S.STOPPING, Exited(-9), {}, S.STOPPED, ["Note"]),
    ("exit while stopping for a restart", S.STOPPING, Exited(0), {"restart_after_stop": True}, S.STARTING,
     ["SetRestartAfterStop", "ResetBudget", "Spawn", "Note"]),
    ("stray exit while stopped", S.STOPPED, Exited(1), {}, S.STOPPED, []),
    ("retry due: starting", S.BACKOFF, Tick(), {"retry_at": NOW}, S.STARTING, ["CancelRetry", "Spawn", "Note"]),
    ("retry due after a crash: starting", S.EXITED, Tick(), {"retry_at": NOW - 1}, S.STARTING,
     ["CancelRetry", "Spawn", "Note"]),
    ("retry not due yet", S.BACKOFF, Tick(), {"retry_at": NOW + 0.5}, S.BACKOFF, []),
    ("exited with no retry stays", S.EXITED, Tick(), {}, S.EXITED, []),
    ("heartbeats on time", S.RUNNING, Tick(), {"last_beat": NOW - 14.9}, S.RUNNING, []),
    ("three heartbeats missed: kill", S.RUNNING, Tick(), {"last_beat": NOW - 15}, S.RUNNING, ["Kill"]),
    ("already killed: wait for the exit", S.RUNNING, Tick(), {"last_beat": NOW - 60, "kill_reason": "x"}, S.RUNNING,
     []),
    ("no first heartbeat in time: kill", S.STARTING, Tick(), {"started_at": NOW - 60}, S.STARTING, ["Kill"]),
    ("starting within the timeout", S.STARTING, Tick(), {"started_at": NOW - 59}, S.STARTING, []),
    ("stop grace over: terminate", S.STOPPING, Tick(), {"stop_sent_at": NOW - 15}, S.STOPPING, ["Terminate"]),
    ("within the stop grace", S.STOPPING, Tick(), {"stop_sent_at": NOW - 14}, S.STOPPING, []),
    ("terminate grace over: kill", S.STOPPING, Tick(), {"stop_sent_at": NOW - 30, "terminated_at": NOW - 5},
     S.STOPPING, ["Kill"]),
    ("stopped: nothing to do", S.STOPPED, Tick(), {}, S.STOPPED, []),
    ("fatal: nothing to do", S.FATAL, Tick(), {"retry_at": NOW - 1}, S.FATAL, []),
]


@pytest.mark.parametrize("name, state, event, facts, expected, expected_actions", TABLE, ids=[row[0] for row in TABLE])
def test_transition_table(name, state, event, facts, expected, expected_actions):
    new_state, actions = transition(state, event, ctx(**facts))
    assert new_state is expected
    assert kinds(actions) == expected_actions


def test_every_state_answers_every_input():
    for state in State:
        for event in (Start(), Stop(), Restart(), KillNow(), Beat(), Exited(1), LaunchFailed("x"), Tick()):
            new_state, actions = transition(state, event, ctx(started_at=NOW, last_beat=NOW, stop_sent_at=NOW))
            assert isinstance(new_state, State) and isinstance(actions, tuple)


def test_transition_is_pure():
    context = ctx(running_since=NOW - 10, failures=2)
    assert transition(S.RUNNING, Exited(1), context) == transition(S.RUNNING, Exited(1), context)


def test_backoff_doubles_up_to_the_cap():
    assert [backoff_delay(n, POLICY) for n in range(1, 7)] == [1, 2, 4, 8, 8, 8]


def test_consecutive_failures_grow_the_delay_and_a_stable_run_resets_it():
    _, actions = transition(S.STARTING, Exited(1), ctx(failures=2))
    retry = next(a for a in actions if isinstance(a, ScheduleRetry))
    assert retry.failures == 3 and retry.at == NOW + 4
    _, actions = transition(S.RUNNING, Exited(1), ctx(failures=4, running_since=NOW - 301))
    retry = next(a for a in actions if isinstance(a, ScheduleRetry))
    assert retry.failures == 1 and retry.at == NOW + 1


def test_reasons_say_what_happened():
    def note(state, event, **facts):
        return next(a for a in transition(state, event, ctx(**facts))[1] if isinstance(a, Note))

    bad_token = note(S.RUNNING, Exited(EXIT_BAD_TOKEN, "401 Unauthorized"))
    assert bad_token.error and "token" in bad_token.reason and "401 Unauthorized" in bad_token.reason
    config = note(S.STARTING, Exited(EXIT_CONFIG, "bot runtime not built"))
    assert config.error and "bot runtime not built" in config.reason
    hung = note(S.RUNNING, Exited(-9), kill_reason="missed 3 heartbeats (15.0s without one)")
    assert hung.reason.startswith("missed 3 heartbeats") and "restarting in 1s" in hung.reason
    fatal = note(S.RUNNING, Exited(1, "boom"), restarts=(NOW,) * 5)
    assert fatal.error and "gave up after 5 restarts" in fatal.reason and "boom" in fatal.reason
    kill = next(a for a in transition(S.RUNNING, Tick(), ctx(last_beat=NOW - 20))[1] if isinstance(a, Kill))
    assert "missed 3 heartbeats" in kill.reason


def test_action_classes_are_plain_data():
    assert SendStop() == SendStop() and Terminate() == Terminate() and Spawn() == Spawn()
    assert CancelRetry() == CancelRetry() and ResetBudget() == ResetBudget()
    assert SetRestartAfterStop(True) != SetRestartAfterStop(False)
