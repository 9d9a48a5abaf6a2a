"""A realistic evaluation of the sample server "Moonbase Cafe" for the Models page's tests and screenshots, written
without a model: six personas, ten test examples each, lines in each persona's voice from the sample server's own
generator (assets/sample_server/voices.py), base replies in assistant-speak, and attributions fixed per persona
(Bolt's terse voice is often heard as Pixel, Wren and Juniper get mixed up, the base sounds like Marguerite).

The files go through the worker's own code where it is plain: ``rates_from_predictions`` and ``confusion_matrix``
(core.evaluation.attribution), the metrics functions, and ``example_lines`` of model.eval_worker for
examples.jsonl, so the page reads what a real evaluation writes. Perplexity and style figures are made up.
"""
from __future__ import annotations

import importlib.util
import json
import random
from pathlib import Path

from core.config.resources import asset
from core.evaluation import metrics
from core.evaluation.attribution import confusion_matrix, rates_from_predictions

EXAMPLES = 10
# id, name, voice key, tuned right, real right, base right, who the misses go to
PERSONAS = [
    ("1210000000000001000", "Pixel", "pixel", 8, 9, 1, "1210000000000003000"),
    ("1210000000000002000", "Marguerite", "marguerite", 9, 10, 6, "1210000000000006000"),
    ("1210000000000003000", "Bolt", "bolt", 5, 7, 0, "1210000000000001000"),
    ("1210000000000004000", "Juniper", "juniper", 7, 9, 1, "1210000000000006000"),
    ("1210000000000005000", "Captain Ruckus", "ruckus", 9, 10, 0, "1210000000000001000"),
    ("1210000000000006000", "Wren", "wren", 6, 8, 1, "1210000000000004000"),
]
MARGUERITE = "1210000000000002000"
BASE_LINES = ["That sounds like a great plan! Let me know if you need any tips for {thing}.",
              "I'd be happy to help! {thing} is a popular choice for many people.",
              "Great question! There are many ways to enjoy {thing}.",
              "Certainly! Here are some thoughts on {thing}: it depends on your preferences.",
              "I understand your excitement about {thing}. Have a wonderful day!"]
THINGS = ["Starfall Tactics", "ramen", "the moss sketch", "the new keyboard", "the night market", "Salt and Starlight",
          "my cat Biscuit", "Cozy Valley", "matcha", "the zine"]


def voices():
    spec = importlib.util.spec_from_file_location("sample_voices", asset("sample_server", "voices.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def records(seed: int = 7) -> list[dict]:
    """The worker's per-example records (persona, prompt, real/tuned/base, attributed), in persona order."""
    speak = voices().speak
    rng = random.Random(seed)
    keys = {persona: key for persona, _name, key, *_rest in PERSONAS}
    names = {persona: name for persona, name, *_rest in PERSONAS}
    found = []
    for persona, name, key, tuned_right, real_right, base_right, miss in PERSONAS:
        others = [other for other in keys if other != persona]
        for number in range(EXAMPLES):
            thing = THINGS[(number + len(found)) % len(THINGS)]
            speakers = rng.sample(others, 2)
            prompt = [{"role": "system", "content": f"You are {name}, chatting in #general of Moonbase Cafe."},
                      *({"role": "user", "content": f"{names[who]}: {speak(keys[who], 'open', thing, name, rng)}"}
                        for who in speakers)]
            tuned_as = persona if number < tuned_right else miss
            base_miss = MARGUERITE if persona != MARGUERITE else miss
            real = speak(key, "answer", thing, names[speakers[-1]], rng)
            tuned = real
            while tuned == real:  # a model reply that repeats the real one word for word would be a copy
                tuned = speak(keys[tuned_as], rng.choice(["answer", "joke", "short"]), thing, names[speakers[-1]], rng)
            found.append({
                "persona": persona, "persona_name": name, "message_id": str(9_000_000 + len(found)),
                "prompt": prompt, "real": real, "tuned": tuned,
                "base": rng.choice(BASE_LINES).format(thing=thing),
                "attributed": {"real": persona if number < real_right else miss, "tuned": tuned_as,
                               "base": persona if number < base_right else base_miss}})
    return found


def persona_report(group: list[dict], samples: bool = True) -> dict:
    real = [record["real"] for record in group]
    rng = random.Random(len(group) + len(real[0]))
    report = {"name": group[0]["persona_name"] if samples else "all personas", "examples": len(group),
              "real": {"length": metrics.length_summary(real), "assistant_speak": metrics.assistant_speak(real)},
              "perplexity": {"tuned": round(rng.uniform(9, 16), 3), "base": round(rng.uniform(38, 60), 3)}}
    for source, similarity in (("tuned", rng.uniform(0.45, 0.7)), ("base", rng.uniform(0.15, 0.3))):
        generated = [record[source] for record in group]
        report[source] = {"style_similarity": {"paired_mean": round(similarity, 4),
                                               "centroid": round(similarity + 0.2, 4)},
                          "length": metrics.length_comparison(real, generated),
                          "vocabulary": metrics.vocabulary_overlap(real, generated),
                          "assistant_speak": metrics.assistant_speak(generated),
                          "regurgitation": metrics.regurgitation(generated, metrics.TrainingTargets([]))}
    if samples:
        report["samples"] = [{"context": [m["content"] for m in r["prompt"][1:]][-3:], "real": r["real"],
                              "tuned": r["tuned"], "base": r["base"]} for r in group[:3]]
    return report


def report_for(found: list[dict]) -> dict:
    personas = {}
    for persona, *_rest in PERSONAS:
        personas[persona] = persona_report([record for record in found if record["persona"] == persona])
    predicted = {source: {} for source in ("real", "tuned", "base")}
    for record in found:
        for source in predicted:
            predicted[source].setdefault(record["persona"], []).append(record["attributed"][source])
    rates = rates_from_predictions(predicted, len(PERSONAS))
    for persona, entry in rates["personas"].items():
        personas[persona]["attribution"] = entry
    return {"personas": personas, "overall": persona_report(found, samples=False),
            "attribution": {**rates["overall"], "method": "fixture", "training_replies": 1200},
            "attribution_matrix": confusion_matrix(predicted), "run_id": "20240501-120000-train-cafe",
            "split": "test.jsonl", "limit_per_persona": EXAMPLES, "stopped_early": False, "backend": "llama.cpp"}


def write_eval(run_dir: Path) -> dict:
    """eval/eval.json and eval/examples.jsonl in ``run_dir``; returns the report."""
    from model.eval_worker import example_lines
    found = records()
    report = report_for(found)
    folder = run_dir / "eval"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "examples.jsonl").write_text("".join(json.dumps(line, ensure_ascii=False) + "\n"
                                                   for line in example_lines(found, with_base=True)),
                                           encoding="utf-8")
    (folder / "eval.json").write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    return report


def write_run(runs_dir: Path, run_id: str = "20240501-120000-train-cafe") -> Path:
    """A finished run folder (config snapshot, state) with the evaluation above."""
    from core.jobs.runs import CONFIG_FILE, write_state
    run_dir = runs_dir / run_id
    run_dir.mkdir(parents=True)
    (run_dir / CONFIG_FILE).write_text(json.dumps({"run_id": run_id, "kind": "train", "base_model": {
        "source": "SmolLM2-360M-Instruct.Q8_0.gguf", "kind": "gguf"}}), encoding="utf-8")
    write_state(run_dir, status="finished", step=600, total_steps=600, loss=1.84)
    write_eval(run_dir)
    return run_dir
