"""Forget and opt-out reach every artifact: after ``forget`` no file of the workspace holds the person's text (the
SQLite file, its -wal and -shm included, also with another connection reading), weights trained on it are kept but
stale and named; an opt-out marks stale only what holds that user's text; a stale run is refused by ``export``,
``eval`` and ``train --resume`` with one line naming the reason and the rebuild command.

The run folder is built the way ``plan_new_run`` and the workers build it (``create_run`` plus the same
registration calls), with the files the workers would write: a real training run would take minutes."""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from core.jobs import runs
from core.training.artifacts import register_run, register_run_output, run_stale_message
from storage import artifacts
from storage.db import connect
from tests.conftest import run_cli
from tests.test_dataset_support import History, read_jsonl

ANN, BEN, DEE, ZED = 301, 302, 304, 305
DEE_SECRET = "dee-only-words-quokka"
DEE_LONG = "Quokka mañana plan: bring the teal kayak and the walnut bread"
NEEDLES = (DEE_SECRET, DEE_LONG, json.dumps(DEE_LONG)[1:-1], "teal kayak and the walnut")
ANN_LINE = "ann writes about her garden trellis"


def seed(workspace, with_zed: bool = True) -> None:
    history = History()
    for user_id, name in ((ANN, "Ann"), (BEN, "Ben"), (DEE, "Dee Dee"), (ZED, "Zed")):
        history.user(user_id, name)
    general = history.channel(8000, "general")
    for number in range(12):
        opener = history.say(general, BEN, f"topic {number}, thoughts?", after=4000)
        history.say(general, DEE, f"{DEE_SECRET} {number}", reply_to=opener, reactions=2)
        history.say(general, ANN, f"{ANN_LINE} {number}")
        history.say(general, DEE, f"{DEE_LONG} {number}\nsecond line of dee's note {number}")
        history.say(general, ANN, f"ok then {number}", reply_to=opener)
        if with_zed:
            history.say(general, ZED, f"zed chimes in {number}")
    history.write(workspace.connect())


def cli(workspace, *argv) -> dict:
    code, out, err = run_cli(*argv, "--json", workspace=workspace)
    assert code == 0, err
    return json.loads(out)


def prepare(workspace, folder: Path) -> Path:
    cli(workspace, "prepare", "--out", str(folder), "--min-messages", "5")
    return folder.resolve()


def fake_run(workspace, data_dir: Path) -> Path:
    """A run folder as ``plan_new_run`` registers it, with what the train, export and eval workers would write."""
    run_dir = runs.create_run(workspace.runs_dir, {"kind": "train", "data_dir": str(data_dir),
                                                   "database": str(workspace.database_path)})
    conn = workspace.connect()
    register_run(conn, run_dir, data_dir)
    conn.close()
    example = next(record for record in read_jsonl(data_dir / "train.jsonl")
                   if DEE_SECRET in record["messages"][-1]["content"])  # Dee's own reply is the target
    text_of_example = example["messages"][-1]["content"]
    (run_dir / "run.log").write_text(f"loading\nskipped a long example: {text_of_example}\n", encoding="utf-8")
    (run_dir / "metrics.jsonl").write_text(json.dumps({"type": "progress", "step": 1, "loss": 2.5}) + "\n"
                                           + json.dumps({"type": "log", "text": DEE_LONG}) + "\n", encoding="utf-8")
    for folder in (run_dir / "checkpoints" / "checkpoint-2", run_dir / "adapter"):
        folder.mkdir(parents=True)
        (folder / "adapter_model.safetensors").write_bytes(b"\x00weights\x01" * 64)
        (folder / "adapter_config.json").write_text('{"r": 8}', encoding="utf-8")
    (run_dir / "checkpoints" / "checkpoint-2" / "trainer_state.json").write_text('{"log_history": []}')
    (run_dir / "checkpoints" / "checkpoint-2" / "optimizer.pt").write_bytes(b"\x00optimizer" * 32)
    assert register_run_output(run_dir, "export", run_dir / "export") is None  # the export worker's call
    export = run_dir / "export"
    (export / "merged").mkdir(parents=True)
    (export / "merged" / "model.safetensors").write_bytes(b"\x00merged" * 64)
    (export / "model-q4_k_m.gguf").write_bytes(b"GGUF" + b"\x00" * 256)
    (export / "smoke.json").write_text(json.dumps({"prompts": [{"messages": example["messages"][:-1]}]}),
                                       encoding="utf-8")
    (export / "Modelfile").write_text("FROM ./model-q4_k_m.gguf\n", encoding="utf-8")
    assert register_run_output(run_dir, "eval", run_dir / "eval") is None  # the eval worker's call
    evaluation = run_dir / "eval"
    evaluation.mkdir()
    (evaluation / "blind_ab.jsonl").write_text(json.dumps({"a": DEE_LONG, "b": "generated"}) + "\n",
                                               encoding="utf-8")
    (evaluation / "blind_ab_key.json").write_text('{"1": "a"}', encoding="utf-8")
    (evaluation / "eval.json").write_text(json.dumps({"samples": [{"real": f"{DEE_SECRET} 3"}]},
                                                     ensure_ascii=False), encoding="utf-8")
    return run_dir


def files_holding(root: Path, needles=NEEDLES) -> list[str]:
    found = []
    for path in sorted(root.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path}: {needle}" for needle in needles if needle.encode() in data]
    return found


class Reader(threading.Thread):
    """Another program (the panel, the bot) reading the database in short transactions while forget runs."""

    def __init__(self, database: Path):
        super().__init__(daemon=True)
        self.conn = connect(database)
        self.stop = threading.Event()
        self.reads = 0

    def run(self) -> None:
        while not self.stop.is_set():
            self.conn.execute("BEGIN")
            self.conn.execute("SELECT COUNT(*), MAX(content) FROM messages").fetchone()
            time.sleep(0.01)
            self.conn.execute("COMMIT")
            self.reads += 1
            time.sleep(0.005)


def refusal(workspace, *argv) -> str:
    code, out, err = run_cli(*argv, workspace=workspace)
    assert code == 1, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def test_forget_leaves_none_of_their_text_in_any_file_while_another_connection_reads(workspace):
    seed(workspace)
    data_dir = prepare(workspace, workspace.datasets_dir / "set")
    cli(workspace, "prepare", "--min-messages", "5")  # the default folder, with `latest` pointing at it
    run_dir = fake_run(workspace, data_dir)
    (workspace.logs_dir / "app.log").write_text(f"reply drafted: {DEE_LONG} 7\n", encoding="utf-8")
    (workspace.logs_dir / "other.log").write_text(f"{ANN_LINE} 4\n", encoding="utf-8")
    assert len(files_holding(workspace.root)) > 10
    reader = Reader(workspace.database_path)
    reader.start()
    try:
        result = cli(workspace, "personas", "forget", str(DEE), "--yes")
        reads_during = reader.reads
    finally:
        reader.stop.set()
        reader.join()
    assert reads_during > 0 and result["messages_deleted"] == 24
    assert result["wal_checkpoint"]["busy"] == 0
    assert files_holding(workspace.root) == []  # studio.db, -wal and -shm included, the reader still connected
    reader.conn.close()
    deleted = set(result["deleted_files"])
    for path in (data_dir / "train.jsonl", data_dir / "preview.txt", run_dir / "export" / "smoke.json",
                 run_dir / "eval" / "blind_ab.jsonl", run_dir / "eval" / "eval.json", run_dir / "run.log",
                 run_dir / "metrics.jsonl", workspace.logs_dir / "app.log"):
        assert str(path) in deleted and not path.exists()
    weights = {run_dir / "adapter" / "adapter_model.safetensors", run_dir / "checkpoints" / "checkpoint-2" /
               "optimizer.pt", run_dir / "export" / "model-q4_k_m.gguf", run_dir / "export" / "merged" /
               "model.safetensors"}
    assert weights <= {Path(path) for path in result["stale_weights"]} and all(path.exists() for path in weights)
    assert (workspace.logs_dir / "other.log").exists() and (run_dir / "config.json").exists()
    assert (run_dir / "export" / "Modelfile").exists()  # holds no message text: kept
    kinds = {item["kind"] for item in result["stale"]}
    assert {"dataset", "run", "export", "eval"} <= kinds
    assert "was forgotten" in (run_dir / "STALE").read_text(encoding="utf-8")
    conn = workspace.connect()
    assert "who was forgotten" in artifacts.stale_reason(conn, run_dir / "export" / "model-q4_k_m.gguf")
    conn.close()
    for argv in (("export", run_dir.name), ("eval", run_dir.name), ("train", "--resume", run_dir.name)):
        line = refusal(workspace, *argv)
        assert f"run {run_dir.name} is stale: built from the messages of user {DEE}, who was forgotten" in line
        assert "rebuild: launcher.py prepare, then launcher.py train" in line
    line = refusal(workspace, "train", "--data", str(data_dir))
    assert "is stale" in line and "rebuild" in line
    # the rebuild works and holds none of their text
    after = prepare(workspace, workspace.datasets_dir / "set")
    assert not (after / "STALE").exists() and files_holding(workspace.root) == []


def test_optout_marks_stale_only_what_holds_that_user(workspace):
    seed(workspace)
    cli(workspace, "personas", "optout", str(ZED))
    without_zed = prepare(workspace, workspace.root / "without-zed")
    cli(workspace, "personas", "optin", str(ZED))
    with_zed = prepare(workspace, workspace.root / "with-zed")
    run_without, run_with = fake_run(workspace, without_zed), fake_run(workspace, with_zed)
    conn = workspace.connect()
    legacy = workspace.root / "legacy-set"
    legacy.mkdir()
    artifacts.register(conn, "dataset", legacy, users=None)  # from before migration 0003: whose text is unknown
    conn.close()
    result = cli(workspace, "personas", "optout", str(ZED))
    expected = {str(path) for path in (with_zed, run_with, run_with / "export", run_with / "eval", legacy)}
    assert set(result["stale_artifacts"]) == expected
    assert all(f"user {ZED}, who opted out" in item["reason"] for item in result["stale"])
    assert (with_zed / "STALE").is_file() and (run_with / "STALE").is_file()
    assert not (without_zed / "STALE").exists() and not (run_without / "STALE").exists()
    conn = workspace.connect()
    assert artifacts.stale_reason(conn, without_zed) is None and artifacts.stale_reason(conn, run_without) is None
    assert artifacts.stale_reason(conn, run_without / "export" / "model-q4_k_m.gguf") is None
    assert "opted out" in artifacts.stale_reason(conn, run_with / "export" / "model-q4_k_m.gguf")
    conn.close()
    for argv, action in ((("export", run_with.name), "cannot export: "), (("eval", run_with.name), "cannot evaluate: "),
                         (("train", "--resume", run_with.name), "")):
        line = refusal(workspace, *argv)
        assert f"{action}run {run_with.name} is stale: built from the messages of user {ZED}, who opted out" in line
        assert line.endswith("rebuild: launcher.py prepare, then launcher.py train")
    conn = workspace.connect()
    assert run_stale_message(conn, run_without) is None
    conn.close()
    # opting out again marks nothing new; a rebuild at the same path clears the dataset's mark
    assert cli(workspace, "personas", "optout", str(ZED))["stale_artifacts"] == []
    prepare(workspace, with_zed)
    conn = workspace.connect()
    assert artifacts.stale_reason(conn, with_zed) is None and artifacts.users_of(conn, with_zed) == {ANN, BEN, DEE}
    assert artifacts.stale_reason(conn, run_with) is not None  # the run was trained on the old text: still stale
    conn.close()


class SnapshotHolder(threading.Thread):
    """A reader inside an open transaction: its snapshot pins the WAL until it commits (after ``hold`` seconds)."""

    def __init__(self, database: Path, hold: float):
        super().__init__(daemon=True)
        self.conn = connect(database)
        self.hold, self.release = hold, threading.Event()
        self.conn.execute("BEGIN")
        self.conn.execute("SELECT COUNT(*) FROM messages").fetchone()  # the snapshot starts here

    def run(self) -> None:
        self.release.wait(self.hold)
        self.conn.execute("COMMIT")


def test_forget_retries_the_checkpoint_while_a_reader_holds_a_snapshot(workspace):
    from core.consent.actions import forget
    seed(workspace)
    conn = workspace.connect()
    conn.execute("PRAGMA wal_autocheckpoint = 0")  # keep the imported pages in the WAL, as a busy panel would
    holder = SnapshotHolder(workspace.database_path, hold=1.0)
    started = time.monotonic()
    holder.start()
    report = forget(conn, workspace.root, DEE, checkpoint_timeout=20)
    holder.join()
    assert time.monotonic() - started >= 0.9  # it waited for the reader instead of giving up or skipping it
    assert report["wal_checkpoint"] == {"busy": 0, "log": 0, "checkpointed": 0} and report["messages_deleted"] == 24
    assert files_holding(workspace.root) == []
    holder.conn.close()
    conn.close()


def test_forget_fails_loudly_when_the_checkpoint_never_completes_and_a_rerun_finishes(workspace):
    from core.consent.actions import forget
    from storage.wal import CheckpointIncomplete
    seed(workspace)
    conn = workspace.connect()
    holder = SnapshotHolder(workspace.database_path, hold=60)
    holder.start()
    started = time.monotonic()
    try:
        forget(conn, workspace.root, DEE, checkpoint_timeout=0.6)
    except CheckpointIncomplete as exc:
        message = str(exc)
    else:
        raise AssertionError("forget returned although a reader kept the WAL pinned")
    assert time.monotonic() - started < 5  # bounded: the timeout, not the 30 s busy timeout of the connection
    assert "busy=1" in message and "keeps reading the database" in message
    assert files_holding(workspace.root)  # the old pages really are still there: the failure was warranted
    holder.release.set()
    holder.join()
    holder.conn.close()
    again = cli(workspace, "personas", "forget", str(DEE), "--yes")  # by id: the user row is gone
    assert again["messages_deleted"] == 0 and again["wal_checkpoint"] == {"busy": 0, "log": 0, "checkpointed": 0}
    assert files_holding(workspace.root) == []
    conn.close()


def test_cli_forget_names_the_rerun_when_the_checkpoint_cannot_finish(workspace, monkeypatch):
    from storage import wal
    seed(workspace)
    monkeypatch.setattr(wal, "DEFAULT_TIMEOUT_S", 0.5)  # the CLI reads it per call; 30 s in real use
    holder = SnapshotHolder(workspace.database_path, hold=60)
    holder.start()
    started = time.monotonic()
    try:
        line = refusal(workspace, "personas", "forget", str(DEE), "--yes")
    finally:
        holder.release.set()
        holder.join()
        holder.conn.close()
    assert f"user {DEE}'s messages are deleted, but the write-ahead log still holds old pages" in line
    assert f"launcher.py personas forget {DEE} --yes` again" in line
    assert time.monotonic() - started < 10


@pytest.mark.slow  # LanceDB
def test_forget_removes_their_rows_from_a_real_memory_index_and_keeps_the_others(workspace):
    from storage.memory import MemoryRow, MemoryStore
    from storage.personas import register_artifact
    seed(workspace)
    store = MemoryStore(workspace.memory_dir, dim=4)
    rows = [MemoryRow(9000 + number, 8000, author, "2025-01-01T10:00:00+00:00", text, [0.5, 0.5, 0.5, 0.5])
            for number, (author, text) in enumerate([(DEE, f"{DEE_LONG} 1"), (DEE, f"{DEE_SECRET} 2"),
                                                     (ANN, f"{ANN_LINE} 3")])]
    assert store.add(rows) == 3
    conn = workspace.connect()
    register_artifact(conn, "memory", workspace.memory_dir)  # as the embed worker registers it (users unknown)
    conn.close()
    assert any("memory" in hit for hit in files_holding(workspace.root))
    result = cli(workspace, "personas", "forget", str(DEE), "--yes")
    assert str(workspace.memory_dir) in result["stale_artifacts"]
    assert files_holding(workspace.root) == []
    assert MemoryStore(workspace.memory_dir).count() == 1  # Ann's memory stays


def run_worker(name: str, run_dir: Path) -> tuple[int, str]:
    import subprocess
    import sys
    from tests.conftest import ROOT
    done = subprocess.run([sys.executable, str(ROOT / "launcher.py"), "--worker", name, "--run-dir", str(run_dir)],
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    return done.returncode, done.stdout + done.stderr


def test_the_export_and_eval_workers_register_their_folder_first_and_refuse_a_stale_run(workspace):
    seed(workspace)
    data_dir = prepare(workspace, workspace.datasets_dir / "set")
    run_dir = runs.create_run(workspace.runs_dir, {"kind": "train", "data_dir": str(data_dir)})  # no "database":
    conn = workspace.connect()                                                                 # found via runs/
    register_run(conn, run_dir, data_dir)
    conn.close()
    code, output = run_worker("export", run_dir)  # no adapter: it fails, but only after registering its folder
    assert code != 0
    conn = workspace.connect()
    export = artifacts.find(conn, run_dir / "export")
    assert export is not None and export.kind == "export" and export.built_from == str(run_dir)
    assert artifacts.users_of(conn, run_dir / "export") == {ANN, BEN, DEE, ZED}
    conn.close()
    cli(workspace, "personas", "optout", str(ZED))
    for name in ("export", "eval"):
        code, output = run_worker(name, run_dir)
        assert code == 1 and f"run {run_dir.name} is stale: built from the messages of user {ZED}" in output
    assert not (run_dir / "eval" / "eval.json").exists()


def test_checkpoint_of_a_database_not_in_wal_mode_is_a_no_op_and_a_marker_names_the_rebuild(tmp_path, workspace):
    import sqlite3
    from storage.wal import checkpoint_wal
    plain = sqlite3.connect(tmp_path / "plain.db", isolation_level=None)
    assert checkpoint_wal(plain, timeout_s=0.1) == (0, -1, -1)
    plain.close()
    seed(workspace)
    data_dir = prepare(workspace, workspace.datasets_dir / "set")
    cli(workspace, "personas", "forget", str(DEE), "--yes")
    line = refusal(workspace, "train", "--data", str(data_dir))
    assert line == (f"error: the dataset {data_dir} is stale: built from the messages of user {DEE}, who was "
                    f"forgotten (since {line.split('(since ')[1].split(')')[0]}); the files holding their text were "
                    f"deleted; rebuild: launcher.py prepare")


def test_a_file_that_cannot_be_deleted_stops_forget_before_the_database_and_a_rerun_finishes(workspace, monkeypatch):
    seed(workspace)
    data_dir = prepare(workspace, workspace.datasets_dir / "set")
    locked = data_dir / "train.jsonl"
    real_unlink = Path.unlink

    def unlink(self, missing_ok=False):
        if self == locked:  # as Windows refuses to delete a file another program has open
            raise PermissionError(13, "the file is open in another program")
        return real_unlink(self, missing_ok=missing_ok)
    monkeypatch.setattr(Path, "unlink", unlink)
    line = refusal(workspace, "personas", "forget", str(DEE), "--yes")
    assert line.startswith(f"error: {locked}: holds the user's text and cannot be deleted")
    assert "nothing was deleted from the database yet" in line
    conn = workspace.connect()
    assert conn.execute("SELECT COUNT(*) FROM messages WHERE author_id = ?", (DEE,)).fetchone()[0] == 24
    conn.close()
    monkeypatch.setattr(Path, "unlink", real_unlink)
    assert cli(workspace, "personas", "forget", str(DEE), "--yes")["messages_deleted"] == 24
    assert files_holding(workspace.root) == []
