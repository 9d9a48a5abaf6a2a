"""``runs compare RUN RUN...`` and ``core.training.compare`` on run folders in the format a run writes
(tests/run_folders.py: a real prepared dataset, config.json from plan_new_run, metrics.jsonl and state.json from the
RunRecorder), and once on the tiny real training run (slow)."""
from __future__ import annotations

import json
import shutil

import pytest

from core.config.workspace import Workspace
from core.training import compare
from tests.conftest import run_cli
from tests.eval_fixture import write_eval
from tests.run_folders import loss_at, prepare_sample, record_run


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """A finished 60-step run (lora_r 8, lr 1e-3, evaluated) and a run stopped at step 30 (lora_r 16, lr 5e-4)."""
    workspace = Workspace.open(tmp_path_factory.mktemp("compare") / "ws")
    data_dir = prepare_sample(workspace)
    first = record_run(workspace, data_dir, flags={"max_steps": 60, "lora_r": 8, "learning_rate": 1e-3}, steps=60,
                       tokens_per_second=900.0)
    second = record_run(workspace, data_dir, flags={"max_steps": 60, "lora_r": 16, "learning_rate": 5e-4}, steps=30,
                        start=3.6, floor=2.2, tokens_per_second=700.0, ending="stopped")
    write_eval(first)
    return workspace, data_dir, first, second


def table(result: dict) -> dict[str, list[str]]:
    return {row["label"]: row["values"] for row in result["table"]}


def test_runs_compare_json_lists_only_the_knobs_that_differ_and_how_each_run_went(two_runs):
    workspace, data_dir, first, second = two_runs
    code, out, err = run_cli("runs", "compare", first.name, second.name, "--json", workspace=workspace)
    assert code == 0, err
    result = json.loads(out)
    assert [run["run_id"] for run in result["runs"]] == [first.name, second.name]
    assert result["changed_knobs"] == ["lora_r", "learning_rate"]  # max_steps, batch size... are the same
    rows = table(result)
    assert rows["status"] == ["finished, step 60", "stopped, step 30"]
    assert rows["preset"] == ["cpu-tiny", "cpu-tiny"]
    assert rows["lora_r"] == ["8", "16"] and rows["learning_rate"] == ["0.001", "0.0005"]
    assert "max_steps" not in rows and "per_device_batch_size" not in rows
    stats = json.loads((data_dir / "stats.json").read_text(encoding="utf-8"))["examples"]
    assert rows["dataset"] == ["sample-server", "sample-server"]
    assert rows["examples train/val/test"] == [f"{stats['train']:,} / {stats['val']:,} / {stats['test']:,}"] * 2
    assert rows["base model"] == ["SmolLM2-135M-Instruct.Q4_1.gguf"] * 2
    assert rows["wall time"] == ["1m 36s", "51s"]  # the worker's own clock: 6 s + 1.5 s a step
    assert rows["tokens/s (median)"] == ["910.0", "710.0"]
    losses = [loss_at(step, 3.4, 1.8) for step in range(1, 61)]
    assert rows["loss first/last/best"][0] == f"{losses[0]:.3f} / {losses[-1]:.3f} / {min(losses):.3f}"
    evals = [loss_at(step, 3.4, 1.8) + 0.15 for step in range(10, 61, 10)]
    assert rows["eval loss first/last/best"][0] == f"{evals[0]:.3f} / {evals[-1]:.3f} / {min(evals):.3f}"
    first_run = result["runs"][0]
    assert len(first_run["loss"]) == 60 and first_run["eval_loss"][0] == [10, pytest.approx(evals[0], abs=1e-4)]
    assert first_run["personas"][:1] and first_run["examples"]["train"] == stats["train"]


def test_eval_metrics_show_for_the_evaluated_run_and_not_evaluated_for_the_other(two_runs):
    workspace, _data, first, second = two_runs
    report = json.loads((first / "eval" / "eval.json").read_text(encoding="utf-8"))
    code, out, _err = run_cli("runs", "compare", first.name, second.name, "--json", workspace=workspace)
    rows = table(json.loads(out))
    tuned = report["attribution"]["tuned"]
    right = round(tuned["rate"] * tuned["count"])
    assert rows["attribution (tuned)"] == [f"{right} of {tuned['count']} ({right / tuned['count']:.0%})",
                                           "not evaluated"]
    overall = report["overall"]
    assert rows["style similarity"] == [f"{overall['tuned']['style_similarity']['paired_mean']:.3f}",
                                        "not evaluated"]
    assert rows["perplexity tuned/base"][0] == (f"{overall['perplexity']['tuned']:.2f} / "
                                                f"{overall['perplexity']['base']:.2f}")


def test_runs_compare_prints_the_same_table_as_text(two_runs):
    workspace, _data, first, second = two_runs
    code, out, _err = run_cli("runs", "compare", first.name[:17], second.name, workspace=workspace)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == [first.name, second.name]
    by_label = {line[:26].strip(): line[26:].split("  ") for line in lines[1:]}
    assert [cell.strip() for cell in by_label["lora_r"] if cell.strip()] == ["8", "16"]
    assert [cell.strip() for cell in by_label["status"] if cell.strip()] == ["finished, step 60", "stopped, step 30"]
    assert "attribution (tuned)" in by_label and "max_steps" not in by_label


def test_unknown_runs_and_a_single_run_are_one_line_errors(two_runs):
    workspace, _data, first, _second = two_runs
    code, out, err = run_cli("runs", "compare", first.name, "20990101-nothing", workspace=workspace)
    assert code == 1 and out == ""
    assert err.strip().count("\n") == 0 and "no run '20990101-nothing'" in err
    code, _out, err = run_cli("runs", "compare", first.name, first.name, workspace=workspace)
    assert code == 2 and "two or more different runs" in err and err.strip().count("\n") == 0


def test_identical_knobs_say_so_and_a_missing_dataset_folder_is_named(two_runs, tmp_path):
    workspace, data_dir, first, _second = two_runs
    copy = workspace.runs_dir / (first.name[:-4] + "copy")
    shutil.copytree(first, copy)
    shutil.rmtree(copy / "eval")
    config = json.loads((copy / "config.json").read_text(encoding="utf-8"))
    config["data_dir"] = str(tmp_path / "gone")
    (copy / "config.json").write_text(json.dumps(config), encoding="utf-8")
    try:
        found = compare.compare_runs(workspace.runs_dir, [first.name, copy.name])
        rows = dict(compare.rows(found))
        assert rows["training knobs"] == ["same in every run"] * 2
        assert rows["examples train/val/test"][1] == "(dataset folder gone)"
        assert rows["attribution (tuned)"][1] == "not evaluated"
    finally:
        shutil.rmtree(copy)


def test_wall_time_adds_up_every_worker_process_of_a_resumed_run(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    lines = [{"event": "progress", "step": 0, "elapsed": 3.0, "message": "loading"},
             {"event": "progress", "step": 1, "loss": 2.0, "elapsed": 50.0, "message": "sft"},
             {"event": "progress", "step": 2, "loss": 1.9, "elapsed": 80.0, "message": "sft"},  # then stopped/killed
             {"event": "progress", "step": 0, "elapsed": 2.0, "message": "loading"},          # the resume
             {"event": "progress", "step": 2, "loss": 1.9, "elapsed": 30.0, "message": "sft"},
             {"event": "finished", "status": "finished", "step": 2, "seconds": 30.05}]
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps({"time": 1.0, **line}) + "\n" for line in lines))
    assert compare.wall_seconds(run_dir) == 110.0


@pytest.mark.slow
def test_runs_compare_reads_a_real_training_run(tmp_path_factory, tmp_path):
    """The tiny run trained for real (tests/tiny_run.py), copied twice into a fresh workspace, one copy's config
    changed the way a different --preset would have changed it."""
    from tests.tiny_run import tiny_run
    tiny = tiny_run(tmp_path_factory)
    workspace = Workspace.open(tmp_path / "ws")
    ignore = shutil.ignore_patterns("checkpoints", "adapter")
    first = shutil.copytree(tiny.run_dir, workspace.runs_dir / tiny.run_dir.name, ignore=ignore)
    second = shutil.copytree(tiny.run_dir, workspace.runs_dir / (tiny.run_dir.name[:-4] + "b2b2"), ignore=ignore)
    config = json.loads((second / "config.json").read_text(encoding="utf-8"))
    config["training"]["lora_r"] = config["training"]["lora_r"] * 2
    (second / "config.json").write_text(json.dumps(config), encoding="utf-8")
    code, out, err = run_cli("runs", "compare", first.name, second.name, "--json", workspace=workspace)
    assert code == 0, err
    result = json.loads(out)
    rows = table(result)
    assert result["changed_knobs"] == ["lora_r"]
    assert rows["status"][0].startswith("finished, step 4")
    assert rows["loss first/last/best"][0] != compare.MISSING and len(result["runs"][0]["loss"]) == 4
    assert rows["tokens/s (median)"][0] != compare.MISSING
    assert rows["wall time"][0] != compare.MISSING
    assert rows["examples train/val/test"][0].split(" / ")[0].replace(",", "").isdigit()
