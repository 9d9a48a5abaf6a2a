"""The Training and Models pages' verbs, mixed into ``gui.actions.Actions`` through ``gui.actions_data``.

Training goes through ``core.training.launch`` (the run folder and its config snapshot are written before the
worker starts), export and evaluation through the same workers and folders as the CLI's ``export`` and ``eval``
(``RUN/export/``, ``RUN/eval/``). A run is read back from its folder (``core.jobs.runs``), so a restarted panel shows
what happened while it was closed. The memory estimate reads the model's shape from disk and may wait for
nvidia-smi: call it through ``in_background``. The run form's values carry the GPU count under ``GPUS_KEY`` beside
the training knobs; the verbs take it out for the launcher (``core.training.processes``).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gui.errors import ActionError, NotAvailable

EXPORT_DIR, EVAL_DIR = "export", "eval"
LOG_TAIL_LINES = 200  # the reopened page shows the run's recent log (a line per step, the phases around them)
QUANTS = ("q4_k_m", "q8_0", "f16")  # as the CLI's export command
GPUS_KEY = "gpus"  # as gui.views.training_form.GPUS_KEY (views and actions do not import each other)


@dataclass(frozen=True)
class RunSummary:
    """A run as the Models page lists it."""
    run_id: str
    run_dir: Path
    status: str
    step: int | None
    total_steps: int | None
    final_loss: float | None
    base_model: str | None
    gguf: Path | None           # the exported model, when there is one
    eval_file: Path | None      # eval.json, when evaluated
    stale: str | None           # why the run (or its dataset) is stale, else None
    failure: str | None = None  # a failed run's one-line reason (state.json's message)


class RunActions:
    # -- Training ---------------------------------------------------------------------------------------------------
    def presets(self) -> list[str]:
        from core.config.training import available_presets
        return available_presets()

    def default_base_model(self) -> str:
        from core.config.resources import ResourceMissing, default_base_model
        try:
            return str(default_base_model())
        except ResourceMissing:
            return ""

    def estimate_memory(self, base: str, preset: str | None, flags: dict[str, Any]) -> dict:
        """The memory estimate of a planned run: {"total_gb", "parts", "device", "available_gb", "warning"}, and
        the GPUs a run can use: {"gpus" (None: not counted yet), "several_gpus", "gpus_note"}. Blocks up to half a
        second for nvidia-smi: call through ``in_background``."""
        from core.config.training import PresetError, build_training_config, resolve_base_model
        from core.training import processes, vram
        from core.training.launch import LaunchError, user_training_table
        flags = {key: value for key, value in flags.items() if key != GPUS_KEY}
        gpus = {"gpus": vram.detect_gpu_count(), "several_gpus": processes.multi_process_supported(),
                "gpus_note": None if processes.multi_process_supported() else processes.WINDOWS_NOTE}
        try:
            base_model = resolve_base_model(base or self.default_base_model())
            gpu_gb = vram.detect_gpu_memory_gb()
            config = build_training_config(preset or vram.preset_for_gpu(gpu_gb), user_training_table(self.workspace),
                                           flags)
        except (PresetError, LaunchError) as exc:
            raise ActionError(str(exc), "change the value named above") from None
        shape = self.model_shape(base_model)
        estimate = None
        if shape is not None:  # as core.training.launch.memory_estimate, with the shape read once per model file
            estimate = (vram.estimate(config, shape, "cuda", gpu_gb) if gpu_gb is not None
                        else vram.estimate(config, shape, "cpu", vram.available_ram_gb()))
        if estimate is None:
            return {"total_gb": None, "device": None, "parts": {}, "available_gb": None,
                    "warning": f"no estimate: the shape of {base_model['source']} is not on disk yet", **gpus}
        return {"total_gb": estimate.total_gb, "parts": estimate.parts, "device": estimate.device,
                "available_gb": estimate.available_gb, "warning": estimate.warning(), **gpus}

    def model_shape(self, base_model: dict[str, str]):
        """The model's shape, cached per file version. A GGUF is read by gui.gguf_header (the header only, a few MB
        and milliseconds) rather than gguf.GGUFReader, which maps the file and kept ~180 MB in the panel."""
        from gui import gguf_header
        source = Path(base_model["source"])
        key = (str(source), source.stat().st_mtime_ns if source.exists() else 0)
        cache = self.__dict__.setdefault("_shapes", {})
        if key not in cache:
            cache[key] = gguf_header.shape_of(base_model["source"], base_model["kind"])
        return cache[key]

    def start_training(self, base: str, preset: str | None, flags: dict[str, Any]) -> tuple[str, Path]:
        """Plan a new run (its folder is written first) and start the train worker: (job id, run folder). Reads the
        model's shape for the memory estimate with the panel's header-only reader (``model_shape``, cached with the
        estimate's), which may still wait on the disk: call through ``in_background``."""
        from core.training.launch import LaunchError, plan_new_run, training_job
        if self.training_job_id() is not None:
            raise ActionError("a training run is already going", "stop it first, or wait for it to finish")
        flags = dict(flags)
        gpus = flags.pop(GPUS_KEY, None)
        try:
            planned = plan_new_run(self.workspace, base=base or None, preset=preset or None, flags=flags,
                                   processes=gpus,
                                   shape_reader=lambda source, kind: self.model_shape({"source": source,
                                                                                       "kind": kind}))
        except LaunchError as exc:
            raise ActionError(f"the run cannot start: {exc}", "change what the message names and press Start "
                               "again") from None
        return self.start_job(training_job(planned)), planned.run_dir

    def resume_training(self, run_dir: Path) -> str:
        from core.training.launch import LaunchError, plan_resume, training_job
        if self.training_job_id() is not None:
            raise ActionError("a training run is already going", "stop it first")
        try:
            planned = plan_resume(self.workspace, str(run_dir))
        except LaunchError as exc:
            raise ActionError(f"cannot resume: {exc}", "start a new run instead") from None
        return self.start_job(training_job(planned))

    def training_job_id(self) -> str | None:
        """The job id of the training run this panel started that is still going."""
        return next((job.id for job in self.runner.jobs() if job.spec.name == "train" and job.running), None)

    def training_job_dir(self, job_id: str) -> Path | None:
        job = self.runner.get(job_id)
        return job.spec.run_dir if job is not None else None

    def latest_run(self) -> Path | None:
        from core.jobs.runs import list_runs
        found = list_runs(self.workspace.runs_dir)
        return found[0].run_dir if found else None

    def run_replay(self, run_dir: Path) -> dict:
        """What the Training page needs to redraw a run: its events from metrics.jsonl, state, the log's tail."""
        from core.jobs.runs import LOG_FILE, latest_checkpoint, read_metrics, read_state, run_info
        log_path = run_dir / LOG_FILE
        lines = log_path.read_text(encoding="utf-8", errors="replace").splitlines() if log_path.is_file() else []
        info = run_info(run_dir)
        return {"events": read_metrics(run_dir), "status": info.status, "state": read_state(run_dir),
                "log_tail": lines[-LOG_TAIL_LINES:], "resumable": latest_checkpoint(run_dir) is not None}

    # -- Models -----------------------------------------------------------------------------------------------------
    def run_summaries(self) -> list[RunSummary]:
        from core.jobs.runs import list_runs, read_state
        from core.training.artifacts import run_stale_message
        from core.training.notices import one_line
        summaries = []
        with self.connect() as conn:
            for info in list_runs(self.workspace.runs_dir):
                export = info.run_dir / EXPORT_DIR / "export.json"
                gguf = None
                if export.is_file():
                    path = json.loads(export.read_text(encoding="utf-8")).get("gguf")
                    gguf = Path(path) if path and Path(path).is_file() else None
                evaluation = info.run_dir / EVAL_DIR / "eval.json"
                summaries.append(RunSummary(info.run_id, info.run_dir, info.status, info.step, info.total_steps,
                                            info.final_loss, info.base_model, gguf,
                                            evaluation if evaluation.is_file() else None,
                                            run_stale_message(conn, info.run_dir),
                                            failure=one_line(read_state(info.run_dir).get("message") or "")
                                            if info.status == "failed" else None))
        return summaries

    def compare_runs(self, run_ids: list[str]) -> list:
        """The runs side by side (``core.training.compare.RunFacts``, in the order given). Reads each run's
        metrics.jsonl (thousands of lines for a long run): call through ``in_background``."""
        from core.jobs.runs import RunNotFound
        from core.training.compare import CompareError, compare_runs
        try:
            return compare_runs(self.workspace.runs_dir, list(run_ids))
        except (RunNotFound, CompareError) as exc:
            raise ActionError(f"cannot compare: {exc}", "tick two or more runs in the list") from None

    def _summary(self, run_id: str) -> RunSummary:
        found = next((summary for summary in self.run_summaries() if summary.run_id == run_id), None)
        if found is None:
            raise ActionError(f"no run {run_id} in {self.workspace.runs_dir}", "pick a run in the list")
        return found

    def _run_worker(self, name: str, run_dir: Path, args: list[str]) -> str:
        from core.jobs.specs import JobSpec, worker_argv
        out = run_dir / (EXPORT_DIR if name == "export" else EVAL_DIR)
        out.mkdir(parents=True, exist_ok=True)
        return self.start_job(JobSpec(name=name, argv=worker_argv(name, "--run-dir", str(run_dir), *args),
                                      run_dir=out))

    def start_export(self, run_id: str, quant: str = "q4_k_m") -> str:
        summary = self._summary(run_id)
        if quant not in QUANTS:
            raise ActionError(f"unknown quantization {quant!r}", f"pick one of {', '.join(QUANTS)}")
        if summary.stale:
            raise NotAvailable(f"cannot export: {summary.stale}", "train a new run on a fresh dataset")
        if not (summary.run_dir / "adapter").is_dir():
            raise NotAvailable(f"run {run_id} has no trained adapter yet ({summary.status})",
                                "let the run finish (or resume it) before exporting")
        return self._run_worker("export", summary.run_dir, ["--quant", quant])

    def start_eval(self, run_id: str, limit: int = 20) -> str:
        summary = self._summary(run_id)
        if summary.stale:
            raise NotAvailable(f"cannot evaluate: {summary.stale}", "train a new run on a fresh dataset")
        if summary.gguf is None:
            raise NotAvailable("no model exported yet", "export this run first (Export)")
        return self._run_worker("eval", summary.run_dir, ["--limit", str(limit), "--backend", "auto"])

    def eval_report(self, run_id: str) -> dict | None:
        summary = self._summary(run_id)
        if summary.eval_file is None:
            return None
        return json.loads(summary.eval_file.read_text(encoding="utf-8"))

    def bot_model(self) -> str:
        """The bot's model setting ("" = the newest GGUF)."""
        try:
            return self.bot_settings().model_path
        except Exception:  # the settings table is unusable: the Models page still lists the runs
            return ""

    def use_for_bot(self, run_id: str) -> Path:
        """Make the run's exported GGUF the bot's model (the same setting as the bot's admin command)."""
        summary = self._summary(run_id)
        if summary.gguf is None:
            raise NotAvailable("no model exported yet", "export this run first (Export)")
        if summary.stale:
            raise NotAvailable(f"the bot must not use it: {summary.stale}", "train a new run on a fresh dataset")
        self.set_bot_setting("model_path", str(summary.gguf))
        controller = getattr(self, "_controller", None)
        if controller is not None:
            controller.reload_model(str(summary.gguf))
        return summary.gguf
