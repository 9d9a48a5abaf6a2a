"""Command ``chat --persona NAME [--model GGUF] [--channel ID] [TEXT]``: talk to a persona without Discord.

It runs the bot's own reply pipeline (prompt builder, memory, generation, post-processing) in a ``chat`` worker
process (``model.chat_worker``; this process never loads the model). Memories come only from channels that @everyone
can read in the server of ``--channel`` (without it, the bot's home servers): ``core.memory.scope``. With TEXT it
answers once; without, it keeps one worker up and sends each typed line over the job wire (``ChatLine`` request ->
``ChatReplied`` event) until an empty line, ``/quit`` or end of input. The model is ``--model``, else the bot's chosen
model (the ``model_path`` bot setting), else the newest exported GGUF under ``WORKSPACE/runs/*/export/``.
With ``--compare base`` (the model's training base) or ``--compare GGUF``, a second model answers every message too,
through the same pipeline with the same prompt, settings and seed; both replies print, labelled A and B
(``core.prompting.compare`` says what each side sees).
"""
from __future__ import annotations

from pathlib import Path

from core.cli.base import CommandError, add_command
from core.jobs.runs import newest_export

QUIT_WORDS = ("/quit", "/exit")
CHAT_DIR = "chat"  # under the workspace's logs folder: the worker's run.log and events


def register(subparsers) -> None:
    chat = add_command(subparsers, "chat", handle_chat, human=human_chat,
                       help="talk to a persona through the bot's reply pipeline, without Discord")
    chat.add_argument("text", nargs="*", metavar="TEXT", help="one message to answer (omit for an interactive chat)")
    chat.add_argument("--persona", required=True, help="persona id or name (see `personas list`)")
    chat.add_argument("--model", type=Path, metavar="GGUF", help="model file (default: the newest exported GGUF)")
    chat.add_argument("--compare", metavar="MODEL",
                      help="'base' (the model's training base) or another GGUF: both answer every message, side by "
                           "side (A: --model, B: this)")
    chat.add_argument("--channel", type=int, metavar="ID",
                      help="use this channel's recent stored messages as context (memories: its server's channels "
                           "that everyone can read)")
    chat.add_argument("--max-tokens", type=int, metavar="N", help="longest reply in tokens")
    chat.add_argument("--seed", type=int, metavar="N", help="sampling seed (default: a fresh one per reply)")
    chat.add_argument("--no-memory", action="store_true", help="leave the long-term memory out of the prompt")


def choose_model(args, context) -> Path:
    if args.model is not None:
        if not args.model.is_file():
            raise CommandError(f"--model {args.model}: no such file")
        return args.model.resolve()
    chosen = bot_model_setting(context)
    if chosen:
        path = Path(chosen).expanduser()
        if not path.is_file():
            raise CommandError(f"the bot's model setting (model_path) names {path}, which does not exist; "
                               f"pass --model GGUF or change the setting")
        return path
    newest = newest_export(context.workspace.runs_dir)
    if newest is None:
        raise CommandError("no exported model in this workspace: pass --model GGUF, or run `launcher.py export RUN`")
    return newest


def bot_model_setting(context) -> str:
    """The bot's chosen model (``storage.bot_settings`` model_path), "" when unset."""
    import sqlite3
    try:
        from storage import bot_settings
        return bot_settings.load(context.db).model_path or ""
    except (ImportError, sqlite3.Error):  # a database from before the bot settings table
        return ""
    except ValueError as exc:  # BotSettingsError: a stored value of the wrong type
        raise CommandError(str(exc)) from None


def choose_compare(args, model: Path) -> Path | None:
    """Model B for ``--compare`` (None without it)."""
    if args.compare is None:
        return None
    from core.prompting.compare import CompareError, compare_model
    try:
        return compare_model(model, args.compare)
    except CompareError as exc:
        raise CommandError(f"--compare {args.compare}: {exc}") from None


def worker_args(args, context, persona_id: int, model: Path, compare: Path | None = None) -> list[str]:
    argv = ["--workspace", str(context.workspace.root), "--persona", str(persona_id), "--model", str(model)]
    if compare is not None:
        argv += ["--compare", str(compare)]
    for flag, value in (("--channel", args.channel), ("--max-tokens", args.max_tokens), ("--seed", args.seed)):
        if value is not None:
            argv += [flag, str(value)]
    return argv + (["--no-memory"] if args.no_memory else [])


def handle_chat(args, context) -> dict | None:
    from core.dataset import DatasetError
    from core.dataset.personas import load_persona
    if args.max_tokens is not None and args.max_tokens < 1:
        raise CommandError("--max-tokens must be at least 1", exit_code=2)
    try:
        persona = load_persona(context.db, args.persona)
    except DatasetError as exc:
        raise CommandError(str(exc)) from None
    if args.channel is not None:
        from storage.channels import stored_channel
        if stored_channel(context.db, args.channel) is None:
            raise CommandError(f"--channel {args.channel}: no such channel in the database (see `channels list`)")
    model = choose_model(args, context)
    compare = choose_compare(args, model)
    argv = worker_args(args, context, persona.id, model, compare)
    job_dir = context.workspace.logs_dir / CHAT_DIR
    if args.text:
        from core.cli.export_commands import run_job
        result = run_job(context, "chat", [*argv, "--text", " ".join(args.text)], job_dir)
        return {**result, "model": str(model)} if compare is None else {**result, "model": str(model),
                                                                         "compare": str(compare)}
    interactive(context, persona.name, argv, job_dir, speaker_labels(persona.name, model, compare))
    return None


def speaker_labels(persona_name: str, model: Path, compare: Path | None) -> dict[str, str]:
    """ChatReplied.side -> how its lines start: the persona alone, or the persona with side and model."""
    if compare is None:
        return {"": persona_name}
    from core.prompting.compare import model_label
    return {"a": f"{persona_name} [A {model_label(model)}]", "b": f"{persona_name} [B {model_label(compare)}]"}


def interactive(context, persona_name: str, argv: list[str], job_dir: Path, labels: dict[str, str]) -> None:
    from core.jobs.bus import EventBus
    from core.jobs.events import JobFailed, JobFinished, JobStarted
    from core.jobs.runner import JobRunner, JobSpec, new_job_id, worker_argv
    from core.prompting.compare import reply_lines
    from core.prompting.playground import ChatLine, ChatReplied
    job_dir.mkdir(parents=True, exist_ok=True)
    bus = EventBus()
    job_id = new_job_id("chat")
    subscription = bus.subscribe("chat", job_id=job_id, types=(JobStarted, ChatReplied, JobFinished, JobFailed))
    job = JobRunner(bus).start(JobSpec(name="chat", argv=worker_argv("chat", *argv), run_dir=job_dir,
                                       stop_grace=10.0), job_id=job_id)
    context.say(f"loading the model for {persona_name}; an empty line or /quit ends the chat")
    try:
        with subscription:
            if not isinstance(wait_for(subscription, JobStarted), JobStarted):
                return
            while True:
                try:
                    text = input("you> ").strip()
                except EOFError:
                    break
                if not text or text.lower() in QUIT_WORDS:
                    break
                job.send_request(ChatLine(text=text))
                for _side in labels:  # one reply per model, A first
                    event = wait_for(subscription, ChatReplied)
                    if not isinstance(event, ChatReplied):
                        return
                    print("\n".join(reply_lines(labels.get(event.side, persona_name), event.parts,
                                                event.dropped_reason)), flush=True)
    finally:
        job.stop()
        job.wait(30.0)
        job.kill()


def wait_for(subscription, wanted: type):
    """The next ``wanted`` event, or the job's ending (a failure raises CommandError)."""
    from core.jobs.events import JobFailed, JobFinished
    while True:
        for event in subscription.drain(timeout=0.5):
            if isinstance(event, JobFailed):
                raise CommandError(event.message + (f" ({event.advice})" if event.advice else ""))
            if isinstance(event, (wanted, JobFinished)):
                return event


def human_chat(result: dict) -> str:
    if "replies" in result:  # --compare: each model's reply, labelled
        from core.prompting.compare import model_label, reply_lines
        return "\n".join(line for reply in result["replies"] for line in reply_lines(
            f"{reply['side'].upper()} {model_label(Path(reply['model']))}", reply["parts"], reply["dropped_reason"]))
    if not result.get("parts"):
        return f"({result['persona']} sends nothing: {result.get('dropped_reason')})"
    return "\n".join(result["parts"])
