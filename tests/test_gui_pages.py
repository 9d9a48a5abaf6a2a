"""The shell's pages (Dashboard, Bot, Playground, Settings, the wizard), each built with fake actions and a real event
bus: published events change the widgets, buttons call the right verbs, failures show as readable banners."""
from __future__ import annotations

from pathlib import Path

import pytest

from bot_controller.protocol import BotHeartbeat, BotStateChanged
from core.jobs.events import JobFailed, JobFinished, JobStarted, JobStateChanged, LogLine
from core.prompting.playground import ChatReplied
from gui.actions import ActionError
from gui.actions_panel import NextStep
from gui.events import OpenPage, ResourcesSampled
from storage.bot_settings import BotSettings, ChannelSettings
from tests.conftest_gui import FakeActions, build, gui_display, pump, tk_root  # noqa: F401 (fixtures)

FACTS = {"messages": 1234, "allowlisted": 2, "datasets": 1, "runs": 0, "models": 0, "token": ""}


def requests(bus, kind):
    return [event for event in bus.watch.drain(10_000) if isinstance(event, kind)]


def test_dashboard_shows_bot_machine_and_workspace_and_the_next_step(tk_root):
    from gui.views.dashboard import DashboardView
    today = {"replies": 1003}  # what storage.bot_stats holds for today (the bot writes it)
    actions = FakeActions(returns={"workspace_facts": FACTS, "running_jobs": [],
                                   "replies_today": lambda: today["replies"],
                                   "next_step": NextStep("Train a model", "training", "a dataset is ready")})
    view, bus, subscription = build(tk_root, DashboardView, actions)
    assert view.messages.cget("text") == "1,234 (2 channels allowlisted)"
    assert view.bot_replies.cget("text") == "1,003"  # today's, from SQLite: earlier runs of the bot count too
    today["replies"] = 1010
    assert view.next_button.cget("text") == "Train a model" and view.next_why.cget("text") == "a dataset is ready"
    bus.publish(BotStateChanged(job_id="bot", state="running", previous="starting", reason="logged in"))
    bus.publish(BotHeartbeat(job_id="bot", status="ready", details={"replies": 7}))
    bus.publish(ResourcesSampled(cpu_percent=12.0, ram_used=2 << 30, ram_total=8 << 30, gpu_note="no NVIDIA GPU",
                                 disk_bytes=5 << 20))
    pump(tk_root, subscription, [view])
    assert view.bot_state.cget("text") == "running: logged in"
    assert view.bot_replies.cget("text") == "1,010"  # the run's count moved: today's is read again
    reads = len(actions.called("replies_today"))
    bus.publish(BotHeartbeat(job_id="bot", status="ready", details={"replies": 7}))
    pump(tk_root, subscription, [view])
    assert len(actions.called("replies_today")) == reads  # an unchanged count costs no query
    assert view.cpu.cget("text") == "12 %" and view.ram.cget("text") == "2.0 GB of 8.0 GB"
    assert view.gpu.cget("text") == "no NVIDIA GPU" and view.disk.cget("text") == "5.0 MB"
    bus.publish(ResourcesSampled(gpus=({"index": 0, "name": "RTX 4090", "utilisation": 40, "vram_used": 1 << 30,
                                        "vram_total": 24 << 30, "temperature": 61},)))
    bus.publish(BotStateChanged(job_id="bot", state="fatal", previous="running", reason="bad token", error=True))
    pump(tk_root, subscription, [view])
    assert view.gpu.cget("text") == "RTX 4090: 40 % busy, VRAM 1.0 GB of 24.0 GB, 61 °C"
    assert view.bot_error.cget("text") == "bad token"
    facts_before = len(actions.called("workspace_facts"))
    bus.publish(JobStateChanged(job_id="import-1", name="import", state="finished", previous="running"))
    pump(tk_root, subscription, [view])
    assert len(actions.called("workspace_facts")) == facts_before + 1  # a finished job refreshes the counts
    view.next_button.invoke()
    assert [event.page for event in requests(bus, OpenPage)] == ["training"]


def bot_actions(**overrides):
    settings = BotSettings(persona_id=6, rate=0.1, temperature=0.7, max_tokens=96, capture=True,
                           channels={11: ChannelSettings(webhook=False)})
    returns = {"bot_settings": settings, "persona_choices": [(5, "Ann"), (6, "Bob")],
               "allowlisted_channels": [(11, "general")], "bot_settings_version": 1,
               "set_bot_setting": lambda key, value: value}
    returns.update(overrides)
    return FakeActions(returns=returns)


def test_bot_page_controls_call_the_controller_verbs_and_follow_its_state(tk_root):
    from gui.views.bot import BotView
    actions = bot_actions()
    view, bus, subscription = build(tk_root, BotView, actions)
    assert view.stop_button.cget("state") == "disabled"
    view.start_button.invoke()
    assert actions.called("start_bot") == [((), {})]
    bus.publish(BotStateChanged(job_id="bot", state="running", previous="starting"))
    bus.publish(LogLine(job_id="bot", text="logged in as PersonaBot"))
    bus.publish(LogLine(job_id="train-1", text="step 3"))  # another job's line stays out of the bot log
    pump(tk_root, subscription, [view])
    view.log.flush()
    assert view.log.get_text() == "logged in as PersonaBot"
    assert view.start_button.cget("state") == "disabled" and view.stop_button.cget("state") == "normal"
    view.stop_button.invoke()
    view.restart_button.invoke()
    assert actions.called("stop_bot") and actions.called("restart_bot")
    bus.publish(BotStateChanged(job_id="bot", state="fatal", previous="running", reason="Discord refused the token",
                                error=True))
    pump(tk_root, subscription, [view])
    assert view.banner.visible and "Discord refused the token" in view.banner.text()


def test_bot_page_settings_are_written_and_a_slash_command_change_shows_up(tk_root):
    from gui.views.bot import BotView
    actions = bot_actions()
    view, bus, subscription = build(tk_root, BotView, actions)
    assert view.persona_menu.get() == "Bob (6)" and view.entries["rate"].get() == "0.1"
    assert view.switches["capture"].get() == 1 and view.switches["mentions_only"].get() == 0
    view.entries["temperature"].delete(0, "end")
    view.entries["temperature"].insert(0, "0.9")
    view.switches["mentions_only"].select()
    view.persona_menu.set("Ann (5)")
    view.webhook_switches[11].select()
    view.apply_button.invoke()
    written = {args[0]: args[1] for args, _ in actions.called("set_bot_setting")}
    assert written == {"temperature": 0.9, "mentions_only": True, "persona_id": 5}
    assert actions.called("set_channel_webhook") == [((11, True), {})]
    # the bot's /persona command changed the rows: the version moves, the next heartbeat re-reads them
    actions.returns["bot_settings"] = BotSettings(persona_id=5, temperature=1.3)
    actions.returns["bot_settings_version"] = 2
    bus.publish(BotHeartbeat(job_id="bot", status="ready"))
    pump(tk_root, subscription, [view])
    assert view.entries["temperature"].get() == "1.3" and view.persona_menu.get() == "Ann (5)"


def test_bot_page_refuses_a_bad_number_and_shows_a_refused_setting(tk_root):
    from gui.views.bot import BotView
    actions = bot_actions(set_bot_setting=None)
    view, _bus, _sub = build(tk_root, BotView, actions)
    view.entries["rate"].delete(0, "end")
    view.entries["rate"].insert(0, "often")
    view.apply_button.invoke()
    assert view.banner.text().startswith("Reply rate: 'often' is not a number") and not actions.called(
        "set_bot_setting")
    view.entries["rate"].delete(0, "end")
    view.entries["rate"].insert(0, "3")
    actions.raises["set_bot_setting"] = ActionError("bot setting rate: 3.0 is outside 0.0..1.0", "enter a value")
    view.apply_button.invoke()
    assert "outside 0.0..1.0" in view.banner.text()


def playground_actions(models=True):
    return FakeActions(returns={"persona_choices": [(5, "Ann")], "start_chat": "chat-1",
                                "playground_models": [("run-1/model.gguf", Path("/m/model.gguf"))] if models else []})


def test_playground_loads_a_chat_worker_and_shows_replies(tk_root):
    from gui.views.playground import PlaygroundView
    actions = playground_actions()
    view, bus, subscription = build(tk_root, PlaygroundView, actions)
    view.load_button.invoke()
    assert actions.called("start_chat") == [((5, Path("/m/model.gguf")), {})]
    assert view.send_button.cget("state") == "disabled" and "loading" in view.status.cget("text")
    bus.publish(JobStarted(job_id="chat-1", name="chat", device="cpu"))
    pump(tk_root, subscription, [view])
    assert view.send_button.cget("state") == "normal"
    view.entry.insert(0, "anyone up for game night?")
    view.send_button.invoke()
    assert actions.called("send_chat") == [(("chat-1", "anyone up for game night?"), {})]
    assert view.send_button.cget("state") == "disabled"  # one line at a time
    bus.publish(ChatReplied(job_id="other", text="not ours", parts=["not ours"]))
    bus.publish(ChatReplied(job_id="chat-1", text="count me in", parts=["count me in", "bringing snacks"],
                            details={"seconds": 0.8}))
    pump(tk_root, subscription, [view])
    transcript = view.transcript_text()
    assert "You: anyone up for game night?" in transcript and "Ann: count me in" in transcript
    assert "Ann: bringing snacks" in transcript and "not ours" not in transcript
    assert view.status.cget("text") == "replied in 0.8s" and view.send_button.cget("state") == "normal"
    bus.publish(JobFailed(job_id="chat-1", message="the GGUF has no chat template", advice="export it again"))
    pump(tk_root, subscription, [view])
    assert view.banner.text() == "The playground's model stopped: the GGUF has no chat template\nexport it again"
    assert view.send_button.cget("state") == "disabled" and view.job_id is None


def test_playground_says_why_load_is_unavailable_without_a_model(tk_root):
    from gui.views.playground import PlaygroundView
    view, _bus, _sub = build(tk_root, PlaygroundView, playground_actions(models=False))
    assert view.load_button.cget("state") == "disabled"
    assert view.status.cget("text") == "no model exported yet: export one on the Models page"


def test_settings_token_is_masked_saved_and_cleared(tk_root, workspace):
    from gui.views.settings import SettingsView
    actions = FakeActions(workspace, returns={"token_status": "keyring", "embedder": ""})
    view, _bus, _sub = build(tk_root, SettingsView, actions)
    view.token_entry.insert(0, "abc.def.ghi")
    assert view.token_entry._entry.cget("show") == "•"  # masked as soon as anything is in it (the placeholder is not)
    view.save_token_button.invoke()
    assert actions.called("save_token") == [(("abc.def.ghi",), {})]
    assert view.token_entry.get() == "" and view.token_state.cget("text") == "a token is stored in the OS keyring"
    actions.raises["save_token"] = ActionError("the token was not saved: no OS keyring", "set DPS_BOT_TOKEN")
    view.token_entry.insert(0, "x")
    view.save_token_button.invoke()
    assert view.token_entry.get() == "" and "no OS keyring" in view.banner.text()


def test_settings_app_preferences_and_theme(tk_root, workspace):
    from gui.views.settings import SettingsView
    actions = FakeActions(workspace, returns={"token_status": "", "embedder": "my-embedder"})
    view, _bus, _sub = build(tk_root, SettingsView, actions)
    assert view.workspace_label.cget("text") == str(workspace.root)
    assert view.embedder_entry.get() == "my-embedder"
    view.gpu_entry.delete(0, "end")
    view.gpu_entry.insert(0, "many")
    view.save_button.invoke()
    assert "not a whole number" in view.banner.text() and not actions.called("save_preferences")
    view.gpu_entry.delete(0, "end")
    view.gpu_entry.insert(0, "0")
    view.tray_switch.select()
    view.save_button.invoke()
    assert actions.called("set_bot_setting") == [(("gpu_layers", 0), {})]  # the bot loads its model with it
    assert actions.called("save_preferences") == [((), {"gpu_layers": 0, "close_to_tray": True})]
    assert actions.called("set_embedder") == [(("my-embedder",), {})]
    actions.raises["set_bot_setting"] = ActionError("bot setting gpu_layers: -5 is outside -1..1000", "enter a value")
    view.gpu_entry.delete(0, "end")
    view.gpu_entry.insert(0, "-5")
    view.save_button.invoke()
    assert "outside -1..1000" in view.banner.text() and len(actions.called("save_preferences")) == 1
    view.set_theme("dark")
    assert actions.called("save_preferences")[-1] == ((), {"theme": "dark"})
    view.set_theme("light")


def test_wizard_walks_token_channels_and_base_model(tk_root):
    from gui.views.wizard import WizardView
    actions = FakeActions(returns={"token_status": "", "set_base_model": lambda ref: ref,
                                   "channel_choices": [(11, "Moonbase / #general", False),
                                                       (12, "Moonbase / #memes", True)]})
    view, bus, subscription = build(tk_root, WizardView, actions)
    view.token_entry.insert(0, "abc.def.ghi")
    view.next_button.invoke()
    assert actions.called("save_token") == [(("abc.def.ghi",), {})] and view.step == 1
    view.channel_boxes[11].select()
    view.channel_boxes[12].deselect()
    view.next_button.invoke()
    assert actions.called("set_allowlist") == [(([11], True), {}), (([12], False), {})] and view.step == 2
    view.model_entry.insert(0, "Qwen/Qwen2.5-3B-Instruct")
    view.next_button.invoke()
    assert actions.called("set_base_model") == [(("Qwen/Qwen2.5-3B-Instruct",), {})]
    assert actions.called("save_preferences") == [((), {"wizard_done": True})]
    assert [event.page for event in requests(bus, OpenPage)] == ["dashboard"]


def test_wizard_sample_server_chains_import_then_prepare_then_opens_the_playground(tk_root):
    from gui.views.wizard import WizardView
    actions = FakeActions(returns={"token_status": "", "try_sample_server": "import-1",
                                   "prepare_sample": "prepare-1"})
    view, bus, subscription = build(tk_root, WizardView, actions)
    view.sample_button.invoke()
    assert view.sample_button.cget("state") == "disabled"
    bus.publish(JobFinished(job_id="import-1"))
    pump(tk_root, subscription, [view])
    assert actions.called("prepare_sample") == [((), {})]
    bus.publish(JobFinished(job_id="prepare-1"))
    pump(tk_root, subscription, [view])
    assert [event.page for event in requests(bus, OpenPage)] == ["playground"]
    actions.returns["try_sample_server"] = "import-2"
    view.sample_button.invoke()
    bus.publish(JobFailed(job_id="import-2", message="no messages found", advice=""))
    pump(tk_root, subscription, [view])
    assert view.banner.text().startswith("The sample server's import failed: no messages found")


def test_settings_installs_the_training_runtime_with_progress(tk_root, workspace):
    from core.jobs.events import JobStateChanged, ProgressReported
    from gui.views.settings import SettingsView
    status = iter(["not installed: training, export and evaluation need it", "installed with CUDA at /rt"])
    actions = FakeActions(workspace, returns={"token_status": "", "embedder": "", "install_runtime": "runtime-1",
                                             "runtime_status": lambda: next(status), "runtime_installable": True})
    view, bus, sub = build(tk_root, SettingsView, actions)
    assert view.runtime_state.cget("text").startswith("not installed")
    view.install_cuda_button.invoke()
    assert actions.called("install_runtime") == [((True,), {})]
    assert view.install_button.cget("state") == "disabled" and view.runtime_row.cancel_button.cget("state") == "normal"
    bus.publish(ProgressReported(job_id="runtime-1", step=2, total=5, message="installing torch"))
    bus.publish(ProgressReported(job_id="other", step=9, total=10))  # another job's progress is not shown here
    pump(tk_root, sub, [view])
    assert view.runtime_row.progress.bar.get() == pytest.approx(0.4)
    bus.publish(JobStateChanged(job_id="runtime-1", name="runtime", state="finished", previous="running"))
    pump(tk_root, sub, [view])
    assert view.runtime_state.cget("text") == "installed with CUDA at /rt"
    assert view.install_button.cget("state") == "normal"


def test_the_runtime_verbs_say_where_training_runs(workspace, monkeypatch, tmp_path):
    from gui.actions import Actions
    from gui.errors import ActionError
    from core.jobs.bus import EventBus
    actions = Actions(workspace, EventBus())
    assert actions.runtime_status().startswith("source checkout") and not actions.runtime_installable()
    with pytest.raises(ActionError, match="source checkout"):
        actions.install_runtime()
    import core.config.runtime as runtime
    monkeypatch.setattr(runtime, "frozen", lambda: True)
    monkeypatch.setenv(runtime.ENV_RUNTIME_DIR, str(tmp_path / "rt"))
    assert actions.runtime_status().startswith("not installed") and str(tmp_path / "rt") in actions.runtime_status()
    assert actions.runtime_installable()
