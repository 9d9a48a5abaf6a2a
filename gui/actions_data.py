"""The data pages' verbs (Data, Personas, Dataset; Training and Models in ``gui.actions_runs``, the Models page's
examples and blind test in ``gui.actions_eval``), mixed into ``gui.actions.Actions``: the only place these pages reach
core and storage.

Long work is a worker job (import, fetch, prepare, train, export, eval) started with ``start_job``; work that is
short but may still take a moment (statistics over the messages, an index of a dataset, forget, the VRAM estimate)
runs on a thread with ``in_background``, which publishes ``TaskFinished`` on the bus so the pump hands the result
to the page on the Tk thread. A verb that cannot run raises ``ActionError`` (what failed, what to do).
"""
from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from core.jobs.events import Event
from core.jobs.specs import LIGHT_STOP_GRACE, JobSpec, cli_argv, new_job_dir
from gui.actions_cloud import CloudActions
from gui.actions_eval import EvalActions
from gui.actions_runs import RunActions
from gui.errors import ActionError, NotAvailable

PANEL_TASK_ID = "panel"
PAGE_SIZE = 1  # examples per curation page: one at a time, read with its whole context
TOP_AUTHORS = 10
OPT_IN_WAIT_S = 0.5  # an opt-in is a row: if the consent lock is held longer, a forget is running
EXAMPLE_HEADING = "=== example"  # how core.dataset.preview titles each example
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TaskFinished(Event):
    """A background task of the panel ended: ``result``, or ``error`` = (what failed, what to do)."""
    task: str = ""
    result: Any = None
    error: tuple[str, str] | None = None
    details: dict[str, Any] = field(default_factory=dict)


def cli_job(workspace, name: str, *args: str) -> JobSpec:
    """A CLI command (``launcher.py --workspace ROOT ARGS...``) as a job: for work that touches the memory index
    (lancedb, which the panel's process never imports), such as opt-out and forget. Exit 0 is "finished"; any
    other exit is a JobFailed with the command's last lines (its one-line error among them)."""
    return JobSpec(name=name, argv=cli_argv(workspace, *args), run_dir=new_job_dir(workspace.logs_dir, name),
                   stop_grace=LIGHT_STOP_GRACE, terminate_grace=5.0)


class DataActions(RunActions, EvalActions, CloudActions):
    # -- plumbing ---------------------------------------------------------------------------------------------------
    def in_background(self, task: str, function: Callable[..., Any], *args, **details) -> threading.Thread:
        """Run ``function(*args)`` on a thread; its result (or its ActionError) arrives as ``TaskFinished``."""
        def work() -> None:
            try:
                event = TaskFinished(job_id=PANEL_TASK_ID, task=task, result=function(*args), details=details)
            except ActionError as exc:
                event = TaskFinished(job_id=PANEL_TASK_ID, task=task, error=(exc.what, exc.advice), details=details)
            except Exception as exc:  # a bug: the page still hears that the task ended, in words
                log.exception("background task %s failed", task)
                event = TaskFinished(job_id=PANEL_TASK_ID, task=task, details=details,
                                     error=(f"{task} failed: {exc}", "see the log in the workspace's logs folder"))
            self.bus.publish(event)
        thread = threading.Thread(target=work, name=f"panel-{task}", daemon=True)
        thread.start()
        return thread

    def dataset_config(self):
        from core.config.app_config import load_config
        from core.config.strict import ConfigError
        try:
            return load_config(self.workspace.config_path)
        except ConfigError as exc:
            raise ActionError(f"config.toml is unusable: {exc}", "fix or delete that file") from None

    # -- Data -------------------------------------------------------------------------------------------------------
    def channels(self):
        """Every stored channel (``storage.channels.StoredChannel``), allowlisted or not."""
        from storage.channels import stored_channels
        with self.connect() as conn:
            return stored_channels(conn)

    def start_import(self, paths) -> str:
        from core.ingest.jobs import import_job
        paths = [Path(path) for path in paths if str(path).strip()]
        missing = [str(path) for path in paths if not path.exists()]
        if not paths or missing:
            raise ActionError(f"nothing to import: {', '.join(missing) or 'no file chosen'}",
                               "choose DiscordChatExporter JSON/CSV files, a folder of them or a .zip")
        return self.start_job(import_job(self.workspace, paths))

    def start_fetch(self, channel_ids=None) -> str:
        from core.fetching.jobs import NoToken, fetch_job
        if not channel_ids and not self.allowlisted_channels():
            raise NotAvailable("no channel is allowlisted", "tick the channels to fetch in the list above")
        try:
            return self.start_job(fetch_job(self.workspace, channel_ids))
        except NoToken:
            raise NotAvailable("no bot token yet", "add the token on the Settings page first") from None

    def data_stats(self) -> dict:
        """Counts, messages per month and the top authors (call through ``in_background``: one scan)."""
        from storage.stats import collect_stats
        with self.connect() as conn:
            stats = collect_stats(conn, TOP_AUTHORS)
            stats["per_month"] = [(month, count) for month, count in conn.execute(
                "SELECT substr(created_at, 1, 7) AS month, count(*) FROM messages GROUP BY month ORDER BY month")
                if month]
        return stats

    # -- Personas ---------------------------------------------------------------------------------------------------
    def personas(self):
        """Every persona (``core.dataset.personas.PersonaInfo``), opted-out ones flagged, most messages first."""
        from core.dataset.personas import roster
        minimum = self.dataset_config().dataset.min_messages
        with self.connect() as conn:
            return sorted(roster(conn, minimum), key=lambda person: -person.messages)

    def rename_persona(self, user_id: int, name: str) -> None:
        from storage.personas import set_profile
        name = " ".join(name.split())
        if not name:
            raise ActionError("a persona needs a name", "type the name to show in prompts and the bot")
        with self.connect() as conn, conn:
            set_profile(conn, user_id, name=name)

    def describe_persona(self, user_id: int, description: str) -> None:
        from storage.personas import set_profile
        with self.connect() as conn, conn:
            set_profile(conn, user_id, description=description.strip())

    def persona_style(self, user_id: int) -> dict:
        """The persona's style profile in words and the line their prompts get (``core.dataset.persona_style``)."""
        from core.dataset.persona_style import style_state
        with self.connect() as conn:
            return style_state(conn, user_id)

    def set_persona_style(self, user_id: int, line: str | None) -> dict:
        """Store the owner's style line (None: back to the computed one), as the description is stored; returns the
        new state. Refused in words when nothing is computed yet or the person opted out."""
        from core.dataset.persona_style import StyleError, edit_style_line
        try:
            with self.connect() as conn:
                return edit_style_line(conn, user_id, line)
        except StyleError as exc:
            raise ActionError(str(exc)) from None

    def set_opted_out(self, user_id: int, opted_out: bool) -> str | None:
        """Opt back in (at once: the database only), or opt out: a job running the CLI's ``personas optout``, which
        marks what holds their text stale and deletes their memories (the memory index is not the panel's to open).
        Returns the opt-out's job id."""
        if not opted_out:
            from core.consent.actions import opt_in
            from core.consent.lock import ConsentBusy
            with self.connect() as conn:
                try:  # the Tk thread never waits out a forget that holds the consent lock for minutes
                    opt_in(conn, user_id, wait=OPT_IN_WAIT_S)
                except ConsentBusy:
                    raise ActionError("a forget is running", "opt this person back in when it is done") from None
            return None
        return self.start_job(cli_job(self.workspace, "optout", "personas", "optout", str(int(user_id))))

    def forget_preview(self, user_id: int) -> dict:
        """What forget would delete: their messages, and the artifacts holding their text (for the confirmation)."""
        from storage.artifacts import holding_user
        with self.connect() as conn:
            messages = conn.execute("SELECT count(*) FROM messages WHERE author_id = ?", (user_id,)).fetchone()[0]
            held = holding_user(conn, user_id)
        return {"messages": int(messages), "artifacts": [(artifact.kind, artifact.path) for artifact in held]}

    def forget_persona(self, user_id: int) -> str:
        """Forget the person: a job running the CLI's ``personas forget --yes`` (files are rewritten, the memory
        index edited and the WAL emptied); returns its job id. The view asked for confirmation first. It may run
        beside any other job: a prepare or embed running meanwhile publishes nothing of theirs
        (``core.consent.guard``)."""
        return self.start_job(cli_job(self.workspace, "forget", "personas", "forget", str(int(user_id)), "--yes"))

    def balance_shares(self, dataset: Path | None = None) -> list[dict]:
        """Per persona of the latest dataset: name, share before and after balancing ([] before any prepare)."""
        stats = self.dataset_stats(dataset)
        return [{"name": p["name"], "before": p["share_before"], "after": p["share_after"]}
                for p in (stats or {}).get("personas", [])]

    # -- Dataset ----------------------------------------------------------------------------------------------------
    def latest_dataset(self) -> Path | None:
        from core.dataset.writer import latest_dataset
        return latest_dataset(self.workspace.datasets_dir)

    def dataset_stats(self, dataset: Path | None = None) -> dict | None:
        folder = dataset or self.latest_dataset()
        if folder is None or not (folder / "stats.json").is_file():
            return None
        return json.loads((folder / "stats.json").read_text(encoding="utf-8"))

    def dataset_preview(self, dataset: Path | None = None) -> list[tuple[str, bool]]:
        """preview.txt as (text, trained) runs, the trained tokens' markers taken out ([] before any prepare)."""
        from core.dataset.browse import split_trained
        folder = dataset or self.latest_dataset()
        path = folder / "preview.txt" if folder else None
        if path is None or not path.is_file():
            return []
        text = path.read_text(encoding="utf-8")
        start = text.find(EXAMPLE_HEADING)  # the file's own header names the markers: it is not an example
        return split_trained(text[start:] if start >= 0 else text)

    def start_prepare(self, *, personas: str = "all", strategy: str = "multi", min_messages: int | None = None,
                      split_by: str | None = None, seed: int | None = None, format: str = "chatml") -> str:
        """A hosted service's format is not written here: the page asks first, then ``start_dataset_format``."""
        from core.dataset.formats import HOSTED
        from core.dataset.jobs import prepare_job
        return self.start_job(prepare_job(self.workspace, personas=personas.strip() or "all", strategy=strategy,
                                          min_messages=min_messages, split_by=split_by, seed=seed,
                                          format="chatml" if format in HOSTED else format))

    def upload_confirmation(self, dataset: Path | None = None) -> str:
        """The sentence the owner confirms before the latest dataset is written for a hosted service."""
        from core.dataset.leaving import NotADataset, confirmation_text, people_leaving
        try:
            return confirmation_text(people_leaving(dataset or self.latest_dataset() or Path("")))
        except NotADataset as exc:
            raise NotAvailable(str(exc), "press Prepare first") from None

    def start_dataset_format(self, name: str, dataset: Path | None = None) -> str:
        """``dataset-format NAME --yes-upload`` for the latest dataset, once the owner said yes in the dialog."""
        folder = dataset or self.latest_dataset()
        if folder is None:
            raise NotAvailable("no prepared dataset yet", "press Prepare first")
        return self.start_job(cli_job(self.workspace, "dataset-format", "dataset-format", name, "--yes-upload",
                                      "--data", str(folder)))

    def example_index(self, dataset: Path | None = None):
        """The latest dataset's train.jsonl as an ``ExampleIndex`` (cached per file version; use in_background)."""
        from core.dataset.browse import ExampleIndex
        folder = dataset or self.latest_dataset()
        if folder is None or not (folder / "train.jsonl").is_file():
            raise NotAvailable("no prepared dataset yet", "press Prepare first")
        path = folder / "train.jsonl"
        key = (str(path), path.stat().st_mtime_ns)
        cached = getattr(self, "_example_index", None)
        if cached is None or cached[0] != key:
            cached = self._example_index = (key, ExampleIndex.build(path))
        return cached[1]

    def curation_page(self, index, persona_id: int | None, page: int, unmarked_only: bool = False,
                      page_size: int = PAGE_SIZE) -> dict:
        """One page of examples: {"items": [{"example", "mark", "parts"}], "page", "pages", "total"}; ``parts`` is the
        rendered example as (text, trained) runs, ``mark`` a ``storage.curation.Mark`` or None."""
        from core.dataset.browse import split_trained
        from storage.curation import marks
        with self.connect() as conn:
            stored = marks(conn, persona_id)
        chosen = index.select(persona_id, exclude=set(stored) if unmarked_only else None)
        pages = max(1, -(-len(chosen) // page_size))
        page = max(0, min(page, pages - 1))
        examples = index.read(chosen[page * page_size:(page + 1) * page_size])
        items = [{"example": example, "mark": stored.get(example.message_id),
                  "parts": split_trained(example.rendered())} for example in examples]
        return {"items": items, "page": page,
                "pages": pages, "total": len(chosen)}

    def mark_example(self, message_id: int, persona_id: int, mark: str | None, better_answer: str | None = None):
        from storage.curation import CurationError, set_mark
        try:
            with self.connect() as conn, conn:
                return set_mark(conn, message_id, persona_id, mark, better_answer)
        except CurationError as exc:
            raise ActionError(str(exc)) from None

    def curation_counts(self) -> dict[str, int]:
        from storage.curation import counts
        with self.connect() as conn:
            return counts(conn)
