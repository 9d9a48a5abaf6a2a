"""Runs side by side: what differed between two or more training runs and how each went, as plain data.

Everything comes from the run folders as a run writes them (``core.jobs.runs``): config.json (the preset, every
training knob, the base model, the dataset folder), the dataset's stats.json (its example counts), metrics.jsonl (the
loss and eval-loss curves, tokens/s, the workers' wall time), state.json (the status) and, when the run was
evaluated, eval/eval.json (attribution of the tuned replies, style similarity, perplexity tuned and base).
``rows`` is the table both the CLI's ``runs compare`` and the Models page show: one row per fact, one cell per run,
and a row for each training knob whose value differs between the runs (only those).
"""
from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.evaluation.verdicts import right_and_total
from core.jobs import runs
from core.jobs.events import EvalReported, JobFailed, JobFinished, ProgressReported, from_dict

MISSING = "—"
CELL_WIDTH = 32      # the text table cuts a longer cell with "…" (paths are shown by their last part)
LABEL_WIDTH = 22
RESTART_SLACK_SECONDS = 1.0  # a clock that goes back further than rounding is a new worker process (a resume)
SFT_STAGES = ("", "sft")  # the loss curve is the SFT stage's; a DPO stage counts its own steps and its own loss
STATS_FILE = "stats.json"
EVAL_FILE = Path("eval") / "eval.json"


class CompareError(ValueError):
    """Fewer than two different runs to compare; the message says what to give."""


@dataclass(frozen=True)
class RunFacts:
    """One run as the comparison sees it; curves are ((step, value), ...) in step order."""
    run_id: str
    run_dir: Path
    status: str
    preset: str | None
    knobs: dict[str, Any]
    base_model: str | None
    data_dir: str | None
    examples: dict[str, int]
    personas: tuple[str, ...]
    steps: int | None
    wall_seconds: float | None
    tokens_per_second: float | None
    loss: tuple[tuple[int, float], ...]
    eval_loss: tuple[tuple[int, float], ...]
    evaluation: dict[str, Any] | None

    def to_json(self) -> dict[str, Any]:
        data = {key: (str(value) if isinstance(value, Path) else value) for key, value in self.__dict__.items()}
        data["loss"] = [list(point) for point in self.loss]
        data["eval_loss"] = [list(point) for point in self.eval_loss]
        data["personas"] = list(self.personas)
        return data


def compare_runs(runs_dir: Path, references: list[str]) -> list[RunFacts]:
    """The runs named by id, unique prefix, "latest" or path, in the order given; RunNotFound names an unknown one."""
    folders: list[Path] = []
    for reference in references:
        folder = runs.find_run(runs_dir, reference)
        if folder.resolve() not in [known.resolve() for known in folders]:
            folders.append(folder)
    if len(folders) < 2:
        raise CompareError("give two or more different runs to compare (see `runs list`)")
    return [read_run(folder) for folder in folders]


def read_run(run_dir: Path) -> RunFacts:
    config, state = runs.read_config(run_dir), runs.read_state(run_dir)
    stats = dataset_stats(config.get("data_dir"))
    base = config.get("base_model")
    events = runs.read_metrics(run_dir)
    loss = tuple(sorted({event.step: event.loss for event in events if is_training_step(event)}.items()))
    evals = {event.step: event.eval_loss for event in events
             if isinstance(event, EvalReported) and event.eval_loss is not None}
    ending = next((event for event in reversed(events) if isinstance(event, (JobFinished, JobFailed))), None)
    if not evals and isinstance(ending, JobFinished) and isinstance(ending.result.get("eval_loss"), (int, float)):
        evals[ending.step or (loss[-1][0] if loss else 0)] = float(ending.result["eval_loss"])
    rates = [event.tokens_per_second for event in events if is_training_step(event) and event.tokens_per_second]
    return RunFacts(
        run_id=run_dir.name, run_dir=run_dir, status=runs.effective_status(state), preset=config.get("preset"),
        knobs=dict(config.get("training") or {}),
        base_model=base.get("source") if isinstance(base, dict) else (str(base) if base else None),
        data_dir=config.get("data_dir"), examples=example_counts(stats), personas=persona_names(stats),
        steps=state["step"] if state.get("step") is not None else (loss[-1][0] if loss else None),
        wall_seconds=wall_seconds(run_dir),
        tokens_per_second=round(statistics.median(rates), 1) if rates else None, loss=loss,
        eval_loss=tuple(sorted(evals.items())), evaluation=evaluation_of(run_dir / EVAL_FILE))


def is_training_step(event) -> bool:
    """A step of the SFT stage: its stage is ``ProgressReported.stage`` where the event has it (the phase field),
    else the ``message`` runs have always recorded it in."""
    if not isinstance(event, ProgressReported) or event.is_phase or event.loss is None:
        return False
    return getattr(event, "stage", event.message) in SFT_STAGES


def dataset_stats(data_dir: str | None) -> dict[str, Any]:
    return runs.read_json(Path(data_dir) / STATS_FILE) if data_dir else {}


def example_counts(stats: dict[str, Any]) -> dict[str, int]:
    """{"train", "val", "test", "dpo pairs"} as prepare counted them; empty when the dataset folder is gone."""
    counts = {split: int(count) for split, count in (stats.get("examples") or {}).items()
              if isinstance(count, int)}
    pairs = (stats.get("dpo") or {}).get("pairs")
    if isinstance(pairs, int):
        counts["dpo pairs"] = pairs
    return counts


def persona_names(stats: dict[str, Any]) -> tuple[str, ...]:
    """The dataset's personas that have training examples, most examples first."""
    people = [person for person in stats.get("personas") or () if isinstance(person, dict) and person.get("train")]
    return tuple(str(person.get("name") or person.get("id"))
                 for person in sorted(people, key=lambda person: -int(person.get("train") or 0)))


def wall_seconds(run_dir: Path) -> float | None:
    """The workers' wall time, summed over every process of the run (a resume starts a new one, whose clock starts
    again at zero): each process's last ``elapsed`` or, when it ended normally, its ``seconds``. Read from every
    line, before ``read_metrics`` drops the steps a resume redid."""
    total, current = 0.0, None
    path = run_dir / runs.METRICS_FILE
    if not path.is_file():
        return None
    with path.open(encoding="utf-8", errors="replace") as lines:
        for line in lines:
            try:
                event = from_dict(json.loads(line))
            except (ValueError, TypeError):
                continue
            value = event.seconds if isinstance(event, JobFinished) else getattr(event, "elapsed", None)
            if not isinstance(value, (int, float)):
                continue
            if current is not None and value + RESTART_SLACK_SECONDS < current:
                total += current
            current = float(value)
    return None if current is None else round(total + current, 1)


def evaluation_of(path: Path) -> dict[str, Any] | None:
    """The overall figures of eval.json: attribution of the tuned replies (right, total), their style similarity
    to the real replies, and perplexity tuned and base; None when the run was not evaluated."""
    report = runs.read_json(path)
    if not report:
        return None
    overall = report.get("overall") or {}
    perplexity = overall.get("perplexity") or {}
    style = ((overall.get("tuned") or {}).get("style_similarity") or {}).get("paired_mean")
    return {"attribution": right_and_total((report.get("attribution") or {}).get("tuned")),
            "style_similarity": style, "perplexity_tuned": perplexity.get("tuned"),
            "perplexity_base": perplexity.get("base")}


def changed_knobs(found: list[RunFacts]) -> list[str]:
    """The training knobs whose values are not the same in every run, in config order."""
    names: list[str] = []
    for facts in found:
        names.extend(name for name in facts.knobs if name not in names)
    return [name for name in names if len({json.dumps(facts.knobs.get(name), sort_keys=True) for facts in found}) > 1]


# -- the table ------------------------------------------------------------------------------------------------------
def number(value, digits: int = 3) -> str:
    if value is None:
        return MISSING
    if isinstance(value, float):
        return f"{value:.{digits}f}" if abs(value) >= 10 ** -digits or value == 0 else f"{value:.2e}"
    return str(value)


def knob_text(value) -> str:
    if value is None:
        return MISSING
    if isinstance(value, list):
        return ",".join(str(item) for item in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def duration(seconds: float | None) -> str:
    if seconds is None:
        return MISSING
    whole = int(round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h {minutes:02d}m" if hours else (f"{minutes}m {secs:02d}s" if minutes else f"{secs}s")


def curve_text(points: tuple[tuple[int, float], ...]) -> str:
    """first / last / best (lowest) of a curve."""
    if not points:
        return MISSING
    values = [value for _step, value in points]
    return f"{values[0]:.3f} / {values[-1]:.3f} / {min(values):.3f}"


def examples_text(counts: dict[str, int]) -> str:
    if not counts:
        return "(dataset folder gone)"
    return " / ".join(f"{counts[split]:,}" if split in counts else MISSING for split in ("train", "val", "test"))


def attribution_text(evaluation: dict[str, Any] | None) -> str:
    found = (evaluation or {}).get("attribution")
    if not found:
        return MISSING if evaluation else "not evaluated"
    right, total = found
    return f"{right} of {total} ({right / total:.0%})"


def evaluation_rows(found: list[RunFacts]) -> list[tuple[str, list[str]]]:
    def cell(facts: RunFacts, text: str) -> str:
        return text if facts.evaluation else "not evaluated"

    return [("attribution (tuned)", [attribution_text(facts.evaluation) for facts in found]),
            ("style similarity", [cell(facts, number((facts.evaluation or {}).get("style_similarity")))
                                  for facts in found]),
            ("perplexity tuned/base", [cell(facts, f"{number((facts.evaluation or {}).get('perplexity_tuned'), 2)} / "
                                                   f"{number((facts.evaluation or {}).get('perplexity_base'), 2)}")
                                       for facts in found])]


def rows(found: list[RunFacts]) -> list[tuple[str, list[str]]]:
    """(label, one cell per run) for every row of the comparison, in reading order."""
    table = [("status", [f"{facts.status}, step {facts.steps}" if facts.steps is not None else facts.status
                         for facts in found]),
             ("preset", [facts.preset or "custom" for facts in found])]
    knobs = changed_knobs(found)
    table += [(name, [knob_text(facts.knobs.get(name)) for facts in found]) for name in knobs]
    if not knobs:
        table.append(("training knobs", ["same in every run"] * len(found)))
    table += [("dataset", [Path(facts.data_dir).name if facts.data_dir else MISSING for facts in found]),
              ("examples train/val/test", [examples_text(facts.examples) for facts in found]),
              ("DPO pairs", [number(facts.examples.get("dpo pairs")) for facts in found]),
              ("base model", [Path(facts.base_model).name if facts.base_model else MISSING for facts in found]),
              ("wall time", [duration(facts.wall_seconds) for facts in found]),
              ("tokens/s (median)", [number(facts.tokens_per_second, 1) for facts in found]),
              ("loss first/last/best", [curve_text(facts.loss) for facts in found]),
              ("eval loss first/last/best", [curve_text(facts.eval_loss) for facts in found])]
    if any(facts.evaluation for facts in found):
        table += evaluation_rows(found)
    return table


def cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


def table_text(found: list[RunFacts]) -> str:
    return format_table([facts.run_id for facts in found], rows(found))


def format_table(run_ids: list[str], table: list[tuple[str, list[str]]]) -> str:
    """The comparison as fixed-width text: a column per run, headed by its id."""
    label_width = max(LABEL_WIDTH, *(len(label) + 1 for label, _cells in table))
    widths = [min(CELL_WIDTH, max(len(run_id), *(len(cells[index]) for _label, cells in table)))
              for index, run_id in enumerate(run_ids)]
    lines = [" " * label_width + "  ".join(cut(run_id, width).ljust(width) for run_id, width in zip(run_ids, widths))]
    for label, cells in table:
        lines.append(label.ljust(label_width) + "  ".join(cut(cell, width).ljust(width)
                                                         for cell, width in zip(cells, widths)))
    return "\n".join(line.rstrip() for line in lines)


def comparison_json(found: list[RunFacts]) -> dict[str, Any]:
    return {"runs": [facts.to_json() for facts in found], "changed_knobs": changed_knobs(found),
            "table": [{"label": label, "values": cells} for label, cells in rows(found)]}
