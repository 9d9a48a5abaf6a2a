"""The panel's shell on a virtual display: the event pump, the shared widgets, crash reports, the tray's menu and
icon, the monitoring sampler, preferences, and the launcher's no-command path."""
from __future__ import annotations

import sys
import threading
import time

import pytest

from core.jobs.bus import EventBus
from core.jobs.events import JobStateChanged, LogLine, ProgressReported
from tests.conftest_gui import gui_display, tk_root  # noqa: F401 (fixtures)

FAKE_TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GabcDE.abcdefghijklmnopqrstuvwxyz0123456789AB"


class Recorder:
    def __init__(self) -> None:
        self.seen = []

    def on_log_line(self, event) -> None:
        self.seen.append(event.text)

    def on_job_state_changed(self, event) -> None:
        self.seen.append(("state", event.state))


def test_handler_names_are_snake_case():
    from bot_controller.protocol import BotStateChanged
    from gui.pump import handler_name
    assert handler_name(ProgressReported) == "on_progress_reported"
    assert handler_name(LogLine) == "on_log_line"
    assert handler_name(JobStateChanged) == "on_job_state_changed"
    assert handler_name(BotStateChanged) == "on_bot_state_changed"


def test_pump_drains_in_bounded_batches_and_uses_after_idle_when_more_waits(tk_root):
    from gui.pump import EventPump
    bus = EventBus()
    recorder = Recorder()
    pump = EventPump(tk_root, bus.subscribe("panel"), lambda: [recorder], batch=50)
    for number in range(120):
        bus.publish(LogLine(job_id="j", text=str(number)))
    scheduled = []
    tk_root.after_idle = lambda callback: scheduled.append("idle") or "idle-id"
    tk_root.after = lambda delay, callback: scheduled.append(delay) or "after-id"
    pump._running = True
    assert pump.tick() == 50 and scheduled[-1] == "idle"
    assert pump.tick() == 50 and scheduled[-1] == "idle"
    assert pump.tick() == 20 and scheduled[-1] == pump.interval_ms  # nothing left: back to polling
    assert recorder.seen == [str(number) for number in range(120)]


def test_a_view_destroyed_earlier_in_the_same_batch_gets_no_more_events(tk_root):
    import customtkinter as ctk
    from gui.pump import EventPump
    bus = EventBus()
    errors, seen = [], []

    class View(ctk.CTkFrame):  # a page rebuilt by a workspace switch in the middle of a batch
        def __init__(self, master):
            super().__init__(master)
            self.label = ctk.CTkLabel(self, text="")
            self.label.grid()

        def on_log_line(self, event):
            self.label.configure(text=event.text)
            seen.append(event.text)
            if event.text == "switch":
                self.destroy()

    view = View(tk_root)
    pump = EventPump(tk_root, bus.subscribe("panel"), lambda: [view],
                     on_error=lambda target, event, exc: errors.append(repr(exc)))
    for text in ("one", "switch", "after"):
        bus.publish(LogLine(job_id="j", text=text))
    assert pump.flush() == 3
    assert seen == ["one", "switch"] and errors == []  # no TclError from the destroyed label


def test_pump_runs_in_the_tk_loop_and_a_failing_handler_does_not_stop_the_others(tk_root):
    from gui.pump import EventPump
    bus = EventBus()
    recorder = Recorder()
    errors = []

    class Broken:
        def on_log_line(self, event):
            raise RuntimeError("boom")

    pump = EventPump(tk_root, bus.subscribe("panel"), lambda: [Broken(), recorder],
                     on_error=lambda target, event, exc: errors.append(str(exc)), interval_ms=5)
    pump.start()
    threading.Thread(target=lambda: [bus.publish(LogLine(job_id="j", text=f"line {n}")) for n in range(10)]).start()
    for _ in range(200):
        tk_root.update()
        if len(recorder.seen) == 10:
            break
        tk_root.after(5)
    pump.stop()
    assert recorder.seen == [f"line {n}" for n in range(10)]
    assert errors == ["boom"] * 10


def test_log_view_keeps_only_the_last_lines_and_inserts_in_batches(tk_root):
    from gui.widgets.logview import LogView
    view = LogView(tk_root, max_lines=100)
    view.grid()
    for number in range(10_000):
        view.append(f"line {number}")
    assert view.line_count() == 0  # buffered, not yet inserted
    view.flush()
    assert view.line_count() == 100
    text = view.get_text().splitlines()
    assert text[0] == "line 9900" and text[-1] == "line 9999"
    view.extend(["one more"])
    view.flush()
    assert view.line_count() == 100 and view.get_text().splitlines()[-1] == "one more"


def test_log_view_keeps_following_the_tail_when_a_long_line_brings_a_scrollbar(tk_root):
    from gui.widgets.logview import LogView
    view = LogView(tk_root, height=120)
    view.grid()
    tk_root.update()
    def settle() -> None:  # CTkTextbox shows a scrollbar it needs on its next check, up to 200 ms later
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            tk_root.update()
            time.sleep(0.02)

    for batch in range(6):  # a training log: short lines, then its long step lines (a horizontal scrollbar)
        view.extend([f"line {batch}.{number}" + (" · loss 2.3456" * 20 if batch >= 2 else "") for number in range(8)])
        view.flush()
        settle()
    assert view.text._textbox.yview()[1] == 1.0  # the newest line is in view
    view.text._textbox.yview_moveto(0.0)  # the user scrolls up to read: the view stays where they are
    view.extend(["one more"])
    view.flush()
    settle()
    assert view.text._textbox.yview()[0] == 0.0


def test_progress_row_shows_step_eta_and_tokens_per_second(tk_root):
    from gui.widgets.progress import ProgressRow, format_duration
    row = ProgressRow(tk_root)
    row.update_from(ProgressReported(step=25, total=100, loss=1.2, eta=125.0, tokens_per_second=1534.4))
    assert row.text() == "25/100 · 25% · ETA 2m 05s · 1,534 tok/s"
    assert row.bar.get() == pytest.approx(0.25)
    row.update_from(ProgressReported(message="loading model"))
    assert row.text() == "loading model"
    assert format_duration(None) == "?" and format_duration(7300) == "2h 01m"


def test_error_banner_appears_and_hides(tk_root):
    from gui.widgets.banner import ErrorBanner
    banner = ErrorBanner(tk_root)
    banner.place_in_grid(row=0, column=0)
    assert not banner.winfo_ismapped()
    banner.show("the import failed", "pick a DiscordChatExporter JSON file")
    tk_root.update()
    assert banner.winfo_ismapped() and banner.text() == "the import failed\npick a DiscordChatExporter JSON file"
    banner.hide()
    tk_root.update()
    assert not banner.winfo_ismapped()


def test_chart_draws_lines_and_bars_without_pyplot(tk_root):
    from gui.widgets.chart import Chart
    chart = Chart(tk_root, title="loss")
    chart.set_line("train", [1, 2, 3], [2.0, 1.5, 1.2])
    chart.set_line("train", [1, 2, 3, 4], [2.0, 1.5, 1.2, 1.1])
    assert chart.series("train") == ([1, 2, 3, 4], [2.0, 1.5, 1.2, 1.1])
    chart.bars(["a", "b"], [3, 4])
    assert "matplotlib.pyplot" not in sys.modules


def test_tooltip_shows_on_hover(tk_root):
    import customtkinter as ctk
    from gui.widgets.tooltip import Tooltip
    label = ctk.CTkLabel(tk_root, text="lr")
    label.grid()
    tip = Tooltip(label, "the learning rate")
    tk_root.update()
    tip.show()
    assert tip.window is not None
    tip.hide()
    assert tip.window is None


def test_crash_report_is_redacted_and_shown_as_a_banner(tk_root, tmp_path):
    from core.config.secrets import register_secret
    from gui import crash
    from gui.widgets.banner import ErrorBanner
    register_secret(FAKE_TOKEN)
    tk_root.banner = ErrorBanner(tk_root)
    tk_root.banner.place_in_grid(row=0, column=0)
    saved = sys.excepthook, threading.excepthook
    try:
        crash.install(tk_root, lambda: tmp_path)

        def failing():
            raise ValueError(f"bad token {FAKE_TOKEN}")
        tk_root.after(0, failing)
        for _ in range(5):
            tk_root.update()
    finally:
        sys.excepthook, threading.excepthook = saved
    reports = list(tmp_path.glob("crash-*.txt"))
    assert len(reports) == 1
    text = reports[0].read_text(encoding="utf-8")
    assert "ValueError" in text and "failing" in text and FAKE_TOKEN not in text and "[redacted token]" in text
    assert tk_root.banner.visible and "Something went wrong: ValueError" in tk_root.banner.text()
    assert FAKE_TOKEN not in tk_root.banner.text() and str(reports[0]) in tk_root.banner.text()


def test_crash_on_another_thread_publishes_a_panel_error_instead_of_touching_tk(tk_root, tmp_path):
    from gui import crash
    from gui.events import PanelError
    bus = EventBus()
    subscription = bus.subscribe("panel", types=(PanelError,))
    tk_root.bus = bus
    saved = sys.excepthook, threading.excepthook
    try:
        crash.install(tk_root, lambda: tmp_path)
        thread = threading.Thread(target=lambda: 1 / 0, name="worker-x")
        thread.start()
        thread.join()
    finally:
        sys.excepthook, threading.excepthook = saved
    (event,) = subscription.drain(timeout=2)
    assert "ZeroDivisionError" in event.what and "crash report" in event.advice
    assert "worker-x" in next(tmp_path.glob("crash-*.txt")).read_text(encoding="utf-8")


def test_tray_menu_publishes_requests_and_the_icon_follows_the_bot_state():
    from gui.events import QuitApp, ShowPanel, StartBot, StopBot
    from gui.tray import ERROR, TrayMenu, icon_colour, icon_image
    bus = EventBus()
    subscription = bus.subscribe("panel")
    menu = TrayMenu(bus)
    callbacks = dict(menu.items())
    assert list(callbacks) == ["Show panel", "Open last run", "Start bot", "Stop bot", "Quit"]
    for text in callbacks:
        callbacks[text](None, None)  # pystray passes (icon, item); no run yet: "Open last run" publishes nothing
    assert [type(event) for event in subscription.drain()] == [ShowPanel, StartBot, StopBot, QuitApp]
    running, stopped = icon_image("running"), icon_image("stopped")
    assert running.getpixel((6, 40))[:3] == icon_colour("running") == (46, 160, 67)
    assert stopped.getpixel((6, 40))[:3] == (128, 128, 128)
    assert icon_image("fatal").getpixel((6, 40))[:3] == ERROR
    assert icon_image("running", error=True).getpixel((6, 40))[:3] == ERROR
    assert running.size == (64, 64)


def test_tray_set_state_swaps_the_icon_image_without_a_real_tray():
    from gui.tray import Tray, icon_colour

    class FakeIcon:
        icon = None
        title = ""
        HAS_NOTIFICATION = True
        notes = []

        def notify(self, message, title):
            self.notes.append(message)

    tray = Tray(EventBus())
    tray.icon = FakeIcon()
    tray.set_state("running")
    assert tray.icon.icon.getpixel((6, 40))[:3] == icon_colour("running")
    assert tray.icon.title.endswith("bot running")
    tray.notify("Training finished")
    assert FakeIcon.notes == ["Training finished"]


def test_monitor_publishes_samples_from_its_own_thread(tmp_path):
    from gui.events import ResourcesSampled
    from gui.monitor import Monitor
    bus = EventBus()
    subscription = bus.subscribe("panel", types=(ResourcesSampled,))
    (tmp_path / "f.bin").write_bytes(b"x" * 4096)
    threads = []

    def disk_used():
        threads.append(threading.current_thread().name)
        return sum(path.stat().st_size for path in tmp_path.iterdir())
    monitor = Monitor(bus, disk_used, interval=0.05)
    monitor.start()
    events = []
    while len(events) < 3:
        events += subscription.drain(timeout=5)
    monitor.stop()
    first = events[0]
    assert first.ram_total > first.ram_used > 0 and 0 <= first.cpu_percent <= 100 * 64
    assert first.disk_bytes == 4096 and threads[0] == "panel-monitor"
    assert first.gpus or first.gpu_note == "no NVIDIA GPU"


def test_preferences_round_trip_and_survive_a_broken_file(tmp_path):
    from gui.preferences import Preferences, load_preferences, save_preferences
    save_preferences(tmp_path, Preferences(theme="dark", close_to_tray=True, gpu_layers=0))
    loaded = load_preferences(tmp_path)
    assert (loaded.theme, loaded.close_to_tray, loaded.gpu_layers) == ("dark", True, 0)
    (tmp_path / "panel.json").write_text("{not json", encoding="utf-8")
    assert load_preferences(tmp_path) == Preferences()
    (tmp_path / "panel.json").write_text('{"theme": "purple", "gpu_layers": "x", "unknown": 1}', encoding="utf-8")
    assert load_preferences(tmp_path) == Preferences()


def test_launcher_opens_the_panel_only_without_a_command():
    from launcher import opens_panel
    assert opens_panel([]) and opens_panel(["--workspace", "/tmp/x"]) and opens_panel(["--workspace=/tmp/x"])
    assert opens_panel(["--no-tray"])
    assert not opens_panel(["import", "x.json"]) and not opens_panel(["--workspace", "/tmp/x", "stats"])
    assert not opens_panel(["--help"])


def test_monitor_reads_nvml_when_a_gpu_is_there(monkeypatch):
    import types
    from gui.monitor import Gpus, sample
    fake = types.SimpleNamespace(
        NVML_TEMPERATURE_GPU=0, nvmlInit=lambda: None, nvmlShutdown=lambda: None, nvmlDeviceGetCount=lambda: 1,
        nvmlDeviceGetHandleByIndex=lambda index: f"gpu{index}", nvmlDeviceGetName=lambda handle: b"NVIDIA H200",
        nvmlDeviceGetMemoryInfo=lambda handle: types.SimpleNamespace(used=3 << 30, total=141 << 30),
        nvmlDeviceGetUtilizationRates=lambda handle: types.SimpleNamespace(gpu=87),
        nvmlDeviceGetTemperature=lambda handle, sensor: 54)
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    event = sample(Gpus(), None)
    assert event.gpu_note == "" and event.gpus == ({"index": 0, "name": "NVIDIA H200", "utilisation": 87,
                                                     "vram_used": 3 << 30, "vram_total": 141 << 30,
                                                     "temperature": 54},)

    def no_driver():
        raise RuntimeError("NVML Shared Library Not Found")
    monkeypatch.setattr(fake, "nvmlInit", no_driver)
    assert sample(Gpus(), None).gpu_note == "no NVIDIA GPU"
