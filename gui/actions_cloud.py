"""The Training page's cloud verbs: who would leave the machine, and a run on a rented GPU through SkyPilot.

The count and its sentence are ``core.dataset.leaving``'s (the CLI's ``train --cloud`` asks the same); the run is
planned for the accelerator, its task written into ``RUN/cloud/`` and started as the cloud worker, a training job
like any other (``core.training.launch.cloud_training_job``), so the page follows it as it follows a local run.
SkyPilot itself never loads in this process: the worker runs ``sky`` as a program. Both verbs read files: call them
through ``in_background`` or a thread.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from gui.errors import ActionError


class CloudActions:
    def cloud_upload_people(self) -> tuple[int | None, str]:
        """(how many people's messages the latest dataset holds (None: prepared before the count), the sentence to
        confirm, the CLI's own)."""
        from core.cli.cloud_train import CLOUD_DESTINATION
        from core.dataset.leaving import confirmation_text, people_leaving
        from core.training.launch import LaunchError, resolve_data_dir
        try:
            people = people_leaving(resolve_data_dir(self.workspace, None))
        except LaunchError as exc:
            raise ActionError(f"nothing to upload: {exc}", "prepare a dataset on the Dataset page first") from None
        return people, confirmation_text(people, CLOUD_DESTINATION)

    def start_cloud_training(self, base: str, preset: str | None, flags: dict[str, Any], accelerator: str,
                             confirmed_people: int | None) -> tuple[str, Path]:
        """Plan the run for ``accelerator``, write its task, start the cloud worker: (job id, run folder). Without
        SkyPilot the task stays written and the error says what to install and how to launch it by hand."""
        from core.config.runtime import app_source_dir
        from core.training.cloud_sky import find_sky, install_message
        from core.training.cloud_task import CloudOptions
        from core.training.launch import LaunchError, cloud_training_job, plan_new_run, write_cloud_task
        if self.training_job_id() is not None:
            raise ActionError("a training run is already going", "stop it first, or wait for it to finish")
        options = CloudOptions(accelerator=accelerator.strip() or CloudOptions.accelerator)
        try:
            planned = plan_new_run(self.workspace, base=base or None, preset=preset or None, flags=flags,
                                   cloud=options,  # the header-only reader, as a local Start (no mapped GGUF here)
                                   shape_reader=lambda source, kind: self.model_shape({"source": source,
                                                                                       "kind": kind}))
            task = write_cloud_task(planned, app_source_dir(), confirmed_people=confirmed_people)
        except LaunchError as exc:
            raise ActionError(f"the cloud run cannot start: {exc}", "change what the message names and press "
                              "Start again") from None
        if find_sky() is None:
            first, rest = install_message(task, planned.run_dir, options).split("\n", 1)
            raise ActionError(first, rest)
        return self.start_job(cloud_training_job(planned)), planned.run_dir
