"""Dataset commands: ``personas list|rename|describe|optout|optin|forget``, ``prepare`` and ``preview``
(``personas style`` is ``core.cli.style_command``).

A persona (or user) argument is an id or a name. ``optout``/``forget`` apply to any user, not only personas, and mark
stale what holds that user's text (a row in ``artifacts`` plus a STALE file in the folder); ``forget`` also deletes
the files holding it. All three are ``core.consent.actions``, the same functions the bot and the panel call.
"""
from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

from core.cli import format_command, style_command
from core.cli.base import CommandError, add_command, add_group
from core.dataset import DatasetError

SPLIT_NAMES = ("train", "val", "test")


def register(subparsers) -> None:
    personas = add_group(subparsers, "personas", "list and edit personas; opt users out; forget a user")
    listing = add_command(personas, "list", handle_list, human=human_list,
                          help="personas (authors with at least min_messages messages), with opt-out flags")
    listing.add_argument("--min-messages", type=positive_int, metavar="N", help="override dataset.min_messages")
    rename = add_command(personas, "rename", handle_rename, help="set the name a persona is shown and prompted as")
    rename.add_argument("persona", metavar="ID|NAME")
    rename.add_argument("name", metavar="NAME")
    describe = add_command(personas, "describe", handle_describe,
                           help="set the description added to the persona's system prompt ('' clears it)")
    describe.add_argument("persona", metavar="ID|NAME")
    describe.add_argument("text", metavar="TEXT")
    style_command.register(personas)
    for name, handler, human, text in (
            ("optout", handle_optout, human_optout, "exclude a user's messages from every output; marks what holds "
                                                    "their text stale"),
            ("optin", handle_optin, None, "undo an opt-out")):
        parser = add_command(personas, name, handler, human=human, help=text)
        parser.add_argument("user", metavar="ID|NAME")
    forget = add_command(personas, "forget", handle_forget, human=human_forget,
                         help="delete a user's messages and reactions for good, and every file holding their text; "
                              "marks models trained on them stale")
    forget.add_argument("user", metavar="ID|NAME")
    forget.add_argument("--yes", action="store_true", help="do not ask for confirmation (for scripts)")

    prepare = add_command(subparsers, "prepare", handle_prepare, human=human_prepare,
                          help="build train/val/test/dpo JSONL, stats.json and preview.txt from the stored history")
    prepare.add_argument("--out", metavar="DIR", help="output folder (default: a new folder under the workspace's "
                                                      "datasets/, which `latest` then points at)")
    prepare.add_argument("--personas", default="all", metavar="all|top:N|ID,...",
                         help="which personas to train (ids or names, comma-separated)")
    prepare.add_argument("--strategy", default="multi", choices=("multi", "per-persona"),
                         help="one set naming the persona in the system prompt, or one set per persona")
    prepare.add_argument("--min-messages", type=positive_int, metavar="N", help="override dataset.min_messages")
    prepare.add_argument("--split-by", choices=("conversation", "time"), help="override dataset.split_by")
    prepare.add_argument("--seed", type=int, help="override dataset.seed")
    format_command.add_format_options(prepare)

    preview = add_command(subparsers, "preview", handle_preview, human=human_preview,
                          help="print examples of a prepared dataset rendered with the ChatML template")
    preview.add_argument("--data", metavar="DIR", help="dataset folder (default: the latest prepared one)")
    preview.add_argument("--split", default="train", choices=SPLIT_NAMES)
    preview.add_argument("--count", type=positive_int, default=3, metavar="N")
    preview.add_argument("--seed", type=int, default=0, help="which examples to sample")


def positive_int(text: str) -> int:
    import argparse
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {value}")
    return value


def dataset_config(args, context):
    config = context.config.dataset
    changes = {key: value for key, value in (("min_messages", getattr(args, "min_messages", None)),
                                             ("split_by", getattr(args, "split_by", None)),
                                             ("seed", getattr(args, "seed", None))) if value is not None}
    return dataclasses.replace(config, **changes)


def resolve(context, reference: str, *, must_exist: bool = True) -> int:
    from core.dataset.personas import resolve_user
    try:
        return resolve_user(context.db, reference, must_exist=must_exist)
    except DatasetError as exc:
        raise CommandError(str(exc)) from None


def described(context, user_id: int) -> dict:
    from core.dataset.personas import info
    from core.ingest.records import USER_MESSAGE_TYPES
    from storage.personas import author_message_counts
    counts = dict(author_message_counts(context.db, USER_MESSAGE_TYPES, 1))
    return info(context.db, user_id, counts.get(user_id, 0)).as_json()


def handle_list(args, context) -> dict:
    from core.dataset.personas import roster
    minimum = dataset_config(args, context).min_messages
    return {"min_messages": minimum, "personas": [p.as_json() for p in roster(context.db, minimum)]}


def human_list(result: dict) -> str:
    rows = [f"{'id':>20}  {'messages':>8}  name"]
    for persona in result["personas"]:
        flag = "  [opted out]" if persona["opted_out"] else ""
        rows.append(f"{persona['id']:>20}  {persona['messages']:>8}  {persona['name']}{flag}")
    if not result["personas"]:
        rows.append(f"(no author has {result['min_messages']} messages yet)")
    return "\n".join(rows)


def handle_rename(args, context) -> dict:
    from storage.personas import set_profile
    name = " ".join(args.name.split())
    if not name:
        raise CommandError("the new name is empty")
    user_id = resolve(context, args.persona)
    set_profile(context.db, user_id, name=name)
    return described(context, user_id)


def handle_describe(args, context) -> dict:
    from storage.personas import set_profile
    user_id = resolve(context, args.persona)
    text = args.text.strip()
    set_profile(context.db, user_id, description=text or None, clear_description=not text)
    return described(context, user_id)


def handle_optout(args, context) -> dict:
    from core.consent.actions import opt_out
    from core.consent.lock import ConsentBusy
    user_id = resolve(context, args.user, must_exist=False)
    try:
        return opt_out(context.db, context.workspace.root, user_id)
    except ConsentBusy as exc:
        raise CommandError(str(exc)) from None


def handle_optin(args, context) -> dict:
    from core.consent.actions import opt_in
    from core.consent.lock import ConsentBusy
    user_id = resolve(context, args.user, must_exist=False)
    try:
        return opt_in(context.db, user_id)
    except ConsentBusy as exc:
        raise CommandError(str(exc)) from None


def handle_forget(args, context) -> dict:
    from core.consent.actions import PrivacyError, forget
    from core.consent.lock import ConsentBusy
    from storage import wal
    from storage.wal import CheckpointIncomplete
    user_id = resolve(context, args.user, must_exist=False)
    if not args.yes:
        confirm_forget(context, user_id)
    try:
        return forget(context.db, context.workspace.root, user_id, checkpoint_timeout=wal.DEFAULT_TIMEOUT_S)
    except (PrivacyError, ConsentBusy) as exc:
        raise CommandError(str(exc)) from None
    except CheckpointIncomplete as exc:
        raise CommandError(f"user {user_id}'s messages are deleted, but {exc}; close the panel and the bot, then run "
                           f"`launcher.py personas forget {user_id} --yes` again") from None


def human_forget(result: dict) -> str:
    lines = [f"user {result['user_id']}: {result['messages_deleted']} messages and {result['reactions_deleted']} "
             f"reactions deleted; they stay opted out"]
    if result.get("copies_cleaned"):
        lines.append(f"their text was taken out of {result['copies_cleaned']} other people's messages (forwards, "
                     f"embeds)")
    lines += [f"deleted: {path}" for path in result["deleted_files"]]
    lines += [f"stale {item['kind']}: {item['path']} (rebuild: {item['rebuild']})" for item in result["stale"]]
    lines += [f"model weights trained on their text, kept but stale (delete them or rebuild): {path}"
              for path in result["stale_weights"]]
    return "\n".join(lines)


def human_optout(result: dict) -> str:
    lines = [f"user {result['user_id']} opted out: their messages are left out of everything built from now on"]
    lines += [f"stale {item['kind']}: {item['path']} (rebuild: {item['rebuild']})" for item in result["stale"]]
    return "\n".join(lines)


def confirm_forget(context, user_id: int) -> None:
    if not sys.stdin.isatty():
        raise CommandError("forget deletes messages for good: pass --yes to confirm (stdin is not a terminal)", 2)
    count = context.db.execute("SELECT COUNT(*) FROM messages WHERE author_id = ?", (user_id,)).fetchone()[0]
    answer = input(f"Delete all {count} messages of user {user_id} and their reactions? Type 'yes': ")
    if answer.strip().lower() != "yes":
        raise CommandError("forget cancelled; nothing was deleted")


def handle_prepare(args, context) -> dict:
    from core.dataset.pipeline import prepare_dataset
    from core.dataset.writer import new_dataset_dir, set_latest
    config = dataset_config(args, context)
    format_command.check_can_confirm(args)
    datasets_dir = context.workspace.datasets_dir
    out_dir = Path(args.out).expanduser().resolve() if args.out else new_dataset_dir(datasets_dir)
    with context.progress(description="prepare", unit="msg") as bar:
        def on_progress(read: int, total: int) -> None:
            bar.total = total
            bar.n = read
            bar.refresh()
        try:
            stats = prepare_dataset(context.db, config, out_dir, personas=args.personas, strategy=args.strategy,
                                    on_progress=on_progress)
        except DatasetError as exc:
            raise CommandError(str(exc)) from None
    if not args.out:
        set_latest(datasets_dir, out_dir)
    result = summary(stats, out_dir)
    if args.format != "chatml":
        result["format"] = format_command.export(args, context, out_dir)
    return result


def summary(stats: dict, out_dir: Path) -> dict:
    return {
        "out": str(out_dir), "strategy": stats["strategy"], "examples": stats["examples"],
        "personas": [{key: persona[key] for key in ("id", "name", "train", "share_before", "share_after", "val",
                                                     "test")} for persona in stats["personas"]],
        "balance": stats["balance"], "filtered": stats["filtered"], "scrubbed": stats["scrubbed"],
        "dpo_pairs": stats["dpo"]["pairs"], "dpo_note": stats["dpo"]["note"], "seconds": stats["seconds"],
    }


def human_prepare(result: dict) -> str:
    examples = result["examples"]
    lines = [f"dataset written to {result['out']}",
             f"examples: train {examples['train']}, val {examples['val']}, test {examples['test']}; "
             f"DPO pairs {result['dpo_pairs']}"]
    for persona in result["personas"]:
        lines.append(f"  {persona['name']} ({persona['id']}): {persona['train']} train, share "
                     f"{persona['share_before']:.1%} -> {persona['share_after']:.1%}")
    if result["balance"]["note"]:
        lines.append("note: " + result["balance"]["note"])
    filtered = ", ".join(f"{reason} {count}" for reason, count in result["filtered"].items() if count)
    scrubbed = ", ".join(f"{kind} {count}" for kind, count in result["scrubbed"].items())
    lines.append(f"filtered: {filtered or 'nothing'}")
    lines.append(f"scrubbed: {scrubbed or 'nothing'}")
    if result.get("format"):
        lines.append(format_command.human_format(result["format"]))
    return "\n".join(lines)


def handle_preview(args, context) -> dict:
    from core.dataset.preview import render_record, sample_records
    from core.dataset.writer import latest_dataset, stale_reason
    folder = Path(args.data).expanduser() if args.data else latest_dataset(context.workspace.datasets_dir)
    if folder is None:
        raise CommandError("no prepared dataset yet: run `launcher.py prepare` (or pass --data DIR)")
    path = folder / f"{args.split}.jsonl"
    if not path.is_file():
        hint = (f"a per-persona dataset: pass --data {folder / 'personas' / 'ID'}" if (folder / "personas").is_dir()
                else f"is {folder} a dataset folder from `prepare`?")
        raise CommandError(f"{path}: no such file ({hint})")
    try:
        records = sample_records(path, args.count, args.seed)
    except ValueError as exc:
        raise CommandError(f"{path}: not a JSONL dataset file ({exc})") from None
    return {"data": str(folder), "split": args.split, "stale": stale_reason(folder),
            "examples": [{"meta": record.get("meta", {}), "rendered": render_record(record, number)}
                         for number, record in enumerate(records, 1)]}


def human_preview(result: dict) -> str:
    head = f"{result['data']} ({result['split']})" + (f"  STALE: {result['stale']}" if result["stale"] else "")
    return "\n".join([head, *(example["rendered"] for example in result["examples"])])
