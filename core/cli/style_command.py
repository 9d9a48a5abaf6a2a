"""``personas style PERSONA [--set TEXT | --reset]``: the automatic style profile of a persona, and the owner's line.

Shows the profile ``prepare`` computed from the persona's training replies (``core.dataset.profile``), in words, and
the line their system message ends with; ``--set`` replaces that line with the owner's, ``--reset`` goes back to the
computed one (``core.dataset.persona_style``). Registered under ``personas`` by ``core.cli.dataset_commands``.
"""
from __future__ import annotations

from core.cli.base import CommandError, add_command


def register(personas) -> None:
    style = add_command(personas, "style", handle_style, human=human_style,
                        help="show the persona's style profile (computed by prepare) and the line their prompts get; "
                             "--set or --reset that line")
    style.add_argument("persona", metavar="ID|NAME")
    change = style.add_mutually_exclusive_group()
    change.add_argument("--set", dest="line", metavar="TEXT",
                        help="use this line instead of the computed one (in the bot's prompts and the next prepare)")
    change.add_argument("--reset", action="store_true", help="go back to the computed line")


def handle_style(args, context) -> dict:
    from core.dataset import DatasetError
    from core.dataset.persona_style import StyleError, edit_style_line, refusal, style_state
    from core.dataset.personas import resolve_user
    from storage.consent import opted_out_users
    from storage.personas import user_exists
    try:  # a forgotten person has no user row left, only their consent: say that rather than "no user"
        user_id = resolve_user(context.db, args.persona, must_exist=False)
    except DatasetError as exc:
        raise CommandError(str(exc)) from None
    if user_id not in opted_out_users(context.db) and not user_exists(context.db, user_id):
        raise CommandError(f"no user with id {user_id} in the database")
    if args.line is not None and not args.line.strip():
        raise CommandError("--set needs a line (use --reset to go back to the computed one)")
    try:
        if args.line is not None or args.reset:
            state = edit_style_line(context.db, user_id, None if args.reset else args.line)
        else:
            state = style_state(context.db, user_id)
            reason = refusal(state)
            if reason:
                raise StyleError(reason)
    except StyleError as exc:
        raise CommandError(str(exc)) from None
    return state


def human_style(result: dict) -> str:
    from core.dataset.persona_style import FIELD_LABELS
    lines = [f"{result['name']} ({result['user_id']}): style profile from {result['replies']} training replies"
             if result["fields"] else f"{result['name']} ({result['user_id']}): no computed profile (run prepare)"]
    lines += [f"  {FIELD_LABELS[key]}: {value}" for key, value in result["fields"].items()]
    lines.append(f"line in use ({'edited' if result['is_edited'] else 'computed'}): {result['line']}")
    if result["is_edited"] and result["computed_line"]:
        lines.append(f"computed line (--reset to use it): {result['computed_line']}")
    if not result["active"]:
        lines.append("note: prompts get no style line now: the latest prepare ran with dataset.style_profile off")
    return "\n".join(lines)
