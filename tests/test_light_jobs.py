"""import, prepare and fetch as worker jobs (real `launcher.py --worker` subprocesses through the job runner):
progress events, cooperative cancel that keeps what was committed, and the same rows as the in-process CLI."""
from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest

from core.config.workspace import Workspace
from core.jobs.bus import EventBus
from core.jobs.events import JobFailed, JobFinished, JobLaunched, JobStarted, JobStateChanged, LogLine, ProgressReported
from core.jobs.runner import JobRunner
from tests.conftest import run_cli

pytestmark = pytest.mark.slow  # each test starts a few Python subprocesses
MESSAGES = 10_000


def run_job(spec, *, stop_on_start: bool = False, stop_on_progress: bool = False, timeout: float = 120.0) -> list:
    """All events of the job ``spec`` to its ending; a stop as soon as the work begins (``stop_on_start``) or once
    its first progress arrives (``stop_on_progress``)."""
    bus = EventBus()
    sub = bus.subscribe("test")
    job = JobRunner(bus).start(spec)
    events, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        for event in sub.drain(timeout=0.2):
            events.append(event)
            if (stop_on_start and isinstance(event, JobStarted)) or (
                    stop_on_progress and isinstance(event, ProgressReported) and event.step):
                job.stop()
            if isinstance(event, (JobFinished, JobFailed)):
                assert job.wait(30) is not None
                return events
    raise AssertionError(f"no ending in {timeout}s: {events[-5:]}")


def of(events, kind):
    return [event for event in events if isinstance(event, kind)]


def rows(database: Path) -> list[tuple]:
    with sqlite3.connect(database) as conn:
        return (conn.execute("SELECT id, channel_id, author_id, created_at, edited_at, type, content, reply_to_id, "
                             "mentions, attachment_count, pinned FROM messages ORDER BY id").fetchall()
                + conn.execute("SELECT * FROM users ORDER BY id").fetchall()
                + conn.execute("SELECT * FROM channels ORDER BY id").fetchall())


def message_count(database: Path) -> int:
    with sqlite3.connect(database) as conn:
        return conn.execute("SELECT count(*) FROM messages").fetchone()[0]


@pytest.fixture(scope="module")
def export(tmp_path_factory) -> Path:
    from bench.synthetic import write_synthetic_export
    folder = tmp_path_factory.mktemp("export")
    write_synthetic_export(folder, MESSAGES, seed=3)
    return folder


def test_import_job_reports_progress_and_stores_the_cli_rows(tmp_path, export):
    from core.ingest.jobs import import_job
    cli, worker = Workspace.open(tmp_path / "cli"), Workspace.open(tmp_path / "worker")
    code, out, err = run_cli("import", str(export), "--json", workspace=cli)
    assert code == 0, err
    events = run_job(import_job(worker, [export], batch_size=2000))
    ending = events[-1]
    assert isinstance(ending, JobFinished) and ending.status == "finished", events[-3:]
    assert [event.state for event in of(events, JobStateChanged)] == ["starting", "running", "finished"]
    progress = [event for event in of(events, ProgressReported) if event.step]
    assert progress and progress[-1].total == sum(path.stat().st_size for path in export.rglob("*.json"))
    assert [event.step for event in progress] == sorted(event.step for event in progress)
    expected = json.loads(out)
    assert {**ending.result, "seconds": 0} == {**expected, "seconds": 0}
    assert rows(worker.database_path) == rows(cli.database_path) and message_count(cli.database_path) == MESSAGES
    assert (Path(of(events, JobLaunched)[0].run_dir) / "run.log").exists()  # the job folder under logs/jobs


def test_import_job_stops_after_a_committed_batch_and_a_rerun_completes(tmp_path, export):
    from core.ingest.jobs import import_job
    workspace = Workspace.open(tmp_path / "ws")
    events = run_job(import_job(workspace, [export], batch_size=2000), stop_on_start=True)
    assert events[-1].status == "stopped"
    assert [event.state for event in of(events, JobStateChanged)] == ["starting", "running", "stopping", "stopped"]
    partial = message_count(workspace.database_path)
    # typically the first file's batches (the stop lands while it is read); 0 when the worker saw the stop before
    # it began, which a loaded machine can make happen
    assert 0 <= partial < MESSAGES and events[-1].result.get("messages_seen", 0) >= partial
    again = run_job(import_job(workspace, [export]))
    assert again[-1].status == "finished" and again[-1].result["messages_new"] == MESSAGES - partial
    assert message_count(workspace.database_path) == MESSAGES


def test_import_job_with_an_unknown_option_fails_in_one_line(tmp_path, export):
    from core.ingest.jobs import import_job
    events = run_job(import_job(Workspace.open(tmp_path / "ws"), [export], no_such_option=1))
    assert isinstance(events[-1], JobFailed) and "no_such_option" in events[-1].message
    assert "Traceback" not in "\n".join(event.text for event in of(events, LogLine))


@pytest.fixture(scope="module")
def imported(tmp_path_factory, export) -> Workspace:
    workspace = Workspace.open(tmp_path_factory.mktemp("prepared") / "ws")
    code, out, err = run_cli("import", str(export), "--json", workspace=workspace)
    assert code == 0, err
    workspace.config_path.write_text("[dataset]\nmin_messages = 20\n", encoding="utf-8")
    return workspace


def test_prepare_job_writes_the_files_the_cli_writes(imported, tmp_path):
    from core.dataset.jobs import prepare_job
    code, out, err = run_cli("prepare", "--out", str(tmp_path / "cli"), "--json", workspace=imported)
    assert code == 0, err
    events = run_job(prepare_job(imported, out=tmp_path / "worker"))
    ending = events[-1]
    assert isinstance(ending, JobFinished) and ending.status == "finished", events[-3:]
    assert ending.result["out"] == str(tmp_path / "worker") and ending.result["examples"] == json.loads(out)[
        "examples"]
    progress = of(events, ProgressReported)
    assert len(progress) >= 2 and progress[-1].total == MESSAGES
    for name in ("train.jsonl", "val.jsonl", "test.jsonl", "dpo.jsonl", "preview.txt"):
        cli_file, worker_file = tmp_path / "cli" / name, tmp_path / "worker" / name
        assert cli_file.exists() == worker_file.exists()
        if cli_file.exists():
            assert cli_file.read_bytes() == worker_file.read_bytes(), name


def test_prepare_job_writes_a_trainer_format_like_the_cli_and_refuses_a_hosted_one(imported, tmp_path):
    from core.dataset.jobs import prepare_job
    code, _, err = run_cli("prepare", "--out", str(tmp_path / "cli"), "--format", "llamafactory", workspace=imported)
    assert code == 0, err
    events = run_job(prepare_job(imported, out=tmp_path / "worker", format="llamafactory"))
    assert isinstance(events[-1], JobFinished) and events[-1].status == "finished", events[-3:]
    for name in ("train.jsonl", "val.jsonl", "test.jsonl", "dpo.jsonl", "dataset_info.json"):
        cli_file, worker_file = (tmp_path / folder / "llamafactory" / name for folder in ("cli", "worker"))
        assert cli_file.read_bytes() == worker_file.read_bytes(), name
    spec = prepare_job(imported, out=tmp_path / "hosted", format="openai")  # the panel never asks for this
    events = run_job(spec)
    assert isinstance(events[-1], JobFailed) and "dataset-format openai" in events[-1].message
    assert not (tmp_path / "hosted" / "openai").exists()


def test_prepare_job_stop_keeps_the_previous_dataset(imported, tmp_path):
    from core.dataset.jobs import prepare_job
    out = tmp_path / "data"
    assert run_job(prepare_job(imported, out=out))[-1].status == "finished"
    before = {path.name: path.read_bytes() for path in out.iterdir() if path.is_file()}
    events = run_job(prepare_job(imported, out=out, seed=99), stop_on_start=True)
    assert events[-1].status == "stopped"
    assert {path.name: path.read_bytes() for path in out.iterdir() if path.is_file()} == before
    assert not list(out.glob(".staging-*"))


@pytest.fixture
def fake_discord(monkeypatch, workspace):
    from tests.discord_fake_client import MESSAGES_ENV, server
    monkeypatch.setenv("DPS_TEST_DISCORD_CLIENT", "tests.discord_fake_client:client")
    monkeypatch.setenv(MESSAGES_ENV, "1500")
    built = server()
    import core.fetching.discord_source
    monkeypatch.setattr(core.fetching.discord_source, "CLIENT_FACTORY", lambda: built.client)  # the CLI path
    return built


def test_fetch_job_stores_the_cli_rows_and_keeps_the_token_out(fake_discord, workspace, tmp_path, monkeypatch):
    from core.config import secrets
    from core.fetching.jobs import fetch_job
    worker = Workspace.open(tmp_path / "worker")
    channels = [str(fake_discord.general.id), str(fake_discord.random.id)]
    monkeypatch.setenv(secrets.TOKEN_ENV, fake_discord.token)
    code, out, err = run_cli("fetch", "--json", "--channel", *channels, workspace=workspace)
    assert code == 0, err
    monkeypatch.delenv(secrets.TOKEN_ENV)
    spec = fetch_job(worker, [int(channel) for channel in channels], token=fake_discord.token)
    assert fake_discord.token not in " ".join(spec.argv) + repr(spec) and fake_discord.token not in str(spec.env)
    events = run_job(spec)
    ending = events[-1]
    assert isinstance(ending, JobFinished) and ending.status == "finished", events[-5:]
    assert {**ending.result, "seconds": 0} == {**json.loads(out), "seconds": 0}
    assert len(of(events, ProgressReported)) >= 2
    assert rows(worker.database_path) == rows(workspace.database_path)
    log = (Path(of(events, JobLaunched)[0].run_dir) / "run.log").read_text(encoding="utf-8")
    assert "messages fetched" in log and fake_discord.token not in log


def test_fetch_job_stops_between_pages_and_resumes(fake_discord, tmp_path, monkeypatch):
    from core.fetching.jobs import fetch_job
    from tests.discord_fake_client import PAGE_SECONDS_ENV
    monkeypatch.setenv(PAGE_SECONDS_ENV, "0.02")  # 154 pages: about 3 s, a stop lands within a page or two
    worker = Workspace.open(tmp_path / "worker")
    worker.config_path.write_text("[fetch]\npage_size = 10\n", encoding="utf-8")
    ids = [fake_discord.general.id, fake_discord.random.id]
    events = run_job(fetch_job(worker, ids, token=fake_discord.token), stop_on_progress=True)
    assert events[-1].status == "stopped", events[-5:]
    partial = message_count(worker.database_path)
    assert 10 <= partial < 1540 and partial % 10 == 0 and events[-1].result["messages_new"] == partial
    again = run_job(fetch_job(worker, ids, token=fake_discord.token))
    assert again[-1].status == "finished" and again[-1].result["messages_new"] == 1540 - partial
    assert message_count(worker.database_path) == 1540


def test_fetch_job_without_a_token_is_refused(workspace):
    from core.fetching.jobs import NoToken, fetch_job
    with pytest.raises(NoToken):
        fetch_job(workspace, [1])
