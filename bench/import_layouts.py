"""Import benchmark across layouts: each file layout the importer must stream, next to its format's normal layout.

    python bench/import_layouts.py [--mb 200] [--no-half] [--seed 0] [--keep DIR] [--launcher PATH]

One file of about --mb MB per layout, each imported by ``launcher.py import FILE --json`` as a real subprocess into
a fresh workspace (wall clock and peak RSS as in import_bench.py):
  JSON: DCE's indented layout (the baseline), one message per line, one message per line inside a .zip; the same
        messages in each (bench/synthetic.py's, all channels merged into one file), sized by the smaller layout;
  CSV:  CRLF row ends as DCE writes them on Windows (the baseline), CR-only line ends (a whole-file line-end
        conversion: message line breaks become CR too), CR-only inside a .zip.
Each layout is also imported at half the size (unless --no-half): seconds at full size over seconds at half size
near 2.0 is linear time. Prints seconds, messages/s, peak RSS, msg/s relative to the baseline, and the load average.
Targets: linear time, peak RSS <= 300 MB for each. ``--launcher`` imports with another checkout's launcher.py (the
code before a change). Figures also go to bench/out/import-layouts-MB.txt.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import zipfile
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.import_bench import OUT_DIR, RSS_TARGET_MB, measure  # noqa: E402 (after the path is set)
from bench.synthetic import (START_MS, ChannelFile, choices_text, dce_timestamp, make_users,  # noqa: E402
                             write_synthetic_export)

CSV_CHANNEL = 904_100_000_000_000_777
CSV_NAME = f"Synthetic Guild - Text Channels - csv-general [{CSV_CHANNEL}]"
LINE_BYTES = 900         # one message per line, per message (measured on the synthetic messages: ~870)
ROW_BYTES = 190          # one CSV row (measured: ~185)
LAYOUTS = (("json", "DCE indented (baseline)"), ("json", "one message per line"), ("json", "one per line, .zip"),
           ("csv", "CRLF (baseline)"), ("csv", "CR only"), ("csv", "CR only, .zip"))


class OnePerLineFile(ChannelFile):
    """DCE's header, then each message compact on a line of its own."""

    def add(self, message: dict) -> None:
        self.buffer.append(b"    " + orjson.dumps(message))
        self.count += 1
        if len(self.buffer) >= 2000:
            self.flush(more=True)


def write_json_layouts(folder: Path, target_mb: int, seed: int) -> dict[str, tuple[Path, int]]:
    """The synthetic export (several files, DCE's layout) merged into one file per layout, full and half size."""
    from core.ingest.dce_json import read_json_export
    from core.ingest.sources import discover
    source = folder / "synthetic"
    write_synthetic_export(source, target_mb * 1_000_000 // LINE_BYTES, seed)
    sources, _ = discover([source])
    header, _, _ = read_json_export(sources[0])
    outputs = {}
    for size in ("full", "half"):
        for kind, cls in (("dce", ChannelFile), ("line", OnePerLineFile)):
            outputs[kind, size] = cls(folder / f"{kind}-{size}.json", header["channel"], header["exportedAt"], 0)
    total = sum(1 for s in sources for _ in read_json_export(s)[1])
    written = 0
    for export_file in sources:
        for message in read_json_export(export_file)[1]:
            for kind in ("dce", "line"):
                outputs[kind, "full"].add(message)
                if written < total // 2:
                    outputs[kind, "half"].add(message)
            written += 1
    for output in outputs.values():
        output.close()
    return {f"{kind}-{size}": (output.path, output.count) for (kind, size), output in outputs.items()}


def write_csv(path: Path, target_bytes: int, row_end: str, seed: int) -> int:
    """Rows of synthetic text until the file holds ``target_bytes``; the same seed gives the same rows."""
    rng = random.Random(seed)
    users = make_users(rng, 2000)
    moment, rows, written = START_MS, 0, 0
    with path.open("w", encoding="utf-8", newline="") as sink:
        sink.write("AuthorID,Author,Date,Content,Attachments,Reactions" + row_end)
        while written < target_bytes:
            block = []
            for _ in range(5000):
                user = users[min(int(rng.paretovariate(1.2)) - 1, len(users) - 1)]
                moment += 1 + int(rng.expovariate(1 / 45_000))
                content = choices_text(rng, 1 + int(rng.expovariate(1 / 9)))
                if row_end == "\r":  # a whole-file conversion turns message line breaks into CR too
                    content = content.replace("\n", "\r")
                reactions = "🔥 (2),kekw (1)" if rng.random() < 0.18 else ""
                fields = (user["id"], user["name"], dce_timestamp(moment, 0), content, "", reactions)
                block.append(",".join('"' + field.replace('"', '""') + '"' for field in fields) + row_end)
            text = "".join(block)
            sink.write(text)
            written += len(text.encode("utf-8"))
            rows += len(block)
    return rows


def zipped(path: Path, member: str) -> Path:
    archive = path.with_suffix(".zip")
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as sink:
        sink.write(path, member)
    return archive


def prepare(folder: Path, target_mb: int, seed: int) -> dict[tuple[str, str], tuple[Path, int]]:
    """(layout, "full" | "half") -> (file, messages in it)."""
    files = {}
    json_files = write_json_layouts(folder, target_mb, seed)
    for size in ("full", "half"):
        line, count = json_files[f"line-{size}"]
        files[LAYOUTS[0][1], size] = json_files[f"dce-{size}"]
        files[LAYOUTS[1][1], size] = (line, count)
        files[LAYOUTS[2][1], size] = (zipped(line, "export/" + line.name), count)
        target = target_mb * 1_000_000 // (1 if size == "full" else 2)
        for layout, row_end, tag in ((LAYOUTS[3][1], "\r\n", "crlf"), (LAYOUTS[4][1], "\r", "cr")):
            path = folder / f"csv-{tag}-{size}" / f"{CSV_NAME}.csv"  # DCE's name: the channel id in brackets
            path.parent.mkdir(exist_ok=True)
            files[layout, size] = (path, write_csv(path, target, row_end, seed))
        path, count = files[LAYOUTS[4][1], size]
        files[LAYOUTS[5][1], size] = (zipped(path, "export/" + path.name), count)
    return files


def run(args) -> int:
    with tempfile.TemporaryDirectory(prefix="import-layouts-") as scratch:
        folder = args.keep or Path(scratch) / "data"
        index = folder / "files.json"
        if index.exists():
            files = {tuple(key.split("|")): (Path(p), n) for key, (p, n) in json.loads(index.read_text()).items()}
        else:
            folder.mkdir(parents=True, exist_ok=True)
            files = prepare(folder, args.mb, args.seed)
            index.write_text(json.dumps({"|".join(key): (str(p), n) for key, (p, n) in files.items()}))
        launcher = args.launcher or ROOT / "launcher.py"
        results, loads = {}, []
        for size in ("full",) if args.no_half else ("full", "half"):
            for _, layout in LAYOUTS:
                path, count = files[layout, size]
                loads.append(os.getloadavg()[0])
                workspace = Path(scratch) / f"ws-{size}-{len(results)}"
                seconds, rss, out = measure([sys.executable, str(launcher), "--workspace", str(workspace), "import",
                                             str(path), "--json"], check=False)  # a failure is a row too
                loads.append(os.getloadavg()[0])
                report = json.loads(out)
                failed = "" if report["messages_new"] == count and not report["errors"] else \
                    f"FAILED: {report['messages_new']} of {count} imported; {' '.join(report['errors'])[-300:]}"
                results[layout, size] = (data_megabytes(path), seconds, report["messages_new"] / seconds, rss, failed)
        print_report(args, results, loads, launcher)
    return 0


def data_megabytes(path: Path) -> float:
    """The export's own size: a .zip counts what it holds."""
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as archive:
            return sum(info.file_size for info in archive.infolist()) / 1e6
    return path.stat().st_size / 1e6


def print_report(args, results: dict, loads: list[float], launcher: Path) -> None:
    lines = [f"import layouts: a file of about {args.mb} MB per layout (MB: uncompressed), {os.cpu_count()} CPUs, "
             f"launcher {launcher}",
             f"  load average (1 min) around the runs: {min(loads):.2f} to {max(loads):.2f}",
             f"  {'layout':28} {'MB':>6} {'seconds':>8} {'msg/s':>8} {'RSS MB':>7} {'vs baseline':>11} "
             f"{'time full/half':>14}"]
    for kind, layout in LAYOUTS:
        megabytes, seconds, rate, rss, failed = results[layout, "full"]
        baseline = results[LAYOUTS[0 if kind == "json" else 3][1], "full"][2]
        half = results.get((layout, "half"))
        growth = f"{seconds / half[1]:14.2f}" if half else f"{'-':>14}"
        lines.append(f"  {kind + ' ' + layout:28} {megabytes:6.0f} {seconds:8.2f} {rate:8.0f} {rss:7.0f} "
                     f"{rate / baseline:10.2f}x {growth}" + (f"  {failed}" if failed else ""))
    worst = max(result[3] for result in results.values())
    lines.append(f"  peak RSS target <= {RSS_TARGET_MB} MB: {'met' if worst <= RSS_TARGET_MB else 'MISSED'} "
                 f"(largest {worst:.0f} MB)")
    text = "\n".join(lines)
    print(text)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    (OUT_DIR / f"import-layouts-{args.mb}.txt").write_text(text + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Import each layout the importer streams, next to its baseline.")
    parser.add_argument("--mb", type=int, default=200, help="size of each file in MB (default 200)")
    parser.add_argument("--no-half", action="store_true", help="skip the half-size files (the linearity check)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, help="keep the generated files in DIR and reuse them next time")
    parser.add_argument("--launcher", type=Path, help="another checkout's launcher.py (default: this one)")
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
