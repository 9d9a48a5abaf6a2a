"""Reply benchmark: the bot's reply pipeline vs raw llama-cpp-python on the same GGUF and sampling parameters.

    .venv/bin/python bench/reply_bench.py [--model GGUF] [--windows 2,6,12,24] [--replies 4] [--max-tokens 32]

A synthetic channel (three speakers) grows one message per reply, as a live channel does. For each channel window
(the number of stored turns before the first reply), the bench answers ``--replies`` successive messages:
- pipeline: ``ReplyPipeline.reply`` (shared prompt builder with the real tokenizer's budget, the GGUF's chat
  template, stop sequences, post-processing) on one long-lived ``ReplyEngine``, so the KV prefix of the previous
  prompt is reused;
- raw: ``llama_cpp.Llama.generate`` on the very prompt tokens the pipeline sent, from a reset context each time
  (no prompt cache), with the same sampling (temperature, top_p, repeat penalty, top_k/min_p defaults) and seed.
Figures per window: prompt tokens, first-token latency, whole-reply latency and decode tokens/s (tokens after the
first / time after the first), medians over the replies; ratios are pipeline / raw. "overhead" is the reply's wall
time minus its generations' (prompt building, tokenizer counts, post-processing); "regen" counts replies the
pipeline regenerated (empty or rejected first attempt: both attempts are in the pipeline's figures). Timings are
never a test gate.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.conversation.turns import Persona, Place, Turn  # noqa: E402
from core.prompting.reply import ReplySettings  # noqa: E402

DEFAULT_MODEL = ROOT / "third_party" / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"
SPEAKERS = ((11, "Sam"), (12, "Ollie"), (13, "Juniper"))
PERSONA = Persona(20, "Marguerite")
PLACE = Place("Moonbase Cafe", "general")
LINES = ("anyone up for game night on friday?", "my cat just knocked my tea off the desk again",
         "what's everyone reading lately? I need something for the train", "the new cake at the cafe is so good",
         "who wants to swap plant cuttings this weekend?", "lol same, I fell asleep during the movie",
         "did you see the meteor shower last night", "I'm making soup, recipe suggestions welcome")


def channel(count: int) -> list[Turn]:
    start = datetime(2024, 5, 1, 20, 0, tzinfo=timezone.utc)
    turns = []
    for index in range(count):
        speaker_id, name = SPEAKERS[index % len(SPEAKERS)]
        turns.append(Turn(speaker_id=speaker_id, speaker_name=name, text=LINES[index % len(LINES)],
                          created_at=start + timedelta(minutes=index), message_id=1000 + index,
                          message_ids=(1000 + index,)))
    return turns


def raw_reply(llm, tokens: list[int], settings: ReplySettings, seed: int) -> tuple[float, float, int]:
    """(first-token seconds, whole seconds, tokens) of plain ``Llama.generate`` from a reset context."""
    llm.reset()
    llm.set_seed(seed)
    eos = llm.token_eos()
    started = time.perf_counter()
    first, count = None, 0
    for token in llm.generate(tokens, temp=settings.temperature, top_p=settings.top_p,
                              repeat_penalty=settings.repeat_penalty):
        if first is None:
            first = time.perf_counter() - started
        if token == eos:
            break
        count += 1
        if count >= settings.max_tokens:
            break
    return first or 0.0, time.perf_counter() - started, count


def decode_rate(tokens: int, first: float, seconds: float) -> float:
    return (tokens - 1) / (seconds - first) if tokens > 1 and seconds > first else 0.0


def measure(args) -> list[dict]:
    import llama_cpp
    from model.inference import ReplyEngine
    from model.reply_pipeline import ReplyPipeline
    threads = args.threads or os.cpu_count() or 1
    settings = ReplySettings(max_tokens=args.max_tokens, seed=args.seed, max_turns=args.max_turns)
    engine = ReplyEngine.load(args.model, n_ctx=args.n_ctx, gpu_layers=args.gpu_layers, n_threads=threads,
                              n_batch=args.n_batch)
    pipeline = ReplyPipeline(engine, settings=settings)
    raw = llama_cpp.Llama(model_path=str(args.model), n_ctx=args.n_ctx, n_threads=threads,
                          n_gpu_layers=engine.gpu_layers, verbose=False)
    rows = []
    for window in args.windows:
        history = channel(window + args.replies)
        engine.llm.reset()  # every window starts cold; the cache is what the replies within it earn
        samples = []
        for number in range(args.replies):
            turns = history[:window + number + 1]  # one more message has arrived
            pipeline.settings = replace(settings, seed=args.seed + number)
            started = time.perf_counter()
            reply = pipeline.reply(PERSONA, PLACE, turns, turns[-1].message_id)
            wall = time.perf_counter() - started
            tries = reply.generations  # a rejected reply (empty, blocked) is regenerated once: both count
            messages, _ = pipeline.build(PERSONA, PLACE, turns, turns[-1].message_id)
            first, seconds, count = raw_reply(raw, engine.tokenize(engine.render(messages)), settings,
                                              args.seed + number)
            decoded = sum(max(0, g.tokens - 1) for g in tries)
            decoding = sum(g.seconds - g.first_token_s for g in tries)
            samples.append({"prompt": tries[0].prompt_tokens, "p_first": tries[0].first_token_s, "p_wall": wall,
                            "p_rate": decoded / decoding if decoding > 0 else 0.0, "r_first": first,
                            "r_wall": seconds, "r_rate": decode_rate(count, first, seconds),
                            "overhead": wall - sum(g.seconds for g in tries), "regenerated": len(tries) - 1})
        warm = samples[1:] or samples  # the first reply of a window fills the cache
        rows.append({"window": window, **{key: statistics.median(s[key] for s in warm) for key in samples[0]},
                     "cold_first": samples[0]["p_first"], "regenerated": sum(s["regenerated"] for s in samples)})
    raw.close()
    engine.close()
    return rows


def report(rows: list[dict], args) -> None:
    print(f"{'window':>6} {'prompt':>6} | {'first token (s)':^27} | {'reply (s)':^15} | {'decode tok/s':^22} | "
          f"{'overhead':>8} {'regen':>5}")
    print(f"{'turns':>6} {'tokens':>6} | {'pipe':>6} {'pipe cold':>9} {'raw':>6} {'x':>4} | {'pipe':>6} {'raw':>6} | "
          f"{'pipe':>6} {'raw':>6} {'ratio':>6} | {'ms':>8} {'':>5}")
    for row in rows:
        ratio = row["p_rate"] / row["r_rate"] if row["r_rate"] else float("nan")
        speedup = row["r_first"] / row["p_first"] if row["p_first"] else float("nan")
        print(f"{row['window']:>6} {row['prompt']:>6.0f} | {row['p_first']:>6.3f} {row['cold_first']:>9.3f} "
              f"{row['r_first']:>6.3f} {speedup:>4.1f} | {row['p_wall']:>6.2f} {row['r_wall']:>6.2f} | "
              f"{row['p_rate']:>6.1f} {row['r_rate']:>6.1f} {ratio:>6.2f} | {row['overhead'] * 1000:>8.1f} "
              f"{row['regenerated']:>5}")
    rates = [row["p_rate"] / row["r_rate"] for row in rows if row["r_rate"]]
    if rates:
        print(f"decode tokens/s, pipeline / raw: median {statistics.median(rates):.2f}x (target >= 0.9x)")
    if args.bandwidth_gbs:
        # At batch 1 every token reads all the weights once: tokens/s <= memory bandwidth / weight bytes.
        limit = args.bandwidth_gbs * 1e9 / args.model.stat().st_size
        best = max((row["p_rate"] for row in rows), default=0.0)
        print(f"bandwidth limit {limit:.0f} tok/s ({args.bandwidth_gbs:g} GB/s over {args.model.stat().st_size / 1e9:.2f}"
              f" GB of weights); pipeline's best decode {best:.1f} tok/s = {best / limit:.2f}x of the limit")
    if args.out:
        import json
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"model": str(args.model), "gpu_layers": args.gpu_layers, "rows": rows,
                                        "bandwidth_gbs": args.bandwidth_gbs}, indent=2), encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--windows", default="2,6,12,24", help="channel turns before the first reply")
    parser.add_argument("--replies", type=int, default=4, help="successive replies per window (first is cold)")
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--max-turns", type=int, default=24, help="context turns the builder may keep")
    parser.add_argument("--n-ctx", type=int, default=2048)
    parser.add_argument("--threads", type=int)
    parser.add_argument("--n-batch", type=int, help="the pipeline engine's prompt batch (default: llama.cpp's 512)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--gpu-layers", type=int, default=-1, help="layers on the GPU (-1: all, when it has one)")
    parser.add_argument("--bandwidth-gbs", type=float, help="memory bandwidth, to report the batch-1 limit ratio")
    parser.add_argument("--out", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()
    args.windows = [int(part) for part in args.windows.split(",") if part.strip()]
    if not args.model.is_file():
        print(f"error: model not found: {args.model}", file=sys.stderr)
        return 1
    print(f"model {args.model.name}, max_tokens {args.max_tokens}, n_ctx {args.n_ctx}, "
          f"threads {args.threads or os.cpu_count()}, pipeline n_batch {args.n_batch or 512}, gpu layers "
          f"{args.gpu_layers}, "
          f"{args.replies} replies per window", flush=True)
    report(measure(args), args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
