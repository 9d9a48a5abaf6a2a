"""``train --cloud``: the same run on a rented GPU through SkyPilot (``core.training.cloud_task``, ``cloud_worker``).

Before anything is written, the owner confirms the upload with the sentence that names how many people's messages
leave this machine (``core.dataset.leaving``): ``--yes-upload``, or y at the prompt on a terminal. Then the run
folder and its task (``RUN/cloud/task.yaml``) are written. With ``sky`` on PATH the cloud worker launches it and the
command follows it like a local run; without, the command says what to install and how to launch the task by hand,
and exits 0 (the task is the result).
"""
from __future__ import annotations

import sys
import time

from core.cli.base import CommandError
from core.training.cloud_task import DEFAULT_ACCELERATOR, DEFAULT_IDLE_MINUTES, CloudOptions, task_path

NOT_CONFIRMED = "nothing was uploaded: the upload was not confirmed"
CLOUD_DESTINATION = "a rented cloud GPU (through SkyPilot)"


def add_cloud_options(train) -> None:
    train.add_argument("--cloud", action="store_true", help="train on a rented cloud GPU through SkyPilot "
                                                            "(pip install -r requirements-cloud.txt; sky check)")
    train.add_argument("--accelerator", metavar="NAME:COUNT", default=DEFAULT_ACCELERATOR,
                       help=f"with --cloud: the GPU to rent, as SkyPilot names it (default {DEFAULT_ACCELERATOR})")
    train.add_argument("--infra", metavar="CLOUD[/REGION]", help="with --cloud: where (aws, gcp/us-central1, k8s...; "
                                                                 "default: the cheapest enabled cloud)")
    train.add_argument("--use-spot", action="store_true", help="with --cloud: a spot instance (cheaper, may vanish)")
    train.add_argument("--idle-minutes", type=int, default=DEFAULT_IDLE_MINUTES, metavar="N",
                       help="with --cloud: the cluster tears itself down N minutes after its job if the app did not")
    train.add_argument("--disk-size", type=int, metavar="GB", help="with --cloud: the machine's disk")
    train.add_argument("--yes-upload", action="store_true", help="with --cloud: confirm the upload of the dataset "
                                                                 "without the question (for scripts)")


def options_from(args) -> CloudOptions:
    return CloudOptions(accelerator=args.accelerator, infra=args.infra, use_spot=args.use_spot,
                        idle_minutes=args.idle_minutes, disk_size=args.disk_size)


def confirm_upload(context, args, people: int) -> None:
    from core.dataset.leaving import confirmation_text
    sentence = confirmation_text(people, CLOUD_DESTINATION)
    if args.yes_upload:
        context.say(f"{sentence} Yes (--yes-upload).")
        return
    if not sys.stdin.isatty():
        raise CommandError(f"{sentence} Pass --yes-upload to confirm (stdin is not a terminal); " + NOT_CONFIRMED,
                           exit_code=2)
    answer = input(f"{sentence} [y/N] ").strip().lower()
    if answer not in ("y", "yes"):
        raise CommandError(NOT_CONFIRMED, exit_code=2)


def run_cloud_train(args, context, follow, summary) -> dict:
    """Plan, confirm, write the task, then follow the cloud worker (or say how to launch by hand)."""
    from core.config.runtime import app_source_dir
    from core.dataset.leaving import people_leaving
    from core.training.cloud_sky import find_sky, install_message
    from core.training.launch import (LaunchError, cloud_training_job, plan_new_run, resolve_data_dir,
                                      write_cloud_task)
    if args.resume:
        raise CommandError("--cloud starts a new run; a cloud run's checkpoints are downloaded, so `train --resume "
                           "RUN` continues one on this machine", exit_code=2)
    options = options_from(args)
    try:
        context.config  # validates config.toml
        data_dir = resolve_data_dir(context.workspace, args.data)
        people = people_leaving(data_dir)
        confirm_upload(context, args, people)
        planned = plan_new_run(context.workspace, base=args.base, data=data_dir, preset=args.preset,
                               flags={"max_steps": args.max_steps}, cloud=options)
        task = write_cloud_task(planned, app_source_dir(), confirmed_people=people)
    except LaunchError as exc:
        raise CommandError(str(exc)) from None
    context.say(f"run {planned.run_id} (preset {planned.preset}) for {options.accelerator}: task {task}")
    for warning in planned.warnings:
        context.say(f"warning: {warning}")
    if find_sky() is None:
        context.say(install_message(task, planned.run_dir, options))
        return {"run_id": planned.run_id, "run_dir": str(planned.run_dir), "status": "task-written",
                "task": str(task), "people_leaving": people, "launched": False}
    started = time.monotonic()
    ending = follow(context, cloud_training_job(planned), debug=context.debug)
    return {**summary(planned.run_dir, ending, time.monotonic() - started), "task": str(task_path(planned.run_dir)),
            "people_leaving": people, "launched": True}
