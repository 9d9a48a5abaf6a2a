"""The chat worker: the bot's reply pipeline without Discord, for the ``chat`` playground.

``python launcher.py --worker chat --workspace DIR --persona ID --model GGUF [--compare GGUF] [--channel ID]
[--text TEXT] [--no-memory] [--n-ctx N] [--gpu-layers N] [--max-tokens N] [--seed N]``

The persona comes from the database (``load_persona``); with ``--channel`` the channel's latest stored messages are
the conversation, as the bot would read them from Discord. The typed line is one more message, from "You", a minute
after the last stored one; it goes through ``turns_from_live`` (names, opt-outs, scrubbing, threading), the prompt
builder, memory, generation and post-processing: ``ReplyPipeline``, exactly what the bot runs. Memories come only from
channels known to be readable by @everyone in the channel's server (without ``--channel``: the bot's home servers),
``core.memory.scope.playground_channels``: whoever types here need not be able to read anything else.
With ``--text`` it answers once and finishes with the reply as its result. Without, it stays up and answers every
``ChatLine`` request with a ``ChatReplied`` event (the conversation grows with each exchange) until a stop request.

With ``--compare GGUF`` (``core.prompting.compare``) a second model, B, answers every line after the first, A: two
sessions over the same stored conversation and memory scope, each line typed once into both, each side keeping only
its own replies; one seed per line for both (``--seed``, else a fresh one per line), so the difference is the model.
Two ChatReplied events per line, side "a" then "b" (``--text``: one result with both replies). Memory: B loads after
A with the same ``--gpu-layers``; when it does not fit on the GPU beside A it is loaded on the CPU (slower), and when
it loads nowhere the job fails with one line saying so.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import queue
import random
import sys
import time
from contextlib import closing
from dataclasses import replace
from pathlib import Path

from core.config.app_config import load_config
from core.config.strict import ConfigError
from core.config.workspace import Workspace
from core.dataset import DatasetError
from core.dataset.personas import live_options, load_persona
from core.jobs import wire
from core.jobs.events import JobFailed, JobFinished, JobStarted
from core.memory.scope import playground_channels
from core.prompting.compare import SIDES
from core.prompting.live import turns_from_live
from core.prompting.playground import ChatLine, ChatReplied, channel_place, recent_messages, typed_message
from core.prompting.reply import ReplySettings
from model.inference import InferenceError, ReplyEngine
from model.copy_guard import copy_guard_for
from model.reply_pipeline import Reply, ReplyPipeline
from storage.bot_settings import BotSettingsError

HISTORY_MESSAGES = 100  # stored messages read for the context; the builder keeps what fits
SEED_RANGE = 2 ** 31     # a compare line without --seed draws one seed in this range for both models


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="chat worker")
    parser.add_argument("--workspace", type=Path, required=True)
    parser.add_argument("--persona", required=True, help="persona user id or name")
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--compare", type=Path, help="a second GGUF (model B) that answers every line too")
    parser.add_argument("--channel", type=int)
    parser.add_argument("--text")
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--n-ctx", type=int, default=2048)
    parser.add_argument("--gpu-layers", type=int, default=-1)
    parser.add_argument("--max-tokens", type=int, default=ReplySettings.max_tokens)
    parser.add_argument("--seed", type=int)
    return parser.parse_args(argv)


class Session:
    """One persona in one place, with the conversation so far (stored messages, then the playground's lines)."""

    def __init__(self, pipeline: ReplyPipeline, conn, args: argparse.Namespace) -> None:
        self.pipeline = pipeline
        self.persona = load_persona(conn, args.persona)
        self.options = live_options(conn)
        self.place = channel_place(conn, args.channel)
        self.history = recent_messages(conn, args.channel, HISTORY_MESSAGES) if args.channel else []
        self.memory_channels = playground_channels(conn, args.channel)

    def answer(self, text: str) -> Reply:
        return self.answer_line(typed_message(self.history, text))

    def answer_line(self, line, seed: int | None = None) -> Reply:
        """The reply to ``line`` (a typed message, ``typed_message``); ``seed`` replaces the settings' seed."""
        if seed is not None:
            self.pipeline.settings = replace(self.pipeline.settings, seed=seed)
        self.history.append(line)
        turns = turns_from_live(self.history, **self.options, bot_user_id=self.persona.id, persona=self.persona)
        reply = self.pipeline.reply(self.persona, self.place, turns, int(line.id),
                                    exclude_authors=self.options["opted_out"], memory_channels=self.memory_channels)
        if reply.text:  # the persona's answer is part of the conversation from now on, as the bot's message is
            self.history.append(typed_message(self.history, reply.text, author_id=self.persona.id,
                                              author_name=self.persona.name))
        return reply


def exchange(sessions: list[Session], text: str, seed: int | None):
    """(side, session, reply) for each model in turn: one typed line (after every side's history, so its id and time
    are new to both) and, in compare mode, one seed for both (a fresh one per line without ``seed``)."""
    line = typed_message([message for session in sessions for message in session.history], text)
    if len(sessions) == 1:
        yield "", sessions[0], sessions[0].answer_line(line)
        return
    seed = random.randrange(1, SEED_RANGE) if seed is None else seed
    for side, session in zip(SIDES, sessions):
        yield side, session, session.answer_line(line, seed)


def prompt_digest(messages: list[dict]) -> str:
    """A short fingerprint of a prompt: equal for both sides when they were given the same messages."""
    text = json.dumps(messages, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def result_of(session: Session, reply: Reply) -> dict:
    generation = reply.generation
    return {"persona": session.persona.name, "model": str(session.pipeline.engine.path),
            "seed": session.pipeline.settings.seed, "prompt": prompt_digest(reply.messages),
            "reply": reply.text, "parts": reply.parts,
            "dropped_reason": reply.dropped_reason, "attempts": reply.attempts, "memories": len(reply.memories),
            "prompt_tokens": reply.prompt_tokens,
            "tokens": generation.tokens if generation else 0,
            "first_token_s": round(generation.first_token_s, 3) if generation else None,
            "seconds": round(generation.seconds, 3) if generation else None}


def open_memory(workspace: Workspace, config, enabled: bool):
    """The workspace's memory (``embed`` fills it) when there is one; None otherwise or with --no-memory."""
    if not enabled:
        return None
    from storage.memory import MemoryStore
    if not workspace.memory_dir.exists() or MemoryStore(workspace.memory_dir).count() == 0:
        return None
    from model.embedding import LiveMemory
    return LiveMemory.open(workspace, config.memory)


def load_engines(args: argparse.Namespace) -> list[ReplyEngine]:
    """Model A, and model B with ``--compare``; A is closed again when B fails."""
    first = ReplyEngine.load(args.model, n_ctx=args.n_ctx, gpu_layers=args.gpu_layers)
    if args.compare is None:
        return [first]
    try:
        return [first, load_second(args, first)]
    except InferenceError:
        first.close()
        raise


def load_second(args: argparse.Namespace, first: ReplyEngine) -> ReplyEngine:
    """Model B, on the GPU beside A when it fits, else on the CPU; one line when it loads nowhere. (A 3B or 8B pair
    may not both fit a GPU: B on the CPU is slower, and the comparison still holds.)"""
    try:
        return ReplyEngine.load(args.compare, n_ctx=args.n_ctx, gpu_layers=args.gpu_layers)
    except InferenceError as exc:
        if not first.gpu_layers or args.gpu_layers == 0:  # it was already the CPU: nothing else to try
            raise InferenceError(f"model B did not load: {exc}") from None
        print(f"model B did not load on the GPU beside model A ({exc}); loading it on the CPU", flush=True)
    try:
        return ReplyEngine.load(args.compare, n_ctx=args.n_ctx, gpu_layers=0)
    except InferenceError as exc:
        raise InferenceError(f"model B did not load, neither on the GPU beside model A nor on the CPU: {exc}") from None


def device_of(engine: ReplyEngine) -> str:
    return "gpu" if engine.gpu_layers else "cpu"


def started(sessions: list[Session], memory) -> JobStarted:
    first = sessions[0]
    details = {"model": str(first.pipeline.engine.path), "persona": first.persona.name, "memory": memory is not None,
               "memory_channels": len(first.memory_channels), "n_ctx": first.pipeline.engine.n_ctx}
    if len(sessions) > 1:
        second = sessions[1].pipeline.engine
        details.update(compare=str(second.path), compare_device=device_of(second))
    return JobStarted(name="chat", backend="llama.cpp", device=device_of(first.pipeline.engine), details=details)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    link = wire.link()
    lines: queue.Queue[str] = queue.Queue()
    link.on_request("chat-line", lambda request: lines.put(request.text))
    begun = time.monotonic()
    try:
        workspace = Workspace.open(args.workspace)
        config = load_config(workspace.config_path)
        engines = load_engines(args)
        settings = ReplySettings(max_tokens=args.max_tokens, seed=args.seed, memory_k=config.memory.top_k,
                                 max_turns=config.dataset.max_context_turns)
        memory = open_memory(workspace, config, not args.no_memory)
        with closing(workspace.connect()) as conn:
            sessions = [Session(ReplyPipeline(engine, memory, None, settings, copy_guard_for(engine.path)), conn, args)
                        for engine in engines]
    except (InferenceError, DatasetError, ConfigError, BotSettingsError) as exc:
        link.emit(JobFailed(message=str(exc), exit_code=1))
        return 1
    except Exception as exc:
        return wire.report_unexpected(link, exc, "chat", "run with --debug and see the worker's log lines")
    link.emit(started(sessions, memory))
    if args.text is not None:
        results = [{**result_of(session, reply), "side": side}
                   for side, session, reply in exchange(sessions, args.text, args.seed)]
        result = results[0] if len(results) == 1 else {"persona": sessions[0].persona.name,
                                                       "seed": results[0]["seed"], "replies": results}
        link.emit(JobFinished(status="finished", seconds=time.monotonic() - begun, result=result))
        return 0
    while not link.stop_requested():
        try:
            text = lines.get(timeout=0.2)
        except queue.Empty:
            continue
        for side, session, reply in exchange(sessions, text, args.seed):  # each side's event as soon as it is ready
            link.emit(ChatReplied(text=reply.text, parts=reply.parts, dropped_reason=reply.dropped_reason,
                                  details=result_of(session, reply), side=side))
    link.emit(JobFinished(status="stopped", seconds=time.monotonic() - begun))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
