"""Training: base model, preset and the key hyperparameters (with tooltips), the memory estimate, Start / Stop /
Resume; the run's charts, its log, progress with the phase and ETA; on failure the last lines and the advice.

The log box shows the run's log as run.log holds it: the worker's own lines and every event worded by
``core.jobs.log_lines`` (the panel never parses text). The status line names the phase ("SFT 10/20", "DPO 2/4",
"evaluating on 32 validation examples…") with the phase's ETA and the run's. The charts (training_charts.py) show
the SFT loss with the eval loss, the DPO pass on its own steps with its reward margin, and speed and memory over time.
Opening the page (or the app) during or after a run replays it from its folder: metrics.jsonl redraws the charts,
state.json gives the status, run.log's tail fills the log; a run this panel is still running then continues live.
The run form and its memory estimate (read on a thread: the model's header, nvidia-smi) are in training_form.py.
With no run yet the charts show their labelled empty axes and the log a placeholder line, never a blank box.
"""
from __future__ import annotations

import customtkinter as ctk

from core.jobs.log_lines import lines_for
from core.jobs.log_words import phase_status
from gui.views.base import PageView
from gui.views.training_charts import LiveCharts
from gui.views.training_form import START_TASK, VRAM_TASK, RunForm
from gui.widgets.logview import LogView
from gui.widgets.progress import ProgressRow

ENDED = ("finished", "stopped", "failed")
NO_RUN_LOG = "no run yet: the run's log appears here"


class TrainingView(LiveCharts, RunForm, PageView):
    TITLE = "Training"

    def __init__(self, master, actions, bus) -> None:
        super().__init__(master, actions, bus)
        self.grid_rowconfigure(3, weight=1)
        self.job_id: str | None = None
        self.run_dir = None
        self.status = ""
        self.pending_start = False
        self._estimate_after: str | None = None
        self._build_form()
        self._build_live()
        self.attach()
        self.schedule_estimate()

    # -- building ---------------------------------------------------------------------------------------------------
    def _build_live(self) -> None:
        card = self.card(3, "Progress")
        card.grid_columnconfigure((0, 1), weight=1, uniform="live")
        card.grid_rowconfigure(4, weight=1)
        self.run_label = ctk.CTkLabel(card, text="no run yet", anchor="w")
        self.run_label.grid(row=0, column=1, sticky="e", padx=12)
        self.progress = ProgressRow(card)
        self.progress.grid(row=1, column=0, columnspan=2, sticky="ew", padx=12)
        self.failure = ctk.CTkLabel(card, text="", anchor="w", justify="left", wraplength=900,
                                    text_color=("#9b1c1c", "#f19999"))
        self.failure.grid(row=2, column=0, columnspan=2, sticky="w", padx=12)
        self.failure.grid_remove()  # shown with a failure only: empty, it would be a gap above the charts
        self.chart_holder = ctk.CTkFrame(card, fg_color="transparent")
        self.chart_holder.grid(row=3, column=0, columnspan=2, sticky="nsew", padx=8, pady=(4, 0))
        self.chart_holder.grid_columnconfigure(0, weight=1)
        self.chart_holder.grid_rowconfigure(0, weight=1)
        self._build_charts(self.chart_holder)
        self.log = LogView(card, height=120, placeholder=NO_RUN_LOG)
        self.log.grid(row=4, column=0, columnspan=2, sticky="nsew", padx=8, pady=(4, 8))

    def on_task_finished(self, event) -> None:
        if event.task == START_TASK:
            self.started(event)
        elif event.task == VRAM_TASK:
            self.show_estimate(event)

    # -- start, stop, resume ----------------------------------------------------------------------------------------
    def start(self) -> None:
        try:
            flags = self.flags()
        except ValueError as exc:
            self.banner.show(str(exc), "leave it empty to use the preset's value")
            return
        self.job_id, self.pending_start = None, True
        self.reset(None)
        self.start_button.configure(state="disabled")
        self.progress.set_text("planning the run (reading the model, estimating memory)…", 0.0)
        self.actions.in_background(START_TASK, self.actions.start_training, self.base.get().strip(),
                                   self.preset_name(), flags)

    def started(self, event) -> None:
        self.pending_start = False
        if event.error:
            self.start_button.configure(state="normal")
            self.progress.set_text("not started")
            self.banner.show(*event.error)
            return
        # the job's first events may have come before this answer (they were adopted by name): keep what they drew
        self.job_id, self.run_dir = event.result
        self.set_status(self.status if self.status not in ("", "created") else "starting")

    def stop(self) -> None:
        if self.job_id is not None:
            self.actions.stop_job(self.job_id)
            self.stop_button.configure(state="disabled")
            self.progress.set_text("stopping: the worker saves a checkpoint first…")

    def resume(self) -> None:
        if self.run_dir is None:
            return
        job_id = self.run(self.actions.resume_training, self.run_dir)
        if job_id:
            self.say_failure("")  # the log goes on with the run's own words ("resuming at step N of M: ...")
            self.follow(job_id, "starting")

    def follow(self, job_id: str, state: str) -> None:
        self.job_id = job_id
        self.set_status(state)

    def set_status(self, status: str, resumable: bool = False) -> None:
        self.status = status
        running = status not in ENDED and status not in ("", "interrupted", "created", "unknown")
        self.start_button.configure(state="disabled" if running else "normal")
        self.stop_button.configure(state="normal" if running and self.job_id else "disabled")
        self.resume_button.configure(state="normal" if resumable and not running and status != "finished"
                                     else "disabled")
        name = self.run_dir.name if self.run_dir is not None else "no run yet"
        self.run_label.configure(text=f"{name} · {status}" if status else name)

    # -- replay and live events -------------------------------------------------------------------------------------
    def attach(self) -> None:
        """Show the run this panel is running, else the newest run in the workspace, replayed from its folder."""
        job_id = self.actions.training_job_id()
        run_dir = self.actions.training_job_dir(job_id) if job_id else self.actions.latest_run()
        if run_dir is None:
            return
        self.reset(run_dir)
        replay = self.run(self.actions.run_replay, run_dir)
        if replay is None:
            return
        for event in replay["events"]:
            self.show_event(event)
        self.log.extend(replay["log_tail"])
        if job_id:
            self.follow(job_id, "running")
            return
        state = replay["state"]
        self.set_status(replay["status"], resumable=replay["resumable"])
        if replay["status"] == "failed" and state.get("message"):
            self.show_failure(state["message"], state.get("advice", ""), replay["log_tail"][-8:])
        elif replay["status"] == "interrupted":
            self.say_failure("the app closed while this run was going; Resume continues from its last checkpoint"
                             if replay["resumable"] else "the app closed while this run was going and it has no "
                             "checkpoint: start a new run")

    def reset(self, run_dir) -> None:
        self.run_dir = run_dir
        self.say_failure("")
        self.log.clear()
        self.reset_charts("waiting for the first step" if run_dir is not None or self.pending_start else "no run yet")
        self.progress.set_text("", 0.0)
        self.set_status("created")

    def show_event(self, event) -> None:
        """One recorded or live event of the shown run: the charts and the status line (the log has its words)."""
        kind = type(event).__name__
        self.chart_event(event)
        if kind == "ProgressReported":
            self.progress.update_from(event)
        elif kind == "PhaseStarted":
            self.progress.set_text(phase_status(event.phase, event.details, event.total))
        elif kind == "JobFailed":
            self.show_failure(event.message, event.advice, list(event.last_lines))
        elif kind == "JobFinished":
            self.progress.set_text(f"{event.status} at step {event.step}" if event.step is not None else event.status,
                                   1.0 if event.status == "finished" else None)

    def show_failure(self, message: str, advice: str, last_lines) -> None:
        lines = "\n".join(f"  {line}" for line in list(last_lines)[-6:])
        self.say_failure(f"The run failed: {message}" + (f"\nWhat to do: {advice}" if advice else "")
                         + (f"\nLast lines:\n{lines}" if lines else ""))

    def say_failure(self, text: str) -> None:
        self.failure.configure(text=text)
        if text:
            self.failure.grid()
        else:
            self.failure.grid_remove()

    def _ours(self, event) -> bool:
        return self.job_id is not None and event.job_id == self.job_id

    def live(self, event) -> None:
        """A live event of the followed run: its words to the log (as run.log gets them), then the charts."""
        if self._ours(event):
            self.log.extend(lines_for(event))
            self.show_event(event)

    on_progress_reported = on_eval_reported = on_job_failed = on_job_finished = live
    on_job_launched = on_job_started = on_phase_started = on_phase_finished = on_checkpoint_saved = live

    def on_log_line(self, event) -> None:
        if self._ours(event):
            self.log.extend(lines_for(event))

    def on_job_state_changed(self, event) -> None:
        if self.pending_start and self.job_id is None and event.name == "train":
            self.job_id = event.job_id  # the run being started: its events come before start_training returns
        if not self._ours(event):
            return
        resumable = False
        if event.state in ENDED:
            replay = self.run(self.actions.run_replay, self.run_dir) if self.run_dir is not None else None
            resumable = bool(replay and replay["resumable"])
        self.set_status(event.state, resumable=resumable)
