"""Turning a worker's failure into advice a user can act on.

Workers that understand their own failure (the training worker catching out-of-memory) send a ``JobFailed`` with
advice themselves; this module covers the rest from the last log lines and the exit code: a crash the worker could
not report (the OS killed it, a missing package, a full disk).
"""
from __future__ import annotations

OOM_ADVICE = ("Out of memory: lower per_device_batch_size (raise gradient_accumulation_steps to keep the effective "
              "batch), lower max_length, keep gradient_checkpointing on, lower lora_r, or pick a smaller preset "
              "(--preset); on a GPU, 4-bit loading (load_in_4bit) saves the most.")
KILLED_ADVICE = ("The operating system ended the worker, most often because the machine ran out of memory: "
                 + OOM_ADVICE.split(": ", 1)[1])

# (text to look for in the last lines, lowercase) -> advice; first match wins
PATTERNS: tuple[tuple[str, str], ...] = (
    ("out of memory", OOM_ADVICE),
    ("outofmemoryerror", OOM_ADVICE),
    ("memoryerror", OOM_ADVICE),
    ("cannot allocate memory", OOM_ADVICE),
    ("modulenotfounderror", "A package is missing: run `python install.py` again (add --cuda for an NVIDIA GPU)."),
    ("no space left on device", "The disk is full: free space in the workspace folder or delete old runs."),
    ("permission denied", "A file could not be written: check that the workspace folder is writable."),
    ("cuda error", "The GPU reported an error: update the NVIDIA driver, or train on the CPU with --preset cpu-tiny."),
)
# Exit codes meaning the process was killed from outside: SIGKILL (POSIX, negative in Popen) and 137 (shells).
KILLED_CODES = (-9, 137)


def advice_for(last_lines: list[str], exit_code: int | None) -> str:
    """Advice for a failed worker, or a pointer to the log when nothing specific is recognised."""
    text = "\n".join(last_lines).lower()
    for needle, advice in PATTERNS:
        if needle in text:
            return advice
    if exit_code in KILLED_CODES:
        return KILLED_ADVICE
    return "See the last lines above and the run's run.log for the cause."
