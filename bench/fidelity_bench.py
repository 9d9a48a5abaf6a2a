"""Fidelity benchmark: do the tuned replies sound like the person? Recipes side by side on the same held-out set.

    python bench/fidelity_bench.py                       # the shipped recipe and the baseline, sample server, CPU
    python bench/fidelity_bench.py --recipe name-only --recipe cpu-quality --recipe 'mine:cpu-quality:lora_r=32'
    python bench/fidelity_bench.py --base /models/llama-3.2-3b --preset vram-12gb   # a 3B model on a GPU

A recipe is a preset plus overrides: ``NAME:PRESET[:key=value,...]``, values in TOML syntax; ``dataset.KEY`` sets a
[dataset] knob (how examples are built: the persona profile, context), any other key a [training] knob. For each
recipe, in a workspace holding the sample server (or ``--workspace``): ``prepare`` with the recipe's dataset knobs
(the same seed, so the same conversations are held out: checked), ``train`` with the preset and knobs, ``export``
(GGUF, q8_0) and ``eval`` through the exported GGUF, the path the bot uses. Everything runs through ``launcher.py``
as a user's commands would. Each recipe's figures go to ``OUT/RECIPE/result.json``; a recipe whose result exists for
the same settings is not run again (``--fresh`` reruns). The table: per persona and overall, the share of real /
tuned / base replies the nearest-centroid classifier attributes to the right persona, style similarity, the median
reply length ratio (tuned / real), assistant-speak, verbatim copies of training replies, perplexity tuned / base,
and the wall time of each step. ``--check RECIPE`` prints the issue's targets for that recipe, met or not.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "assets" / "sample_server" / "export"
DEFAULT_OUT = ROOT / "bench" / "out" / "fidelity"
# The recipe the issue measured as the starting point: the persona named, nothing more (cpu-tiny for one epoch).
BUILTIN = {
    "name-only": ("cpu-tiny", {"dataset.style_profile": False, "max_steps": 0, "num_epochs": 1.0, "lora_r": 16,
                               "lora_alpha": 32, "learning_rate": 5e-4}),
    "cpu-quality": ("cpu-quality", {}),
}
DEFAULT_RECIPES = ("name-only", "cpu-quality")
TARGETS = ("tuned attribution >= 0.8 x real overall, and above base for every persona",
           "median reply length within 20% of the real replies', per persona",
           "assistant-speak < 2%, verbatim copies < 1%", "perplexity below base for every persona")


def parse_recipe(text: str, preset: str | None) -> tuple[str, str, dict]:
    """(name, preset, overrides) from ``NAME[:PRESET[:k=v,...]]`` or a built-in name."""
    name, _, rest = text.partition(":")
    if not rest:
        if name not in BUILTIN:
            raise SystemExit(f"--recipe {text!r}: unknown built-in recipe (known: {', '.join(BUILTIN)}); "
                             f"write NAME:PRESET[:key=value,...]")
        base_preset, overrides = BUILTIN[name]
        return name, preset or base_preset, dict(overrides)
    recipe_preset, _, knobs = rest.partition(":")
    overrides = {}
    for item in filter(None, (part.strip() for part in knobs.split(","))):
        key, _, value = item.partition("=")
        try:
            overrides[key.strip()] = tomllib.loads(f"v = {value.strip()}")["v"]
        except tomllib.TOMLDecodeError as exc:
            raise SystemExit(f"--recipe {text!r}: {item!r} is not key=TOML value ({exc})") from None
    return name, preset or recipe_preset, overrides


def launcher(workspace: Path, *args: str, log: Path, failing_ok: bool = False) -> dict:
    """One CLI command with --json; its stderr goes to ``log``. A failure stops the benchmark with its message
    unless ``failing_ok`` (then the result is ``{"failed": exit code}``)."""
    command = [sys.executable, str(ROOT / "launcher.py"), "--workspace", str(workspace), *args, "--json"]
    with log.open("a", encoding="utf-8") as errors:
        errors.write(f"\n$ {' '.join(command)}\n")
        errors.flush()
        done = subprocess.run(command, stdout=subprocess.PIPE, stderr=errors, text=True, encoding="utf-8")
    if done.returncode != 0 and failing_ok:
        return {"failed": done.returncode}
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args[:1])} failed (exit {done.returncode}): see {log}")
    return json.loads(done.stdout)


def write_config(workspace: Path, overrides: dict) -> None:
    import tomli_w
    tables: dict[str, dict] = {"dataset": {}, "training": {}}
    for key, value in overrides.items():
        table, _, knob = key.rpartition(".")
        tables[table or "training"][knob] = value
    (workspace / "config.toml").write_text(tomli_w.dumps({k: v for k, v in tables.items() if v}), encoding="utf-8")


def held_out(data_dir: Path) -> list[str]:
    """The test split's conversation ids: every recipe must be judged on the same ones."""
    with (data_dir / "test.jsonl").open(encoding="utf-8") as lines:
        return sorted({json.loads(line)["meta"]["conversation_id"] for line in lines if line.strip()})


def run_recipe(args, name: str, preset: str, overrides: dict, out: Path) -> dict:
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    signature = hashlib.sha256(json.dumps([preset, overrides, args.base, args.limit, args.seed, args.max_steps],
                                          sort_keys=True).encode()).hexdigest()[:16]
    result_file = folder / "result.json"
    if result_file.exists() and not args.fresh:
        result = json.loads(result_file.read_text(encoding="utf-8"))
        if result.get("signature") == signature and args.reeval:
            return reevaluate(args, result, folder)
        if result.get("signature") == signature:
            print(f"[{name}] reusing {result_file}", flush=True)
            return result
    log = folder / "commands.log"
    log.write_text("", encoding="utf-8")
    workspace = args.workspace
    write_config(workspace, {"dataset.seed": args.seed, **overrides})
    times = {}
    started = time.monotonic()
    prepared = launcher(workspace, "prepare", "--out", str(folder / "dataset"), log=log)
    times["prepare"] = time.monotonic() - started
    train_args = ["train", "--data", prepared["out"], "--preset", preset]
    if args.base:
        train_args += ["--base", args.base]
    if args.max_steps:
        train_args += ["--max-steps", str(args.max_steps)]
    print(f"[{name}] training ({preset}, {overrides or 'no overrides'})", flush=True)
    mark = time.monotonic()
    trained = launcher(workspace, *train_args, log=log)
    times["train"] = time.monotonic() - mark
    mark = time.monotonic()
    # A failed smoke test still leaves a complete export (export/export.json): its replies are what gets measured.
    exported = launcher(workspace, "export", trained["run_id"], "--quant", args.quant, log=log, failing_ok=True)
    if "failed" in exported and not (Path(trained["run_dir"]) / "export" / "export.json").exists():
        raise SystemExit(f"export failed (exit {exported['failed']}): see {log}")
    times["export"] = time.monotonic() - mark
    mark = time.monotonic()
    evaluated = launcher(workspace, "eval", trained["run_id"], "--limit", str(args.limit), log=log)
    times["eval"] = time.monotonic() - mark
    times["total"] = time.monotonic() - started
    report = json.loads(Path(evaluated["eval_file"]).read_text(encoding="utf-8"))
    result = {"recipe": name, "preset": preset, "overrides": overrides, "signature": signature,
              "run_id": trained["run_id"], "run_dir": trained.get("run_dir"),
              "held_out": held_out(Path(prepared["out"])),
              "train_examples": prepared["examples"]["train"], "steps": trained.get("steps"),
              "smoke_passed": exported.get("smoke_passed", False),
              "seconds": {key: round(value, 1) for key, value in times.items()}, "figures": figures(report)}
    result_file.write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")
    return result


def reevaluate(args, result: dict, folder: Path) -> dict:
    """The recipe's trained and exported model evaluated again (the evaluation or the reply pipeline changed)."""
    print(f"[{result['recipe']}] evaluating run {result['run_id']} again", flush=True)
    mark = time.monotonic()
    evaluated = launcher(args.workspace, "eval", result["run_id"], "--limit", str(args.limit),
                         log=folder / "commands.log")
    result["seconds"]["eval"] = round(time.monotonic() - mark, 1)
    result["seconds"]["total"] = round(sum(result["seconds"][key] for key in ("prepare", "train", "export", "eval")), 1)
    result["figures"] = figures(json.loads(Path(evaluated["eval_file"]).read_text(encoding="utf-8")))
    (folder / "result.json").write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")
    return result


def figures(report: dict) -> dict:
    """Per persona name and "overall": the benchmark's columns from an eval.json."""
    rows = {}
    for persona_id, block in report.get("personas", {}).items():
        rows[block.get("name", persona_id)] = row_of(block, block.get("attribution", {}))
    rows["overall"] = row_of(report.get("overall", {}), report.get("attribution", {}))
    return rows


def row_of(block: dict, attribution: dict) -> dict:
    def get(*path):
        value = block
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        return value
    real_median = get("tuned", "length", "real", "words_median")
    tuned_median = get("tuned", "length", "generated", "words_median")
    return {"examples": get("examples"),
            "attr_real": (attribution.get("real") or {}).get("rate"),
            "attr_tuned": (attribution.get("tuned") or {}).get("rate"),
            "attr_base": (attribution.get("base") or {}).get("rate"),
            "style": get("tuned", "style_similarity", "centroid"),
            "length_ratio": round(tuned_median / real_median, 3) if real_median and tuned_median is not None else None,
            "assistant": get("tuned", "assistant_speak", "rate"), "copied": get("tuned", "regurgitation", "rate"),
            "ppl_tuned": get("perplexity", "tuned"), "ppl_base": get("perplexity", "base")}


COLUMNS = (("attr real", "attr_real", 2), ("tuned", "attr_tuned", 2), ("base", "attr_base", 2),
           ("style", "style", 2), ("len x", "length_ratio", 2), ("asst", "assistant", 3), ("copied", "copied", 3),
           ("ppl tuned", "ppl_tuned", 1), ("ppl base", "ppl_base", 1))


def cell(value, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def table(results: list[dict]) -> str:
    """Personas (then overall) down the side, each recipe a row in its block, metrics across."""
    header = f"{'persona':<16}{'recipe':<22}" + "".join(f"{title:>10}" for title, _, _ in COLUMNS)
    lines = [header, "-" * len(header)]
    names = [key for key in results[0]["figures"] if key != "overall"] + ["overall"]
    for persona in names:
        for index, result in enumerate(results):
            row = result["figures"].get(persona, {})
            lines.append(f"{(persona if index == 0 else ''):<16}{result['recipe'][:21]:<22}"
                         + "".join(f"{cell(row.get(key), digits):>10}" for _, key, digits in COLUMNS))
    lines += ["", f"{'recipe':<22}{'preset':<14}{'examples':>9}{'prepare':>9}{'train':>9}{'export':>9}{'eval':>9}"
              f"{'total':>9}  (seconds)"]
    for result in results:
        seconds = result["seconds"]
        lines.append(f"{result['recipe'][:21]:<22}{result['preset'][:13]:<14}{result['train_examples']:>9}"
                     + "".join(f"{seconds.get(key, 0):>9.0f}" for key in ("prepare", "train", "export", "eval",
                                                                          "total")))
    return "\n".join(lines)


def check(result: dict) -> list[tuple[str, bool, str]]:
    """The issue's targets for one recipe: (target, met, the figures behind it)."""
    rows = result["figures"]
    overall = rows["overall"]
    personas = {name: row for name, row in rows.items() if name != "overall"}
    ratio = (overall["attr_tuned"] or 0) / overall["attr_real"] if overall.get("attr_real") else 0.0
    below = [name for name, row in personas.items() if (row["attr_tuned"] or 0) <= (row["attr_base"] or 0)]
    lengths = [name for name, row in personas.items() if row["length_ratio"] is None
               or abs(row["length_ratio"] - 1) > 0.2]
    perplexity = [name for name, row in personas.items() if row["ppl_tuned"] is None or row["ppl_base"] is None
                  or row["ppl_tuned"] >= row["ppl_base"]]
    return [
        (TARGETS[0], ratio >= 0.8 and not below, f"tuned/real {ratio:.2f}; not above base: {below or 'none'}"),
        (TARGETS[1], not lengths, f"outside: {lengths or 'none'}"),
        (TARGETS[2], (overall["assistant"] or 0) < 0.02 and (overall["copied"] or 0) < 0.01,
         f"assistant {overall['assistant']}, copied {overall['copied']}"),
        (TARGETS[3], not perplexity, f"not below base: {perplexity or 'none'}"),
    ]


def ensure_workspace(workspace: Path, log: Path) -> None:
    if (workspace / "studio.db").exists():
        return
    workspace.mkdir(parents=True, exist_ok=True)
    launcher(workspace, "import", str(SAMPLE), log=log)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipe", action="append", help="NAME:PRESET[:key=value,...] or a built-in "
                        f"({', '.join(BUILTIN)}); repeat for several (default: {', '.join(DEFAULT_RECIPES)})")
    parser.add_argument("--preset", help="use this preset for every recipe (e.g. vram-12gb with --base on a GPU)")
    parser.add_argument("--base", help="base model (.gguf, folder or hub id); default: the offline SmolLM2-135M")
    parser.add_argument("--workspace", type=Path, help="a workspace with imported history (default: the sample "
                        "server imported into OUT/workspace)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--limit", type=int, default=0, help="test examples per persona (0 = all)")
    parser.add_argument("--seed", type=int, default=1234, help="dataset seed: which conversations are held out")
    parser.add_argument("--max-steps", type=int, default=0, help="cap every recipe's steps (a quick check)")
    parser.add_argument("--quant", default="q8_0", choices=("q4_k_m", "q8_0", "f16"))
    parser.add_argument("--fresh", action="store_true", help="rerun recipes that have a result already")
    parser.add_argument("--reeval", action="store_true", help="evaluate finished recipes' models again (after a "
                        "change to the evaluation or the reply pipeline), keeping their training")
    parser.add_argument("--check", help="print the issue's targets for this recipe")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    args.workspace = (args.workspace or args.out / "workspace").resolve()
    ensure_workspace(args.workspace, args.out / "import.log")
    recipes = [parse_recipe(text, args.preset) for text in (args.recipe or DEFAULT_RECIPES)]
    results = [run_recipe(args, name, preset, overrides, args.out) for name, preset, overrides in recipes]
    if len({tuple(result["held_out"]) for result in results}) > 1:
        raise SystemExit("the recipes held out different conversations: their figures are not comparable")
    text = table(results)
    print(text)
    (args.out / "table.txt").write_text(text + "\n", encoding="utf-8")
    (args.out / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False), encoding="utf-8")
    if args.check:
        chosen = next((result for result in results if result["recipe"] == args.check), None)
        if chosen is None:
            raise SystemExit(f"--check {args.check}: not among the recipes run")
        print(f"\ntargets for {args.check}:")
        for target, met, detail in check(chosen):
            print(f"  [{'met' if met else 'MISSED'}] {target}: {detail}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
