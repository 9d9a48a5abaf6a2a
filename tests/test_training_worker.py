"""The real training worker on real weights (SmolLM2-135M) and a set prepared from the shipped sample server.

One run, shared by the tests: started through the job runner, stopped after a couple of steps (a checkpoint at the
step boundary), then resumed through the CLI to the end. A handful of steps at sequence length 256 keeps it to about
a minute or two on 2 CPUs. Its run.log tells both parts in order, and the CLI printed the resumed part's words.
"""
from __future__ import annotations

import json
import re
import time

import pytest

from core.jobs import runs
from core.jobs.bus import EventBus
from core.jobs.events import CheckpointSaved, JobFailed, JobFinished, JobStarted, ProgressReported
from core.jobs.runner import JobRunner
from core.training.launch import plan_new_run, training_job
from tests.conftest import run_cli
from tests.log_order import assert_in_order

pytestmark = pytest.mark.slow
TOTAL_STEPS = 8
SUBSET = 8  # examples: the same few rows every step, so the loss must fall within a handful of steps


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from core.config.resources import ResourceMissing, default_base_model
    from core.config.workspace import Workspace
    from core.config.resources import asset
    sample = asset("sample_server", "export")  # shipped, so a bare clone trains here too
    try:
        default_base_model()
    except ResourceMissing as exc:
        pytest.skip(str(exc))
    workspace = Workspace.open(tmp_path_factory.mktemp("train") / "ws")
    assert run_cli("import", str(sample), "--json", workspace=workspace)[0] == 0
    code, out, err = run_cli("prepare", "--json", workspace=workspace)
    assert code == 0, err
    data = small_subset(json.loads(out)["out"], workspace.root / "subset")
    # the whole subset in every batch (full-batch steps: the curve is not batch noise) and a brisk learning rate
    workspace.config_path.write_text("[training]\ndpo_max_steps = 1\nsave_steps = 100\nper_device_batch_size = 4\n"
                                     "learning_rate = 3e-3\n", encoding="utf-8")

    planned = plan_new_run(workspace, data=data, preset="cpu-tiny", flags={"max_steps": TOTAL_STEPS})
    bus = EventBus()
    subscription = bus.subscribe("test")
    job = JobRunner(bus).start(training_job(planned))
    first = follow(subscription, job, stop_after_step=2)
    job.wait(60)
    code, out, err = run_cli("train", "--resume", planned.run_id, "--json", workspace=workspace)
    assert code == 0, err
    return {"workspace": workspace, "run_dir": planned.run_dir, "first": first, "summary": json.loads(out),
            "resume_output": err}


def small_subset(prepared: str, folder):
    from pathlib import Path
    folder.mkdir()
    for name, count in (("train.jsonl", SUBSET), ("val.jsonl", 4), ("dpo.jsonl", 2)):
        source = Path(prepared) / name
        lines = source.read_text(encoding="utf-8").splitlines(keepends=True)[:count] if source.exists() else []
        (folder / name).write_text("".join(lines), encoding="utf-8")
    return folder


def follow(subscription, job, stop_after_step: int, timeout: float = 600) -> list:
    events, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        for event in subscription.drain(timeout=0.5):
            events.append(event)
            if isinstance(event, ProgressReported) and event.loss is not None and event.step >= stop_after_step:
                job.stop()
            if isinstance(event, (JobFinished, JobFailed)):
                return events
    raise AssertionError(f"no ending within {timeout}s: {events[-5:]}")


def test_stop_saves_a_checkpoint_at_the_step_boundary(trained):
    events = trained["first"]
    ending = events[-1]
    assert isinstance(ending, JobFinished) and ending.status == "stopped", ending
    checkpoint = [event for event in events if isinstance(event, CheckpointSaved)][-1]
    assert checkpoint.step == ending.step and 2 <= ending.step < TOTAL_STEPS
    started = next(event for event in events if isinstance(event, JobStarted))
    assert started.backend == "peft" and started.device == "cpu" and started.total_steps == TOTAL_STEPS


def test_resume_continues_the_step_count_and_the_curve(trained):
    run_dir, stopped_at = trained["run_dir"], trained["first"][-1].step
    replay = runs.read_metrics(run_dir)
    starts = [event for event in replay if isinstance(event, JobStarted)]
    assert [event.resumed_from_step for event in starts] == [None, stopped_at]
    progress = [event for event in replay if isinstance(event, ProgressReported) and event.message == "sft"]
    assert [event.step for event in progress] == list(range(1, TOTAL_STEPS + 1))  # one curve: no restart, no gap
    resumed = progress[stopped_at:]
    assert resumed[0].eta is None  # the resumed run measures its own pace before it estimates
    log = (run_dir / runs.LOG_FILE).read_text(encoding="utf-8")
    assert log.count("launched pid") == 2
    assert trained["summary"]["status"] == "finished" and trained["summary"]["steps"] == TOTAL_STEPS


def test_loss_decreases(trained):
    curve = [event.loss for event in runs.read_metrics(trained["run_dir"])
             if isinstance(event, ProgressReported) and event.message == "sft"]
    assert sum(curve[-2:]) / 2 < sum(curve[:2]) / 2 * 0.9, curve


def test_outputs_follow_the_run_folder_layout(trained):
    run_dir, summary = trained["run_dir"], trained["summary"]
    adapter = run_dir / runs.ADAPTER_DIR
    assert (adapter / "adapter_config.json").exists() and (adapter / "adapter_model.safetensors").exists()
    tokenizer_config = json.loads((adapter / "tokenizer_config.json").read_text(encoding="utf-8"))
    template = tokenizer_config.get("chat_template") or (adapter / "chat_template.jinja").read_text(encoding="utf-8")
    assert "<|im_start|>" in template
    config = runs.read_config(run_dir)
    assert config["base_model"]["kind"] == "gguf" and config["training"]["max_steps"] == TOTAL_STEPS
    state = runs.read_state(run_dir)
    assert state["status"] == "finished" and state["step"] == TOTAL_STEPS and state["backend"] == "peft"
    assert summary["adapter"] == str(adapter) and summary["eval_loss"] is not None
    assert summary["dpo"]["status"] == "finished" and summary["dpo"]["steps"] == 1
    code, out, _ = run_cli("runs", "show", run_dir.name, "--json", workspace=trained["workspace"])
    shown = json.loads(out)
    assert code == 0 and [step for step, _ in shown["loss_curve"]] == list(range(1, TOTAL_STEPS + 1))


STOPPED_AND_RESUMED = [  # the run.log of a run stopped at step N and resumed to the end, in this order
    r"^\[runner\] \S+ launched pid \d+$",
    r"^base model: SmolLM2-135M-Instruct\.\S+\.gguf \(GGUF file, dequantized for training, \d+ MB\) from /",
    r"^backend: PEFT \+ TRL LoRA on the CPU \(no CUDA GPU: Unsloth needs one\); .* compute, fp32 weights$",
    r"^loaded in \S+( \S+)?: 1\d\d\.\dM parameters, 30 layers$",
    r"^LoRA r 8, alpha 16 on 7 projections of the top 8 of 30 layers: [\d.]+K trainable parameters "
    r"\(0\.\d+% of all\)$",
    r"^dataset \S+: 8 train examples.*, 4 validation examples",
    r"^tokens: [\d,]+ in the train split, [\d,]+ of them targets; packed into \d+ rows? of up to 256 tokens",
    r"^plan: 8 SFT steps = [\d.]+ epochs at effective batch 4 \(4 per device × 1 accumulation\), "
    r"lr 3\.00e-03 cosine$",
    r"^evaluation at the end on 4 examples; checkpoints every 100 steps, newest 2 kept; then DPO, 1 step$",
    r"^SFT: steps 1-8$",
    r"^SFT 1/8 · epoch [\d.]+ · loss [\d.]+ · lr [\d.e+-]+ · grad [\d.]+ · [\d,]+ tok/s · RAM [\d.]+ GiB · "
    r"\S+( \S+)? · ETA estimating$",
    r"^SFT 2/8 ",
    r"^\[runner\] stop requested: the worker saves at its next step boundary$",
    r"^checkpoint saved at step \d: checkpoints/checkpoint-\d$",
    r"^SFT stopped at step \d as asked, after \S+( \S+)?: saved checkpoints/checkpoint-\d; "
    r"Resume continues from step \d$",
    r"^stopped after \S+( \S+)? at step \d of 8: loss [\d.]+ → [\d.]+; Resume continues from the last checkpoint$",
    r"^\[runner\] \S+ stopped$",
    r"^\[runner\] \S+ launched pid \d+$",
    r"^base model: ", r"^backend: ", r"^loaded in ",
    r"^resuming at step \d of 8: plan: 8 SFT steps",
    r"^SFT resumed from checkpoint-\d: steps \d-8$",
    r"^SFT 8/8 · ",
    r"^SFT done in \S+( \S+)?: step 8, loss [\d.]+ → [\d.]+$",
    r"^evaluating at step 8 on 4 validation examples…$",
    r"^eval at step 8: loss [\d.]+ \(best so far\) · token accuracy [\d.]+% · 4 examples in ",
    r"^adapter saved after SFT: \S+/adapter \([\d.]+ MB\)$",
    r"^DPO: 1 step on \d+ preference pairs? \(beta 0\.1, lr 5\.00e-06\), from the SFT adapter$",
    r"^DPO 1/1 · epoch [\d.]+ · loss [\d.]+ · margin [+-][\d.]+ · acc \d+% · lr ",
    r"^DPO done in \S+( \S+)?: 1 step, loss [\d.]+ → [\d.]+, reward margin [+-][\d.]+$",
    r"^adapter saved after DPO: ",
    r"^finished in \S+( \S+)?: 8 SFT steps, [\d,]+ tokens trained, loss [\d.]+ → [\d.]+, "
    r"best eval loss [\d.]+ at step 8; DPO 1 step, loss [\d.]+ → [\d.]+; adapter: \S+/adapter$",
    r"^\[runner\] \S+ finished$",
]


def test_the_run_log_tells_the_stopped_and_resumed_run_in_order(trained):
    log = (trained["run_dir"] / runs.LOG_FILE).read_text(encoding="utf-8").splitlines()
    assert_in_order(log, STOPPED_AND_RESUMED)
    stopped_at = trained["first"][-1].step
    assert f"SFT resumed from checkpoint-{stopped_at}: steps {stopped_at + 1}-8" in log


def test_the_cli_printed_the_resumed_part_in_the_words_of_run_log(trained):
    from core.jobs.log_lines import lines_for
    events = runs.read_metrics(trained["run_dir"])
    stopped = next(index for index, event in enumerate(events) if isinstance(event, JobFinished))
    worded = [line for event in events[stopped + 1:] for line in lines_for(event) if not line.startswith("[runner]")]
    log = (trained["run_dir"] / runs.LOG_FILE).read_text(encoding="utf-8").splitlines()
    assert_in_order(log, [f"^{re.escape(line)}$" for line in worded])  # run.log has them, in this order
    printed = trained["resume_output"].splitlines()
    start = printed.index(worded[0])
    assert printed[start:start + len(worded)] == worded  # and the terminal printed them, nothing in between
