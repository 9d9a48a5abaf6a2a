"""The runtime worker: ``launcher.py --worker runtime --folder DIR [--cuda] [--python PATH] [--link SITE_PACKAGES]``.

Provisions the training runtime (``core.runtime.provision``) with progress events, so the panel shows a progress bar
and can stop it between steps (the runtime stays absent until a later install finishes).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from core.jobs.worker_kit import WorkerKit
from core.runtime.provision import Plan, ProvisionError, default_pip_steps, find_base_python, provision


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="runtime worker")
    parser.add_argument("--folder", type=Path, required=True)
    parser.add_argument("--cuda", action="store_true")
    parser.add_argument("--python", type=Path)
    parser.add_argument("--link", type=Path)
    return parser.parse_args(argv)


def make_plan(args: argparse.Namespace) -> Plan:
    folder = args.folder.resolve()
    plan = Plan(folder=folder, base_python=find_base_python(args.python), cuda=args.cuda, link=args.link)
    if args.link is None:
        folder.mkdir(parents=True, exist_ok=True)
        plan.pip_steps = default_pip_steps(folder, args.cuda)
    return plan


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    kit = WorkerKit("runtime")

    def work() -> dict:
        plan = make_plan(args)
        kit.started_event(total=None, folder=str(plan.folder), cuda=plan.cuda)
        return provision(plan, lambda step, total, message: kit.progress(step, total, message, force=True),
                         log=kit.say)

    return kit.run(work, expected=(ProvisionError,), what="installing the training runtime",
                   advice="see the log; rerun `runtime install` (finished downloads are cached by pip)")
