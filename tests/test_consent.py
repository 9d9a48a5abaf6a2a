"""Consent holds whoever writes and whenever: a forgotten person is never stored again (import, fetch), their text
leaves other people's forwards and embeds, and a ``prepare`` that was running when they were forgotten publishes a
dataset without them. The prepare runs as a real subprocess held still at a pause point (``core.jobs.pause_points``)
while the forget runs, then let go; afterwards every byte of the workspace is searched for their words, short
messages included (the forget's own search skips lines under 16 characters)."""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from core.fetching.fetch import FetchConfig, Fetcher
from core.fetching.discord_source import DiscordSource
from tests import dce_shape
from tests.conftest import run_cli
from tests.fakes_discord import FakeTextChannel, build_server
from tests.test_dataset_support import History

ROOT = Path(__file__).resolve().parents[1]
ANN, BEN, DEE = 301, 302, 304
DEE_LONG = "Quokka mañana plan: bring the teal kayak and the walnut bread"
DEE_SHORT = "zq9x lol"  # under the forget search's 16 characters: only the consent rules keep it out
NEEDLES = ("teal kayak and the walnut", DEE_SHORT)


def cli(workspace, *argv) -> dict:
    code, out, err = run_cli(*argv, "--json", workspace=workspace)
    assert code == 0, err
    return json.loads(out)


def files_holding(root: Path, needles=NEEDLES) -> list[str]:
    return [f"{path}: {needle}" for path in sorted(root.rglob("*")) if path.is_file()
            for needle in needles if needle.encode() in path.read_bytes()]


def seed(workspace, rounds: int = 12) -> None:
    history = History()
    for user_id, name in ((ANN, "Ann"), (BEN, "Ben"), (DEE, "Dee Dee")):
        history.user(user_id, name)
    general = history.channel(8000, "general")
    for number in range(rounds):
        opener = history.say(general, BEN, f"topic {number}, what do you all think?", after=4000)
        history.say(general, DEE, f"{DEE_LONG} {number}", reply_to=opener)
        history.say(general, ANN, f"ann agrees about the garden {number}")
        history.say(general, DEE, DEE_SHORT)
        history.say(general, ANN, f"ok then, moving on {number}", reply_to=opener)
    history.write(workspace.connect())


def count_of(workspace, author: int) -> int:
    conn = workspace.connect()
    try:
        return conn.execute("SELECT COUNT(*) FROM messages WHERE author_id = ?", (author,)).fetchone()[0]
    finally:
        conn.close()


def dce_export(folder: Path) -> Path:
    dee, ann = dce_shape.user(DEE, "dee"), dce_shape.user(ANN, "ann")
    messages = [dce_shape.message(900 + n, dee if n % 2 else ann, f"{DEE_LONG} {n}" if n % 2 else f"ann says {n}",
                                  timestamp=f"2024-03-01T14:{n:02d}:00.000+00:00") for n in range(10)]
    document = dce_shape.export(dce_shape.channel(8100, "imported"), messages)
    path = folder / dce_shape.file_name("imported", 8100)
    path.write_bytes(dce_shape.render(document, "indented-crlf"))
    return path


def test_a_reimport_after_forget_stores_none_of_their_messages_and_says_how_many_it_withheld(workspace, tmp_path):
    export = dce_export(tmp_path)
    first = cli(workspace, "import", str(export))
    assert first["messages_new"] == 10 and first["withheld"] == 0 and count_of(workspace, DEE) == 5
    cli(workspace, "personas", "forget", str(DEE), "--yes")
    again = cli(workspace, "import", str(export))
    assert again["withheld"] == 5 and again["messages_new"] == 0
    assert count_of(workspace, DEE) == 0
    conn = workspace.connect()
    assert conn.execute("SELECT COUNT(*) FROM users WHERE id = ?", (DEE,)).fetchone()[0] == 0  # nor their user row
    names = json.loads(conn.execute("SELECT aliases FROM consent WHERE user_id = ?", (DEE,)).fetchone()[0])
    assert "dee" in names  # their names stay known only to hide them
    conn.close()
    assert files_holding(workspace.root, ("teal kayak and the walnut",)) == []


def test_a_fetch_of_a_newly_allowlisted_channel_withholds_a_forgotten_person(workspace):
    server = build_server(messages=30)
    conn = workspace.connect()
    forgotten = server.alice.id
    from core.consent.actions import forget
    forget(conn, workspace.root, forgotten)  # forgotten before the bot ever fetched: an id is enough
    newer = FakeTextChannel(server.guild, "newer")
    for number in range(8):
        newer.add(server.alice if number % 2 else server.bob, f"message {number} in newer")

    async def go():
        await server.client.login(server.token)
        fetcher = Fetcher(conn, DiscordSource(server.client), FetchConfig())
        return await fetcher.run([newer.id])
    summary = asyncio.run(go())
    assert summary.messages_withheld == 4 and summary.messages_new == 4
    assert conn.execute("SELECT COUNT(*) FROM messages WHERE author_id = ?", (forgotten,)).fetchone()[0] == 0
    conn.close()


def test_forget_takes_their_text_out_of_other_peoples_forwards_and_embeds(workspace, tmp_path):
    dee, ann = dce_shape.user(DEE, "dee"), dce_shape.user(ANN, "ann")
    stamp = "2024-03-01T14:00:00.000+00:00"
    messages = [
        dce_shape.message(901, dee, f"{DEE_LONG} original", timestamp=stamp),
        dce_shape.message(902, ann, "", ref=dce_shape.reference(901, 8100, kind="Forward"),
                          forward=dce_shape.forwarded(f"{DEE_LONG} original", stamp), timestamp=stamp),
        dce_shape.message(903, ann, "", ref=dce_shape.reference(904, 8100, kind="Forward"),
                          forward=dce_shape.forwarded(DEE_SHORT, stamp), timestamp=stamp),
        dce_shape.message(905, ann, "look", embeds=[dce_shape.embed(title="Dee said", description=DEE_LONG)],
                          timestamp=stamp),
        dce_shape.message(906, ann, "an unrelated forward", ref=dce_shape.reference(907, 8100, kind="Forward"),
                          forward=dce_shape.forwarded("ann's own older words, kept", stamp), timestamp=stamp),
    ]
    path = tmp_path / dce_shape.file_name("imported", 8100)
    path.write_bytes(dce_shape.render(dce_shape.export(dce_shape.channel(8100, "imported"), messages), "minified"))
    cli(workspace, "import", str(path))
    conn = workspace.connect()
    dee_short = dce_shape.message(904, dee, DEE_SHORT, timestamp=stamp)  # the short original, stored too
    second = tmp_path / "second" / dce_shape.file_name("imported", 8100)
    second.parent.mkdir()
    second.write_bytes(dce_shape.render(dce_shape.export(dce_shape.channel(8100, "imported"), [dee_short]),
                                        "minified"))
    cli(workspace, "import", str(second))
    assert conn.execute("SELECT forwarded_content FROM messages WHERE id = 902").fetchone()[0].startswith("Quokka")
    result = cli(workspace, "personas", "forget", str(DEE), "--yes")
    assert result["copies_cleaned"] == 3
    rows = dict(conn.execute("SELECT id, COALESCE(forwarded_content, '') || '|' || COALESCE(visible_text, '') "
                             "FROM messages WHERE author_id = ?", (ANN,)).fetchall())
    assert rows[902] == "|" and rows[903] == "|" and rows[905] == "|"
    assert "ann's own older words, kept" in rows[906]
    conn.close()
    assert files_holding(workspace.root) == []


def start_paused(workspace, point: str, gate: Path, *argv: str) -> subprocess.Popen:
    env = dict(os.environ, DPS_PAUSE_AT=f"{point}={gate}", PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, str(ROOT / "launcher.py"), "--workspace", str(workspace.root), *argv,
                             "--json"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(path: Path, process: subprocess.Popen, seconds: float = 120.0) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        if process.poll() is not None:
            raise AssertionError(f"the job ended before its pause point: {process.communicate()}")
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


@pytest.mark.slow
def test_a_prepare_running_when_someone_is_forgotten_publishes_a_dataset_without_them(workspace):
    seed(workspace)
    gate = workspace.root.parent / "gate"
    job = start_paused(workspace, "prepare.staged", gate, "prepare", "--out", str(workspace.root / "data"),
                       "--min-messages", "5")
    wait_for(gate.with_name("gate.reached"), job)  # the spool holds Dee's words now
    staged = [p for p in (workspace.root / "data").rglob("*") if p.is_file() and DEE_SHORT.encode() in p.read_bytes()]
    assert staged, "the paused prepare has not written Dee's words anywhere: the test could not fail"
    forgotten = cli(workspace, "personas", "forget", str(DEE), "--yes")
    assert forgotten["messages_deleted"] == 24
    gate.with_name("gate.go").write_text("go", encoding="utf-8")
    out, err = job.communicate(timeout=300)
    assert job.returncode == 0, err
    stats = json.loads(out)
    assert str(DEE) not in {persona["id"] for persona in stats["personas"]}
    assert "building it again without them" in err
    assert files_holding(workspace.root) == []
    conn = workspace.connect()
    from storage.artifacts import find
    assert find(conn, workspace.root / "data").stale_since is None  # published fresh, and truly without them
    conn.close()


@pytest.mark.slow
def test_an_embed_running_when_someone_is_forgotten_leaves_nothing_of_theirs_in_the_memory(workspace):
    seed(workspace, rounds=8)
    gate = workspace.root.parent / "embed-gate"
    job = start_paused(workspace, "embed.batch", gate, "embed", "--batch-size", "4")
    wait_for(gate.with_name("embed-gate.reached"), job, seconds=300)  # one batch written: Dee's longest lines
    assert files_holding(workspace.root / "memory", ("teal kayak and the walnut",)), \
        "the paused embed wrote none of Dee's words yet: the test could not fail"
    cli(workspace, "personas", "forget", str(DEE), "--yes")
    gate.with_name("embed-gate.go").write_text("go", encoding="utf-8")
    out, err = job.communicate(timeout=300)
    assert job.returncode == 0, err
    result = json.loads(out)
    assert result["embedded"] > 4 and result["rows"] > 0   # it went on embedding the others
    assert files_holding(workspace.root) == []              # and nothing of Dee's is anywhere, short lines included
    from storage.memory import MemoryStore
    authors = {row.author_id for row in MemoryStore(workspace.memory_dir).search(
        [0.0] * 383 + [1.0], k=500, channels={8000}, recency_weight=0.0)}
    assert DEE not in authors and authors


def test_the_live_memory_refuses_a_person_opted_out_after_it_last_read_consent(workspace):
    from core.consent.actions import opt_out
    from core.memory.selection import MemoryMessage
    from model.embedding import LiveMemory
    from storage.memory import MemoryStore
    from tests.test_bot_capture import HashEmbedder
    seed(workspace, rounds=1)
    memory = LiveMemory(MemoryStore(workspace.memory_dir, HashEmbedder.dim), HashEmbedder(), workspace.connect())
    other = workspace.connect()
    opt_out(other, workspace.root, DEE)  # the panel's opt-out; the bot's memory has not re-read consent
    other.close()
    assert DEE not in memory.selector.opted_out  # its cached view is behind
    stamp = "2024-05-01T10:00:00+00:00"
    added = memory.add_messages([MemoryMessage(990001, 8000, DEE, stamp, f"{DEE_LONG} live"),
                                 MemoryMessage(990002, 8000, ANN, stamp, "ann's live line about the garden")])
    assert added == 1 and memory.store.known_ids() == {990002}
    assert files_holding(workspace.root / "memory", ("teal kayak and the walnut",)) == []


def test_the_forget_search_finds_their_words_across_window_edges_in_a_file_without_newlines(tmp_path):
    from core.consent.text_scan import WINDOW_BYTES, TextFinder
    finder = TextFinder([DEE_LONG])
    words = DEE_LONG.encode()
    for offset in (0, WINDOW_BYTES - 10, 2 * WINDOW_BYTES - len(words) // 2, 3 * WINDOW_BYTES + 5):
        blob = bytearray(b"\x00\x07" * (2 * WINDOW_BYTES))  # a binary file: no newline anywhere
        blob[offset:offset] = words
        path = tmp_path / f"blob-{offset}.lance"
        path.write_bytes(bytes(blob))
        assert finder.found_in(path), offset
    clean = tmp_path / "clean.lance"
    clean.write_bytes(b"\x00\x07" * (4 * WINDOW_BYTES))
    assert not finder.found_in(clean)


def test_the_panels_opt_in_never_waits_out_a_running_forget(workspace):
    from core.consent.lock import consent_lock
    from core.jobs.bus import EventBus
    from gui.actions import Actions
    from gui.errors import ActionError
    seed(workspace, rounds=1)
    holder_ready, release = threading.Event(), threading.Event()

    def hold() -> None:  # a forget in progress holds the consent lock
        conn = workspace.connect()
        with consent_lock(conn):
            holder_ready.set()
            release.wait(10)
        conn.close()
    holder = threading.Thread(target=hold)
    holder.start()
    holder_ready.wait(5)
    started = time.monotonic()
    try:
        with pytest.raises(ActionError, match="a forget is running"):
            Actions(workspace, EventBus()).set_opted_out(DEE, False)
        assert time.monotonic() - started < 3
    finally:
        release.set()
        holder.join()
