"""The panel's verbs: the only place in gui/ that calls core, bot_controller and storage.

Views hold an ``Actions`` and call its verbs; a long verb starts a worker job through the job runner and returns the
job id at once (the job's events arrive through the pump). A verb that cannot run raises ``ActionError`` with what
failed and what to do, which the view shows in its banner. The data pages' verbs (Data, Personas, Dataset, Training,
Models) live in ``gui.actions_data.DataActions``, mixed in here; they may use ``workspace``, ``bus``, ``runner``,
``connect()``, ``start_job(spec)`` and ``stop_job(job_id)``.
"""
from __future__ import annotations

import logging
from contextlib import closing, contextmanager
from pathlib import Path

from core.config.workspace import Workspace
from core.jobs.bus import EventBus
from core.jobs.events import KillJob, StopJob
from core.jobs.runner import JobRunner
from core.jobs.specs import JobSpec, new_job_id, worker_argv
from gui.actions_panel import PanelActions
from gui.errors import ActionError, NotAvailable  # noqa: F401 (re-exported: views catch gui.actions.ActionError)
from gui.events import PANEL_JOB_ID, WorkspaceSwitched
from gui.live_channels import LiveChannelsActions
from gui.preferences import Preferences, load_preferences, save_preferences

try:
    from gui.actions_data import DataActions
except ModuleNotFoundError as exc:  # the data pages' verbs have not landed yet
    if exc.name != "gui.actions_data":
        raise

    class DataActions:  # type: ignore[no-redef]
        """Placeholder until gui/actions_data.py exists."""

CHAT_DIR = "chat"             # as the CLI's chat command: WORKSPACE/logs/chat

log = logging.getLogger(__name__)


class Actions(PanelActions, LiveChannelsActions, DataActions):
    def __init__(self, workspace: Workspace, bus: EventBus, runner: JobRunner | None = None, *,
                 controller_factory=None) -> None:
        self.workspace = workspace
        self.bus = bus
        self.runner = runner if runner is not None else JobRunner(bus)
        self._controller = None
        self._controller_factory = controller_factory  # (workspace, bus) -> BotController; tests pass a fake bot
        self.preferences = load_preferences(workspace.root)

    # -- plumbing the pages share ----------------------------------------------------------------------------------
    @contextmanager
    def connect(self):
        """A connection to the workspace database, closed afterwards (storage runs the migrations)."""
        with closing(self.workspace.connect()) as conn:
            yield conn

    def start_job(self, spec: JobSpec) -> str:
        job_id = new_job_id(spec.name)
        try:
            self.runner.start(spec, job_id=job_id)
        except OSError as exc:
            raise ActionError(f"could not start the {spec.name} worker: {exc}",
                              "check that the app's files are complete (launcher.py)") from None
        return job_id

    def stop_job(self, job_id: str) -> None:
        self.runner.handle(StopJob(job_id=job_id))

    def kill_job(self, job_id: str) -> None:
        self.runner.handle(KillJob(job_id=job_id))

    def running_jobs(self) -> list[tuple[str, str, str]]:
        """(job id, name, state) of every job still running."""
        return [(job.id, job.spec.name, job.state) for job in self.runner.jobs() if job.running]

    def save_preferences(self, **changes) -> Preferences:
        for key, value in changes.items():
            if not hasattr(self.preferences, key):
                raise ActionError(f"unknown panel preference {key!r}")
            setattr(self.preferences, key, value)
        save_preferences(self.workspace.root, self.preferences)
        return self.preferences

    def switch_workspace(self, root: Path | str) -> Workspace:
        """Work on another workspace from now on; refused while jobs run (they write to the current one)."""
        if self.running_jobs():
            raise ActionError("cannot switch workspaces while a job runs", "stop the running jobs first")
        if self._controller is not None:
            self._controller.close()
            self._controller = None
        self.workspace = Workspace.open(root)
        self.preferences = load_preferences(self.workspace.root)
        self.bus.publish(WorkspaceSwitched(job_id=PANEL_JOB_ID, root=str(self.workspace.root)))
        return self.workspace

    def shutdown(self, timeout: float = 30.0) -> None:
        """The app is quitting: stop every job (then kill) and the bot; returns when nothing is left running."""
        thread = self.runner.shutdown(timeout=timeout)
        if self._controller is not None:
            self._controller.close()
        thread.join(timeout + 15.0)

    # -- the bot ---------------------------------------------------------------------------------------------------
    @property
    def controller(self):
        if self._controller is None:
            from bot_controller.controller import BotController
            factory = self._controller_factory or BotController
            self._controller = factory(self.workspace, self.bus)
        return self._controller

    def bot_status(self):
        """The controller's snapshot (``bot_controller.status.BotStatus``); None before the bot was ever touched."""
        return self._controller.status() if self._controller is not None else None

    def start_bot(self) -> None:
        from core.config.secrets import token_source
        if token_source() is None:
            raise NotAvailable("no bot token yet", "add the token on the Settings page (it goes to the OS keyring)")
        self.controller.start()

    def stop_bot(self) -> None:
        if self._controller is not None:
            self._controller.stop()

    def restart_bot(self) -> None:
        self.controller.restart()

    def bot_settings(self):
        from storage.bot_settings import BotSettingsError, load
        with self.connect() as conn:
            try:
                return load(conn)
            except BotSettingsError as exc:
                raise ActionError(f"the stored bot settings are unusable: {exc}",
                                  "set that value again on this page") from None

    def bot_settings_version(self) -> int:
        """Bumped by a trigger on every change (the slash commands' too): the page re-reads when it moves."""
        from storage.bot_settings import settings_version
        with self.connect() as conn:
            return settings_version(conn)

    def set_bot_setting(self, key: str, value):
        """Store one bot setting (the same rows the slash commands change) and tell a running bot."""
        from storage.bot_settings import BotSettingsError, set_value
        with self.connect() as conn:
            try:
                with conn:
                    stored = set_value(conn, key, value)
            except BotSettingsError as exc:
                raise ActionError(str(exc), "enter a value in the range shown") from None
        if self._controller is not None:
            self._controller.settings_changed(["bot"])
        return stored

    def set_channel_webhook(self, channel_id: int, webhook: bool) -> None:
        from storage.bot_settings import set_channel
        with self.connect() as conn, conn:
            set_channel(conn, channel_id, webhook=webhook)
        if self._controller is not None:
            self._controller.settings_changed(["channels"])

    def home_servers(self) -> list[tuple[int, str | None]]:
        """(guild id, name or None when no import or fetch stored it) of the bot's home servers, in stored order."""
        settings = self.bot_settings()
        with self.connect() as conn:
            names = dict(conn.execute("SELECT id, name FROM guilds"))
        return [(guild_id, names.get(guild_id) or None) for guild_id in settings.home_guild_ids]

    def leave_guild(self, guild_id: int) -> bool:
        """Ask the running bot to leave a server (the page asked the owner first); False when no bot runs."""
        return self._controller is not None and self._controller.leave_guild(int(guild_id))

    def persona_choices(self) -> list[tuple[int, str]]:
        """(user id, name) of the personas, most messages first, opted-out ones left out."""
        from core.config.app_config import load_config
        from core.dataset.personas import roster
        minimum = load_config(self.workspace.config_path).dataset.min_messages
        with self.connect() as conn:
            people = roster(conn, minimum)
        return [(person.id, person.name) for person in sorted(people, key=lambda p: -p.messages)
                if not person.opted_out]

    def allowlisted_channels(self) -> list[tuple[int, str]]:
        with self.connect() as conn:
            return [(int(row[0]), row[1] or str(row[0])) for row in conn.execute(
                "SELECT id, name FROM channels WHERE allowlisted = 1 ORDER BY name")]

    def exported_models(self) -> list[Path]:
        """GGUF files of the workspace, newest first (runs' exports and WORKSPACE/models)."""
        found = [*self.workspace.runs_dir.glob("*/export/*.gguf"), *self.workspace.models_dir.glob("*.gguf")]
        return sorted((path for path in found if path.is_file()), key=lambda p: p.stat().st_mtime, reverse=True)

    # -- the playground --------------------------------------------------------------------------------------------
    def start_chat(self, persona_id: int, model: Path | None = None, channel_id: int | None = None,
                   max_tokens: int | None = None, compare: str | Path | None = None) -> str:
        """A chat worker (the bot's reply pipeline) that keeps the model loaded; answer lines with ``send_chat``.
        ``compare``: "base" (the model's training base) or another GGUF answers every line too (two ChatReplied
        events per line, side "a" then "b"; ``core.prompting.compare``)."""
        from core.prompting.compare import CompareError, compare_model
        models = [model] if model else self.exported_models()
        if not models:
            raise NotAvailable("no model exported yet", "train a model and export it on the Models page")
        argv = ["--workspace", str(self.workspace.root), "--persona", str(persona_id), "--model", str(models[0]),
                "--gpu-layers", str(self.preferences.gpu_layers)]
        if compare is not None:
            try:
                argv += ["--compare", str(compare_model(models[0], compare))]
            except CompareError as exc:
                raise ActionError(f"no model to compare with: {exc}", "pick another in Compare with") from None
        if channel_id is not None:
            argv += ["--channel", str(channel_id)]
        if max_tokens is not None:
            argv += ["--max-tokens", str(max_tokens)]
        job_dir = self.workspace.logs_dir / CHAT_DIR
        job_dir.mkdir(parents=True, exist_ok=True)
        return self.start_job(JobSpec(name="chat", argv=worker_argv("chat", *argv), run_dir=job_dir,
                                      stop_grace=10.0))

    def send_chat(self, job_id: str, text: str) -> None:
        from core.prompting.playground import ChatLine
        job = self.runner.get(job_id)
        if job is None or not job.running:
            raise ActionError("the playground's model is not running", "press Load to start it again")
        job.send_request(ChatLine(job_id=job_id, text=text))
