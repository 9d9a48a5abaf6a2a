"""The monitoring sampler: a background thread that measures CPU, RAM, GPU (NVML) and the workspace's disk use
every ``INTERVAL`` seconds and publishes ``ResourcesSampled``. It never touches Tk; the dashboard shows the event.

``pynvml.nvmlInit()`` raises without an NVIDIA driver: that becomes ``gpu_note = "no NVIDIA GPU"``. Walking the
workspace is slow on big folders, so disk use is measured every ``DISK_EVERY`` samples only.
"""
from __future__ import annotations

import logging
import threading
from typing import Callable

import psutil

from gui.events import PANEL_JOB_ID, ResourcesSampled

INTERVAL = 2.0
DISK_EVERY = 15  # samples: the workspace walk runs every 30 s

log = logging.getLogger(__name__)


class Gpus:
    """NVML readings; ``note`` says why there are none."""

    def __init__(self) -> None:
        self.handles = []
        self.note = ""
        try:
            import pynvml
            pynvml.nvmlInit()
            self._nvml = pynvml
            self.handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]
            if not self.handles:
                self.note = "no NVIDIA GPU"
        except Exception as exc:  # NVMLError without a driver; ImportError without the package
            self._nvml = None
            self.note = "no NVIDIA GPU"
            log.debug("NVML unavailable: %s", exc)

    def read(self) -> tuple[dict, ...]:
        nvml = self._nvml
        found = []
        for index, handle in enumerate(self.handles):
            try:
                memory = nvml.nvmlDeviceGetMemoryInfo(handle)
                found.append({
                    "index": index, "name": _text(nvml.nvmlDeviceGetName(handle)),
                    "utilisation": nvml.nvmlDeviceGetUtilizationRates(handle).gpu,
                    "vram_used": int(memory.used), "vram_total": int(memory.total),
                    "temperature": nvml.nvmlDeviceGetTemperature(handle, nvml.NVML_TEMPERATURE_GPU)})
            except Exception as exc:  # a GPU that fell off the bus, an unsupported query (MIG)
                found.append({"index": index, "name": "?", "error": str(exc)})
        return tuple(found)

    def close(self) -> None:
        if self._nvml is not None:
            try:
                self._nvml.nvmlShutdown()
            except Exception:
                pass


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def sample(gpus: Gpus, disk_bytes: int | None) -> ResourcesSampled:
    memory = psutil.virtual_memory()
    return ResourcesSampled(job_id=PANEL_JOB_ID, cpu_percent=psutil.cpu_percent(interval=None),
                            ram_used=int(memory.total - memory.available), ram_total=int(memory.total),
                            gpus=gpus.read(), gpu_note=gpus.note, disk_bytes=disk_bytes)


class Monitor:
    def __init__(self, bus, disk_used: Callable[[], int], interval: float = INTERVAL) -> None:
        self.bus = bus
        self.disk_used = disk_used
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="panel-monitor")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(self.interval + 1.0)

    def _run(self) -> None:
        gpus = Gpus()
        psutil.cpu_percent(interval=None)  # the first reading is meaningless; it starts the measurement
        disk, count = None, 0
        try:
            while not self._stop.wait(0 if count == 0 else self.interval):
                if count % DISK_EVERY == 0:
                    try:
                        disk = self.disk_used()
                    except Exception as exc:
                        log.debug("disk walk failed: %s", exc)
                self.bus.publish(sample(gpus, disk))
                count += 1
        finally:
            gpus.close()
