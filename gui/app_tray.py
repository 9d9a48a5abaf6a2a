"""The window's side of the tray, mixed into ``gui.app.App``: starting the tray, answering its requests (show the
panel, open a run, start or stop the bot, quit) and telling it what to show (the bot's state, notices).

Everything here runs on the Tk thread, through the pump: the tray's callbacks only publish requests. A training run's
end is noticed from its own events: ``JobLaunched`` names the job's run folder, and its ``JobFinished``/``JobFailed``
becomes the notice (``core.training.notices``: how it ended, the final loss, or the one-line reason), whose click or
the menu's "Open last run" comes back as ``OpenRun``.
"""
from __future__ import annotations

from pathlib import Path

from core.training.notices import training_notice

TRAINING_JOB = "train"


class TrayHandlers:
    def _start_tray(self):
        from gui.tray import Tray
        tray = Tray(self.bus)
        tray.start()
        return tray

    def on_bot_state_changed(self, event) -> None:
        if self.tray is not None:
            self.tray.set_state(event.state, error=event.error)
            if event.error:
                self.tray.notify(f"The bot stopped: {event.reason or event.state}")

    def on_job_launched(self, event) -> None:
        if event.name == TRAINING_JOB and event.run_dir:
            self.training_runs[event.job_id] = Path(event.run_dir)

    def on_job_finished(self, event) -> None:
        self._training_ended(event)

    def on_job_failed(self, event) -> None:
        self._training_ended(event)

    def _training_ended(self, event) -> None:
        run_dir = self.training_runs.pop(event.job_id, None)
        if run_dir is not None and self.tray is not None:
            self.tray.notify_run(training_notice(event, run_dir), run_dir.name)

    def on_open_run(self, request) -> None:
        """Show the panel on a run: the Models page with the run selected."""
        self.on_show_panel(request)
        view = self.show_page("models")
        if view is not None and request.run_id:
            view.show_run(request.run_id)

    def on_show_panel(self, _request) -> None:
        self.deiconify()
        self.lift()

    def on_start_bot(self, _request) -> None:
        self.run_action(self.actions.start_bot)

    def on_stop_bot(self, _request) -> None:
        self.run_action(self.actions.stop_bot)

    def on_quit_app(self, _request) -> None:
        self.quit_app()
