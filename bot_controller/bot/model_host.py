"""The bot's model: which GGUF, loaded and swapped in the generation thread, refused when stale, freed on pause.

A mixin of ``PersonaBot`` (it uses the bot's ``worker``, ``conn``, ``settings``, ``stats``, ``workspace``). The
refusal of a stale model goes through ``core.consent.stale.stale_message`` (the artefact registry marks a model
stale when a user whose text it learned opts out or is forgotten); a failure is one line in ``stats.model_error``.
"""
from __future__ import annotations

import asyncio
import functools
import gc
import logging
from pathlib import Path

from core.consent.stale import stale_message
from core.jobs.runs import newest_export

LOG = logging.getLogger("dps.bot")


def load_engine(path: Path, gpu_layers: int = -1):
    from model.inference import ReplyEngine
    return ReplyEngine.load(path, gpu_layers=gpu_layers)


def freeze_loaded_objects() -> None:
    """Keep the garbage collector from walking what was loaded to stay (llama.cpp's and torch's modules, the
    embedder): a full collection walks every tracked object and stops every thread meanwhile, 0.3 s in a bot with
    the embedder loaded (bench/bot_load.py's worst event-loop lag). ``gc.freeze`` moves them out of its reach."""
    gc.collect()
    gc.freeze()


def newest_gguf(workspace) -> Path | None:
    """The newest exported GGUF (runs/*/export/), else the newest one placed under WORKSPACE/models by hand."""
    exported = newest_export(workspace.runs_dir)
    if exported is not None:
        return exported
    models_dir = workspace.models_dir
    found = sorted(models_dir.rglob("*.gguf"), key=lambda p: p.stat().st_mtime) if models_dir.is_dir() else []
    return found[-1] if found else None


class ModelHost:
    def check_stale(self) -> bool:
        """Unload a model that an opt-out or forget made stale; True when it was."""
        if self.model_path is None:
            return False
        reason = stale_message(self.conn, self.model_path, f"the model {self.model_path}")
        if reason is None:
            return False
        self.stats.model_error = f"refusing the model: {reason}"
        LOG.error("%s", self.stats.model_error)
        pipeline, self.pipeline = self.pipeline, None
        if pipeline is not None:
            asyncio.ensure_future(self.worker.run(pipeline.engine.close))
        return True

    async def load_model(self, path: str | Path | None = None) -> bool:
        """Load (or swap to) a GGUF in the generation thread; the old model answers until the new one is ready."""
        chosen = Path(path).expanduser() if path else (Path(self.settings.model_path).expanduser()
                                                       if self.settings.model_path else
                                                       newest_gguf(self.workspace))
        if chosen is None:
            return self._model_failed("no model: export one (`launcher.py export RUN`) or set model_path")
        reason = stale_message(self.conn, chosen, f"the model {chosen}")
        if reason is not None:
            return self._model_failed(f"refusing the model: {reason}")
        from model.inference import InferenceError
        from model.reply_pipeline import ReplyPipeline
        try:
            engine = await self.worker.run(functools.partial(self.engine_loader, chosen, **self.engine_options()))
        except InferenceError as exc:
            return self._model_failed(str(exc))
        memory = await self.worker.run(self.open_memory) if self.settings.memory else None
        from model.copy_guard import copy_guard_for
        guard = await self.worker.run(functools.partial(copy_guard_for, chosen))  # never repeat a training message
        old, self.pipeline = self.pipeline, ReplyPipeline(engine, memory, None, self.reply_settings(), guard)
        self.model_path, self.stats.model_error = chosen, None
        if old is not None and old.engine is not engine:
            await self.worker.run(old.engine.close)  # queued after the old model's last reply
        LOG.info("model loaded: %s", chosen)
        freeze_loaded_objects()
        return True

    def engine_options(self) -> dict:
        """The bot settings the engine loads with: gpu_layers when it differs from the engine's default (-1, all
        that fit), so a loader that takes only a path (tests' fakes) keeps working."""
        layers = self.settings.gpu_layers
        return {} if layers == -1 else {"gpu_layers": layers}

    def _model_failed(self, line: str) -> bool:
        self.stats.model_error = line
        LOG.error("%s", line)
        return False

    def open_memory(self):
        if self.memory_loader is not None:
            return self.memory_loader()
        from storage.memory import MemoryStore
        folder = self.workspace.memory_dir
        empty = not folder.exists() or MemoryStore(folder).count() == 0
        if empty and not self.settings.capture:  # capturing fills an empty memory: open it (embedder and all)
            return None
        from model.embedding import LiveMemory
        return LiveMemory.open(self.workspace, self.app_config.memory)

    async def pause(self, reason: str = "") -> None:
        self.paused, self.pause_reason = True, reason
        pipeline, self.pipeline = self.pipeline, None
        if pipeline is not None:
            await self.worker.run(pipeline.engine.close)  # frees the GPU for training
        LOG.info("paused%s", f": {reason}" if reason else "")

    async def resume(self) -> None:
        self.paused = False
        await self.load_model()
