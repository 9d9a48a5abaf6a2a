"""The small words of the job log (``core.jobs.log_lines``) and the panel's status line: counts, sizes, durations,
memory, phase names. Pure functions of plain values."""
from __future__ import annotations

from pathlib import PurePath
from typing import Any

PHASE_LABELS = {
    "download": "downloading", "load": "loading", "data": "dataset", "sft": "SFT", "eval": "eval", "save": "saving",
    "dpo": "DPO", "run": "run", "export.merge": "merging", "export.convert": "converting",
    "export.quantize": "quantizing", "export.smoke": "smoke test", "export.modelfile": "Modelfile",
    "eval.load": "loading", "eval.score": "scoring", "eval.embed": "embedding replies", "eval.write": "writing",
    "embed.load": "loading the embedder", "embed.encode": "embedding", "embed.finish": "indexing",
}


def phase_label(phase: str) -> str:
    """The phase as a person calls it ("SFT", "DPO", "scoring"); an unknown name as it is."""
    return PHASE_LABELS.get(phase, phase)


def count(value: Any) -> str:
    """1,140; "?" for None."""
    if value is None:
        return "?"
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def counted(value: Any, noun: str) -> str:
    """"1 step", "3 steps", "1,140 examples"; the plural is the noun with an s."""
    return f"{count(value)} {noun if value == 1 else noun + 's'}"


def number(value: Any, digits: int = 4) -> str:
    return f"{value:.{digits}f}" if isinstance(value, (int, float)) and not isinstance(value, bool) else "?"


def parameters(value: Any) -> str:
    """134.5M, 921.6K, 1.2B."""
    if not isinstance(value, (int, float)):
        return "?"
    for size, unit in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if value >= size:
            return f"{value / size:.1f}{unit}"
    return str(int(value))


def size(value: Any) -> str:
    """Bytes as 105 MB, 4.6 MB, 1.3 GB."""
    if not isinstance(value, (int, float)):
        return "? MB"
    for limit, unit in ((2 ** 30, "GB"), (2 ** 20, "MB"), (2 ** 10, "KB")):
        if value >= limit:
            return f"{value / limit:.1f} {unit}" if value < 10 * limit else f"{value / limit:.0f} {unit}"
    return f"{int(value)} B"


def duration(seconds: Any) -> str:
    """12.3s under a minute, then 4m 20s, 3h 05m."""
    if not isinstance(seconds, (int, float)):
        return "?"
    if seconds < 60:
        return f"{seconds:.1f}s" if seconds < 10 else f"{seconds:.0f}s"
    whole = int(round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {secs:02d}s"


def memory_text(event) -> str:
    """"VRAM 3.2 GiB (peak 4.0)" on a GPU, "RAM 1.8 GiB" (the worker's resident memory) on the CPU, else ""."""
    used, peak, rss = getattr(event, "vram_used", None), getattr(event, "vram_peak", None), getattr(event, "rss", None)
    if used is not None:
        return f"VRAM {used:.1f} GiB" + (f" (peak {peak:.1f})" if peak is not None and peak > used else "")
    return f"RAM {rss:.1f} GiB" if rss is not None else ""


def short_path(path: str, parts: int) -> str:
    """The last ``parts`` parts of a path (checkpoints/checkpoint-10), which say enough inside a run's log."""
    if not path:
        return "?"
    pieces = PurePath(path).parts
    return "/".join(pieces[-parts:]) if len(pieces) > parts else path


def share(part: Any, whole: Any) -> str:
    if not isinstance(part, (int, float)) or not isinstance(whole, (int, float)) or whole <= 0:
        return "?"
    return f"{100 * part / whole:.2f}%"


PHASE_STATUS = {"download": "downloading the base model…", "load": "loading the base model…",
                "data": "reading and packing the dataset…", "sft": "SFT starting…", "save": "saving the adapter…",
                "dpo": "DPO starting…"}


def phase_status(phase: str, details: dict[str, Any], total: int | None = None) -> str:
    """What a progress bar says while a phase without steps yet runs ("evaluating on 32 examples…")."""
    if phase == "eval":
        return f"evaluating on {count(details.get('examples'))} validation examples…"
    if phase == "dpo" and total:
        return f"DPO starting: {count(total)} steps on {count(details.get('pairs'))} pairs…"
    return PHASE_STATUS.get(phase, f"{phase_label(phase)}…")
