"""The memory folder's writers' lock and its readers' recovery, with real processes on a real LanceDB folder.

A process adding rows while this one deletes authors and purges old versions (the bot capturing during a forget)
loses no row and raises nothing, and a reader searching meanwhile never fails; the lock file lies beside the folder,
is reentrant and shared by this process's stores, and a writer that cannot get it in time fails with one line
naming the folder; a search whose table version another process cleaned up under it recovers at the latest version.
"""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

import storage.memory as memory
from storage.memory import MemoryStore
from tests.test_memory import ALL, DIM, NOW, random_rows, unit

ROOT = Path(__file__).resolve().parents[1]
KEEP, DOOMED = 41, 42  # the writer's two authors: this process keeps deleting the second one
WRITER = """
import json, sys
sys.path.insert(0, {root!r})
import numpy as np
from storage.memory import MemoryRow, MemoryStore
folder, batches = sys.argv[1], int(sys.argv[2])
store = MemoryStore(folder, {dim})
vectors = np.random.default_rng(3).normal(size=(batches * 4, {dim}))
for number in range(batches):
    rows = [MemoryRow(20_000 + number * 4 + i, 100, {keep} if i % 2 == 0 else {doomed}, "{now}",
                      f"writer row {{number}}.{{i}}", vectors[number * 4 + i] / np.linalg.norm(vectors[number * 4 + i]))
            for i in range(4)]
    store.add(rows)
    print(json.dumps([row.message_id for row in rows if row.author_id == {keep}]), flush=True)
"""


def script(code: str) -> str:
    return "import sys; sys.path.insert(0, %r)\nfrom storage.memory import *\nimport numpy as np\n" % str(ROOT) + \
        textwrap.dedent(code)


def run(code: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", script(code)], capture_output=True, text=True, cwd=cwd, timeout=120)


@pytest.mark.slow
def test_a_writer_process_and_deletes_with_purges_here_lose_nothing_and_readers_never_fail(tmp_path, monkeypatch):
    monkeypatch.setattr(memory, "REFRESH_INTERVAL", 0.0)  # the reader re-reads the table's version on every search
    folder = tmp_path / "memory"
    store = MemoryStore(folder, DIM)
    store.add(random_rows(50))
    reader, failures, searches, stop = MemoryStore(folder), [], [0], threading.Event()
    query = unit(np.ones(DIM))

    def read() -> None:  # readers take no lock: a cleanup may remove the version one is reading
        while not stop.is_set():
            try:
                reader.search(query, channels=ALL, k=5)
                searches[0] += 1
            except Exception as exc:  # any failure of a recall is what this test is about
                failures.append(repr(exc))
    thread = threading.Thread(target=read)
    thread.start()
    batches = 40
    writer = subprocess.Popen([sys.executable, "-c", WRITER.format(root=str(ROOT), dim=DIM, keep=KEEP, doomed=DOOMED,
                                                                   now=NOW.isoformat()), str(folder), str(batches)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    rounds = 0
    try:
        while writer.poll() is None:
            store.delete_authors([DOOMED])  # deletes, then compacts and removes every old version
            store.purge_old_versions()
            rounds += 1
        out, err = writer.communicate(timeout=120)
    finally:
        stop.set()
        thread.join()
        if writer.poll() is None:
            writer.kill()
    assert writer.returncode == 0, err[-3000:]
    kept = {message_id for line in out.splitlines() for message_id in json.loads(line)}
    assert len(kept) == 2 * batches
    assert rounds >= 3, "the two processes barely overlapped"
    store.delete_authors([DOOMED])
    final = MemoryStore(folder)
    assert final.known_ids() == {row.message_id for row in random_rows(50)} | kept  # every kept row, once
    assert final.count() == 50 + len(kept) and final._table.count_rows(f"author_id = {DOOMED}") == 0
    assert failures == [] and searches[0] > 0


def test_the_lock_lies_beside_the_folder_is_shared_here_and_makes_other_processes_wait(tmp_path):
    folder = tmp_path / "memory"
    store = MemoryStore(folder, DIM)
    store.add(random_rows(6))
    other_process = f"""
        import storage.memory_table as table
        table.LOCK_TIMEOUT = 1.0
        try:
            MemoryStore({str(folder)!r}).delete_authors([1])
        except MemoryStoreError as exc:
            print(exc)
            sys.exit(3)
    """
    with store.writing():  # what a caller holds across several writes (delete rows, then purge)
        assert (tmp_path / "memory.lock").is_file()  # beside the folder: deleting the folder leaves it alone
        assert not list(folder.rglob("*.lock"))
        assert store.add(random_rows(2, start_id=500)) == 2  # reentrant: this thread's own writes go on
        assert MemoryStore(folder).delete_authors([2]) == 2  # another store in this process shares the hold
        waited = run(other_process, tmp_path)
        assert waited.returncode == 3, waited.stderr[-2000:]
        line = waited.stdout.strip()
        assert "\n" not in line and str(folder) in line and "another process has been writing the memory" in line
    done = run(other_process, tmp_path)  # released: the other process writes now
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    assert MemoryStore(folder).count() == 8 - 2 - 3  # authors 2 (here) and 1 (there) are gone


def test_a_search_whose_version_another_process_cleaned_up_recovers(tmp_path, monkeypatch):
    """The reader picks the table's version, then another process adds a row, compacts and removes every older
    version (a forget does this) before the reader reads: the files of the version it picked are gone."""
    monkeypatch.setattr(memory, "REFRESH_INTERVAL", 0.0)
    monkeypatch.setattr(memory, "READ_CONSISTENCY", timedelta(hours=1))  # the reader never refreshes by itself
    folder = tmp_path / "memory"
    writer = MemoryStore(folder, DIM)
    for start in range(1, 401, 100):  # several files, which the compaction then rewrites
        writer.add(random_rows(100, seed=start, start_id=start))
    reader = MemoryStore(folder)
    query = unit(np.random.default_rng(9).normal(size=DIM))
    assert reader.search(query, channels=ALL, k=1, recency_weight=0.0)[0].message_id != 9000  # the copy is built
    writer.add(random_rows(5, seed=7, start_id=800))  # the copy is now behind: its next search reads the table
    np.save(tmp_path / "planted.npy", query)

    class CleanedUpUnderTheReader:
        def __init__(self, table):
            self.table, self.fired = table, False

        def __getattr__(self, name):
            return getattr(self.table, name)

        def checkout_latest(self):
            self.table.checkout_latest()
            if not self.fired:
                self.fired = True
                picked = self.table.version  # as SearchCopy.fresh does next: the reader has its version now
                done = run(f"""
                    store = MemoryStore({str(folder)!r})
                    store.add([MemoryRow(9000, 100, 2, "{NOW.isoformat()}", "planted", np.load("planted.npy"))])
                    store.purge_old_versions()
                """, tmp_path)
                assert done.returncode == 0, done.stderr[-2000:]
                assert self.table.version == picked
                with pytest.raises(RuntimeError, match="Not found"):  # the version picked can no longer be read
                    self.table.search().select(["message_id"]).limit(None).to_arrow()
    reader._table = CleanedUpUnderTheReader(reader._table)
    hits = reader.search(query, channels=ALL, k=1, recency_weight=0.0)
    assert reader._table.__class__ is not CleanedUpUnderTheReader  # it did re-open the table
    assert hits[0].message_id == 9000 and hits[0].text == "planted"  # at the latest version, the new row included
    assert reader.count() == 406
