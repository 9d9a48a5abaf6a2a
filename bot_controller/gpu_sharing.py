"""GPU sharing: which job state changes pause the bot and which resume it (issue item 11, the supervisor's side).

A training job that starts takes the GPU: the bot is paused (the child unloads its model and stays quiet or says it
is busy) until that job has ended, however it ended. Each job holds its own pause, so two overlapping trainings, or a
pause asked by hand, keep the bot paused until the last holder lets go. Turned off by
``[supervisor] pause_for_training = false``.
"""
from __future__ import annotations

from core.jobs.events import ENDED_STATES, JobStateChanged

TRAINING_JOBS = ("train",)  # job names that need the GPU to themselves


def holder_for(job_id: str) -> str:
    return f"job:{job_id}"


def pause_decision(event: JobStateChanged, enabled: bool) -> tuple[str, str, str] | None:
    """("pause", holder, reason), ("resume", holder, "") or None for an event that does not concern the bot."""
    if not enabled or event.name not in TRAINING_JOBS:
        return None
    if event.state in ENDED_STATES:
        return "resume", holder_for(event.job_id), ""
    return "pause", holder_for(event.job_id), f"training job {event.job_id} is using the GPU"
