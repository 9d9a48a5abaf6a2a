"""Dashboard: the bot's state, uptime, replies and last error; CPU, RAM, GPU (NVML) and the workspace's disk; the
workspace's contents; and the next step to take as a button."""
from __future__ import annotations

import customtkinter as ctk

from gui.views.base import PageView, fact_row, human_bytes, plural
from gui.widgets.progress import format_duration
from gui.widgets.button import Button

BOT_JOB_ID = "bot"  # bot_controller.protocol.BOT_JOB_ID: everything the supervisor publishes carries it


class DashboardView(PageView):
    TITLE = "Dashboard"

    def __init__(self, master, actions, bus) -> None:
        super().__init__(master, actions, bus)
        self.grid_columnconfigure(1, weight=1)
        self.replies: int | None = None
        bot = self.card(2, "Bot")
        self.bot_state = fact_row(bot, 1, "State", "stopped")
        self.bot_uptime = fact_row(bot, 2, "Uptime")
        self.bot_replies = fact_row(bot, 3, "Replies today", "0")
        self.bot_error = fact_row(bot, 4, "Last error", "none")
        self.bot_error.configure(wraplength=360)
        machine = self.card(2, "Machine", column=1)
        self.cpu = fact_row(machine, 1, "CPU", "measuring…")
        self.ram = fact_row(machine, 2, "RAM", "measuring…")
        self.gpu = fact_row(machine, 3, "GPU", "measuring…")
        self.disk = fact_row(machine, 4, "Workspace on disk", "measuring…")
        work = self.card(3, "Workspace", columnspan=2)
        self.messages = fact_row(work, 1, "Messages")
        self.datasets = fact_row(work, 2, "Datasets / runs / models")
        self.jobs = fact_row(work, 3, "Running jobs", "none")
        step = self.card(4, "Next step", columnspan=2)
        self.next_why = ctk.CTkLabel(step, text="", anchor="w")
        self.next_why.grid(row=1, column=0, columnspan=2, sticky="w", padx=12)
        self.next_button = Button(step, text="…", command=self.take_next_step)
        self.next_button.grid(row=2, column=0, sticky="w", padx=12, pady=(4, 12))
        self.next_page = "data"
        self.refresh()

    # -- reading the workspace -------------------------------------------------------------------------------------
    def on_show(self) -> None:
        self.refresh()

    def refresh(self) -> None:
        facts = self.run(self.actions.workspace_facts)
        if facts is not None:
            allowlisted = plural(facts["allowlisted"], "channel")
            self.messages.configure(text=f"{facts['messages']:,} ({allowlisted} allowlisted)")
            self.datasets.configure(text=f"{facts['datasets']} / {facts['runs']} / {facts['models']}")
            step = self.run(self.actions.next_step, facts)
            if step is not None:
                self.next_page = step.page
                self.next_button.configure(text=step.label)
                self.next_why.configure(text=step.why)
        self._show_jobs()
        self._show_replies_today()
        self._show_status(self.actions.bot_status())

    def _show_jobs(self) -> None:
        jobs = self.actions.running_jobs() or []
        self.jobs.configure(text=", ".join(f"{name} ({state})" for _id, name, state in jobs) or "none")

    def _show_status(self, status) -> None:
        if status is None:
            return
        state = getattr(status.state, "value", status.state)
        self.bot_state.configure(text=f"{state}" + (" (paused)" if status.paused else "")
                                 + (f": {status.reason}" if status.reason else ""))
        self.bot_uptime.configure(text=format_duration(status.uptime) if status.uptime is not None else "—")
        self.bot_error.configure(text=status.last_error or "none")

    def take_next_step(self) -> None:
        self.open_page(self.next_page)

    # -- events ----------------------------------------------------------------------------------------------------
    def on_bot_state_changed(self, event) -> None:
        self.bot_state.configure(text=event.state + (" (paused)" if event.paused else "")
                                 + (f": {event.reason}" if event.reason else ""))
        if event.error:
            self.bot_error.configure(text=event.reason or event.state)
        if event.state != "running":
            self.bot_uptime.configure(text="—")

    def on_bot_heartbeat(self, event) -> None:
        replies = (event.details or {}).get("replies")  # this run's count: when it moves, today's moved too
        if replies is not None and int(replies) != self.replies:
            self.replies = int(replies)
            self._show_replies_today()

    def _show_replies_today(self) -> None:
        """Today's replies as the bot recorded them in SQLite (storage.bot_stats): they survive bot restarts."""
        today = self.run(self.actions.replies_today)
        if today is not None:
            self.bot_replies.configure(text=f"{today:,}")

    def on_resources_sampled(self, event) -> None:
        self.cpu.configure(text=f"{event.cpu_percent:.0f} %")
        self.ram.configure(text=f"{human_bytes(event.ram_used)} of {human_bytes(event.ram_total)}")
        if event.gpus:
            self.gpu.configure(text="\n".join(_gpu_line(gpu) for gpu in event.gpus))
        else:
            self.gpu.configure(text=event.gpu_note or "no NVIDIA GPU")
        if event.disk_bytes is not None:
            self.disk.configure(text=human_bytes(event.disk_bytes))
        status = self.actions.bot_status()
        if status is not None and status.uptime is not None:
            self.bot_uptime.configure(text=format_duration(status.uptime))

    def on_job_state_changed(self, event) -> None:
        self._show_jobs()
        if event.state in ("finished", "stopped", "failed"):
            self.refresh()


def _gpu_line(gpu: dict) -> str:
    if "error" in gpu:
        return f"GPU {gpu['index']}: unreadable ({gpu['error']})"
    return (f"{gpu['name']}: {gpu['utilisation']} % busy, VRAM {human_bytes(gpu['vram_used'])} of "
            f"{human_bytes(gpu['vram_total'])}, {gpu['temperature']} °C")
