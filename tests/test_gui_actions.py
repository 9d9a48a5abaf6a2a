"""The panel's verbs against the real parts: a real SQLite workspace, the (in-memory) OS keyring, config.toml, the
job runner with real subprocesses. No display needed."""
from __future__ import annotations

import sys
from contextlib import closing
from pathlib import Path

import pytest

from core.jobs.bus import EventBus
from core.jobs.events import JobFinished
from core.jobs.specs import JobSpec
from gui.actions import ActionError, Actions, NotAvailable
from gui.events import WorkspaceSwitched
from tests.test_gui_app import seed_sample

FAKE_WORKER = Path(__file__).with_name("fake_worker.py")
TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GabcDE.abcdefghijklmnopqrstuvwxyz0123456789AB"


@pytest.fixture
def actions(workspace):
    bus = EventBus()
    made = Actions(workspace, bus)
    yield made
    made.shutdown(timeout=10)


def test_bot_settings_are_the_rows_the_slash_commands_change(actions):
    from storage.bot_settings import load, set_value
    version = actions.bot_settings_version()
    assert actions.set_bot_setting("temperature", 0.9) == 0.9
    with closing(actions.workspace.connect()) as conn:
        assert load(conn).temperature == 0.9
        with conn:
            set_value(conn, "rate", 0.5)  # what /rate does in the bot
    assert actions.bot_settings().rate == 0.5 and actions.bot_settings_version() > version
    with pytest.raises(ActionError, match="rate"):
        actions.set_bot_setting("rate", 3)
    assert actions.bot_settings().rate == 0.5  # the refused value stored nothing


def test_token_goes_to_the_keyring_and_start_without_one_says_why(actions):
    with pytest.raises(NotAvailable, match="no bot token yet"):
        actions.start_bot()
    assert actions.token_status() == ""
    with pytest.raises(ActionError, match="does not look like a Discord bot token"):
        actions.save_token("hunter2")
    actions.save_token(TOKEN)
    assert actions.token_status() == "keyring"
    actions.save_preferences(gpu_layers=0)  # the panel writes its files: none of them holds the token
    stored = [path for path in actions.workspace.root.rglob("*") if path.is_file()]
    assert stored and not [path for path in stored if TOKEN.encode() in path.read_bytes()]
    assert actions.forget_token() and actions.token_status() == ""


def test_embedder_and_preferences_are_saved(actions, workspace):
    actions.set_embedder("  /models/my-embedder  ")
    assert actions.embedder() == "/models/my-embedder"
    assert "/models/my-embedder" in workspace.config_path.read_text(encoding="utf-8")
    actions.save_preferences(theme="dark", close_to_tray=True)
    assert Actions(workspace, EventBus()).preferences.theme == "dark"
    with pytest.raises(ActionError, match="unknown panel preference"):
        actions.save_preferences(colour="red")


def test_next_step_follows_the_workspace(actions, workspace):
    assert actions.next_step().page == "data"
    seed_sample(workspace)
    facts = actions.workspace_facts()
    assert facts["messages"] == 2033 and facts["datasets"] == 1
    assert actions.next_step(facts).page == "training"
    assert actions.disk_used() > 1_000_000


def test_personas_channels_and_base_model_for_the_wizard(actions, workspace):
    seed_sample(workspace)
    personas = actions.persona_choices()
    assert len(personas) >= 5 and all(isinstance(user_id, int) for user_id, _name in personas)
    channels = actions.channel_choices()
    assert any(label.endswith("#general") for _id, label, _allowed in channels)
    general = next(channel_id for channel_id, label, _a in channels if label.endswith("#general"))
    actions.set_allowlist([general])
    assert actions.allowlisted_channels() == [(general, "general")]
    assert actions.set_base_model("").endswith(".gguf")
    assert actions.set_base_model("Qwen/Qwen2.5-3B-Instruct") == "Qwen/Qwen2.5-3B-Instruct"
    with pytest.raises(ActionError, match="neither a file"):
        actions.set_base_model("not a model")
    assert actions.preferences.base_model == "Qwen/Qwen2.5-3B-Instruct"


def test_playground_without_an_exported_model_says_so(actions, tmp_path, monkeypatch):
    monkeypatch.setattr("gui.actions_panel.SMALL_MODEL", tmp_path / "absent.gguf")
    assert actions.playground_models() == []
    with pytest.raises(NotAvailable, match="no model exported yet"):
        actions.start_chat(1)


def test_jobs_start_stop_and_shutdown_leave_no_process(actions):
    subscription = actions.bus.subscribe("test", types=(JobFinished,))
    spec = JobSpec(name="train", argv=(sys.executable, str(FAKE_WORKER), "--steps", "100000"), stop_grace=10.0)
    first, second = actions.start_job(spec), actions.start_job(spec)
    assert {job_id for job_id, _name, _state in actions.running_jobs()} == {first, second}
    actions.stop_job(first)
    assert subscription.drain(timeout=20)[0].job_id == first
    with pytest.raises(ActionError, match="while a job runs"):
        actions.switch_workspace(actions.workspace.root / "other")
    process = actions.runner.get(second).process
    actions.shutdown(timeout=10)
    assert process.poll() is not None and actions.running_jobs() == []


def test_switching_workspaces_publishes_the_switch(actions, workspace):
    subscription = actions.bus.subscribe("test", types=(WorkspaceSwitched,))
    assert actions.sample_root() == workspace.root / "sample"
    actions.switch_workspace(workspace.root / "sample")
    assert actions.workspace.root == workspace.root / "sample" and actions.sample_root() == actions.workspace.root
    assert subscription.drain()[0].root == str(workspace.root / "sample")
