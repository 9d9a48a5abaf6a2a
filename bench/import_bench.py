"""Import benchmark: our ``launcher.py import`` against a floor, on the same synthetic DCE export, in one run.

    python bench/import_bench.py [--messages 200000] [--seed 0] [--data DIR] [--rounds 1]

(a) ours: ``launcher.py import DIR --json`` as a real subprocess into a fresh workspace;
(b) the floor: each file loaded whole with orjson (the fastest JSON parser here), then one ``executemany`` per
    table into a fresh database with the same schema (storage.db.connect), in one transaction, also a subprocess.
Both are timed end to end (wall clock, interpreter start included) and their peak RSS measured (psutil polling,
and the kernel's ru_maxrss of the child where the platform has it). Prints messages/s, peak RSS and the ratio;
targets: ours >= 0.5x the floor's messages/s, ours <= 300 MB peak RSS. Figures also go to bench/out/import-N.txt.
Timings on a busy machine vary: take the best of ``--rounds``.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OUT_DIR = ROOT / "bench" / "out"
RSS_TARGET_MB = 300
RATIO_TARGET = 0.5


def measure(argv: list[str], check: bool = True) -> tuple[float, float, str]:
    """(wall seconds, peak RSS in MB, stdout) of a child process; ``check``: a failed child ends the benchmark."""
    import psutil
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        child = subprocess.Popen(argv, stdout=out, stderr=err, cwd=ROOT)
        watched, peak, code = psutil.Process(child.pid), 0, None
        while code is None:
            try:
                peak = max(peak, watched.memory_info().rss)
            except psutil.Error:
                pass
            time.sleep(0.02)
            code, kernel_peak = reap(child)
        seconds = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        if code != 0 and check:
            raise SystemExit(f"{' '.join(argv[:4])}... failed ({code}): {err.read().decode(errors='replace')[-500:]}")
        return seconds, max(peak, kernel_peak) / 1e6, out.read().decode()


def reap(child: subprocess.Popen) -> tuple[int | None, int]:
    """(exit code or None while running, the kernel's peak RSS in bytes where the platform tells it, else 0)."""
    if hasattr(os, "wait4"):  # this child's own ru_maxrss (KB on Linux), not the maximum over all children
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        if pid == 0:
            return None, 0
        child.returncode = os.waitstatus_to_exitcode(status)
        return child.returncode, usage.ru_maxrss * (1 if sys.platform == "darwin" else 1024)
    return child.poll(), 0


def floor_worker(data_dir: Path, database: Path) -> int:
    """The floor: each file loaded whole with orjson, then one executemany per table, all in one transaction."""
    import orjson

    from storage.db import connect
    conn = connect(database)
    conn.execute("BEGIN")
    total = 0
    for path in sorted(data_dir.rglob("*.json")):
        export = orjson.loads(path.read_bytes())
        guild, channel = export["guild"], export["channel"]
        guild_id, channel_id = int(guild["id"]), int(channel["id"])
        conn.execute("INSERT OR REPLACE INTO guilds (id, name, icon_url) VALUES (?, ?, ?)",
                     (guild_id, guild["name"], guild.get("iconUrl")))
        conn.execute("INSERT OR REPLACE INTO channels (id, guild_id, kind, name, category) VALUES (?, ?, ?, ?, ?)",
                     (channel_id, guild_id, channel["type"], channel["name"], channel.get("category")))
        users, messages, reactions = {}, [], []
        for message in export["messages"]:
            author = message["author"]
            users[author["id"]] = (int(author["id"]), author["name"], author.get("nickname"), int(author["isBot"]))
            reference = message.get("reference")
            messages.append((int(message["id"]), channel_id, int(author["id"]), message["timestamp"],
                             message["timestampEdited"], message["type"], message["content"],
                             int(reference["messageId"]) if reference and reference["messageId"] else None,
                             orjson.dumps([int(m["id"]) for m in message["mentions"]]).decode(),
                             len(message["attachments"]),
                             orjson.dumps([a["url"] for a in message["attachments"]]).decode(),
                             int(message["isPinned"])))
            reactions.extend((int(message["id"]), r["emoji"]["name"], r["count"]) for r in message["reactions"])
        del export
        conn.executemany("INSERT OR REPLACE INTO users (id, name, display_name, is_bot) VALUES (?, ?, ?, ?)",
                         list(users.values()))
        conn.executemany("INSERT OR REPLACE INTO messages (id, channel_id, author_id, created_at, edited_at, type, "
                         "content, reply_to_id, mentions, attachment_count, attachment_urls, pinned) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", messages)
        conn.executemany("INSERT OR REPLACE INTO reactions (message_id, emoji, count) VALUES (?, ?, ?)", reactions)
        total += len(messages)
    conn.execute("COMMIT")
    print(json.dumps({"messages": total}))
    return 0


def run(args) -> int:
    with tempfile.TemporaryDirectory(prefix="import-bench-") as scratch:
        data = args.data or Path(scratch) / "export"
        if not (data / ".complete").exists() or args.data is None:
            from bench.synthetic import write_synthetic_export
            started = time.perf_counter()
            write_synthetic_export(data, args.messages, args.seed)
            (data / ".complete").write_text(str(args.messages))
            print(f"generated {args.messages} messages in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        size_mb = sum(p.stat().st_size for p in data.rglob("*.json")) / 1e6
        ours, floor = [], []
        for round_number in range(args.rounds):
            workspace = Path(scratch) / f"ws{round_number}"
            seconds, rss, out = measure([sys.executable, str(ROOT / "launcher.py"), "--workspace", str(workspace),
                                         "import", str(data), "--json"])
            ours.append((seconds, rss, json.loads(out)["messages_new"]))
            if args.no_floor:
                continue
            seconds, rss, out = measure([sys.executable, __file__, "--floor-worker", str(data),
                                         str(Path(scratch) / f"floor{round_number}.db")])
            floor.append((seconds, rss, json.loads(out)["messages"]))
        report(args.messages, size_mb, min(ours), min(floor) if floor else None, max(r[1] for r in ours),
               max((r[1] for r in floor), default=0.0))
    return 0


def report(messages: int, size_mb: float, ours, floor, ours_rss: float, floor_rss: float) -> None:
    ours_rate = ours[2] / ours[0]
    lines = [
        f"import benchmark: {messages} messages, {size_mb:.0f} MB of DCE JSON, {os.cpu_count()} CPUs",
        f"  ours  (launcher.py import, streaming): {ours[0]:7.2f} s  {ours_rate:9.0f} msg/s  "
        f"peak RSS {ours_rss:6.0f} MB",
    ]
    if floor is not None:
        floor_rate = floor[2] / floor[0]
        ratio = ours_rate / floor_rate
        lines += [f"  floor (orjson whole file + executemany): {floor[0]:5.2f} s  {floor_rate:9.0f} msg/s  "
                  f"peak RSS {floor_rss:6.0f} MB",
                  f"  ratio ours/floor: {ratio:.2f}x (target >= {RATIO_TARGET}x: "
                  f"{'met' if ratio >= RATIO_TARGET else 'MISSED'})"]
    lines.append(f"  ours peak RSS target <= {RSS_TARGET_MB} MB: {'met' if ours_rss <= RSS_TARGET_MB else 'MISSED'}")
    text = "\n".join(lines)
    print(text)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    (OUT_DIR / f"import-{messages}.txt").write_text(text + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--floor-worker"]:
        return floor_worker(Path(argv[1]), Path(argv[2]))
    parser = argparse.ArgumentParser(description="Benchmark `launcher.py import` against an orjson+executemany floor.")
    parser.add_argument("--messages", type=int, default=200_000, help="synthetic messages (default 200000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", type=Path, help="keep the generated export in DIR and reuse it next time")
    parser.add_argument("--rounds", type=int, default=1, help="repeat both measurements, keep the best")
    parser.add_argument("--no-floor", action="store_true",
                        help="measure only ours (the floor holds whole files in memory: gigabytes at 1M messages)")
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
