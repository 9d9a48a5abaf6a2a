"""Export step 4: the smoke test — does the GGUF behave in llama.cpp the way the bot will use it?

Checks, each recorded in smoke.json:
- the chat template stored in the GGUF is the one training used (string equality with the tokenizer's);
- a persona prompt from ``core.prompting.builder`` renders identically through llama-cpp-python's template renderer
  (what the bot uses) and through the training tokenizer (what training used);
- the GGUF's end-of-sequence token is the end of an assistant turn in that template (``<|im_end|>`` for ChatML),
  which is what makes replies stop;
- a reply to each prompt is non-empty and ends because the model produced that token (a raw completion without stop
  strings reports finish_reason "stop" only for an end-of-generation token) within the token limit.
Sampling is seeded; each prompt gets a few seeds before it counts as failed, and the stop rate over every attempt is
reported too, so a model that sometimes babbles is visible even when it passes.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MAX_TOKENS = 96          # Discord replies are short; a reply that needs more than this is babbling
ATTEMPTS = 3             # seeds tried per prompt before it counts as failed
SAMPLING = {"temperature": 0.7, "top_p": 0.9, "repeat_penalty": 1.1}  # what the bot will use by default
CONTEXT_TOKENS = 2048


@dataclass(frozen=True)
class SmokePrompt:
    label: str
    messages: list[dict[str, str]]


def open_gguf(path: Path, seed: int = 0):
    """The GGUF in llama.cpp, on the GPU when this llama.cpp build can offload (a CUDA build), else the CPU."""
    import llama_cpp
    gpu_layers = -1 if llama_cpp.llama_supports_gpu_offload() else 0
    return llama_cpp.Llama(model_path=str(path), n_ctx=CONTEXT_TOKENS, n_threads=os.cpu_count() or 1, seed=seed,
                           n_gpu_layers=gpu_layers, verbose=False)


def render_with_gguf(llm, messages: list[dict[str, str]]) -> str:
    """The prompt as llama-cpp-python renders it from the template stored in the GGUF (as the bot will)."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter
    template = llm.metadata.get("tokenizer.chat_template", "")
    eos = llm.detokenize([llm.token_eos()], special=True).decode("utf-8", errors="replace")
    bos = llm.detokenize([llm.token_bos()], special=True).decode("utf-8", errors="replace")
    return Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)(messages=messages).prompt


def generate(llm, prompt: str, seed: int, max_tokens: int = MAX_TOKENS) -> dict[str, Any]:
    """One raw completion without stop strings: "stop" then means the model emitted its end-of-generation token."""
    llm.set_seed(seed)
    result = llm.create_completion(prompt=prompt, max_tokens=max_tokens, seed=seed, stop=[], **SAMPLING)
    choice = result["choices"][0]
    text = choice["text"]
    return {"seed": seed, "text": text.strip(), "finish_reason": choice["finish_reason"],
            "tokens": result["usage"]["completion_tokens"],
            "ok": bool(text.strip()) and choice["finish_reason"] == "stop"}


def reply(llm, messages: list[dict[str, str]], *, attempts: int = ATTEMPTS, seed: int = 0,
          max_tokens: int = MAX_TOKENS) -> dict[str, Any]:
    """Replies to one prompt: the first good one (non-empty, stopped) within ``attempts`` seeds, and all tries."""
    prompt = render_with_gguf(llm, messages)
    tries = []
    for attempt in range(attempts):
        tries.append(generate(llm, prompt, seed + attempt, max_tokens))
        if tries[-1]["ok"]:
            break
    best = next((item for item in tries if item["ok"]), tries[-1])
    return {"reply": best["text"], "ok": best["ok"], "finish_reason": best["finish_reason"],
            "tokens": best["tokens"], "attempts": tries}


def smoke_test(gguf: Path, tokenizer, prompts: list[SmokePrompt], *, seed: int = 0) -> dict[str, Any]:
    """Run every check on ``gguf``; ``tokenizer`` is training's (its chat template is the reference)."""
    llm = open_gguf(gguf, seed)
    try:
        gguf_template = llm.metadata.get("tokenizer.chat_template")
        eos_text = llm.detokenize([llm.token_eos()], special=True).decode("utf-8", errors="replace")
        checks: dict[str, Any] = {
            "chat_template_matches": gguf_template == tokenizer.chat_template,
            "eos_token": eos_text,
            "eos_matches_tokenizer": eos_text == tokenizer.eos_token,
            "eos_ends_assistant_turn": eos_ends_turn(tokenizer, eos_text),
        }
        results = []
        for index, item in enumerate(prompts):
            rendered_gguf = render_with_gguf(llm, item.messages)
            rendered_training = tokenizer.apply_chat_template(item.messages, tokenize=False, add_generation_prompt=True)
            outcome = reply(llm, item.messages, seed=seed + 100 * index)
            results.append({"label": item.label, "messages": item.messages,
                            "prompt_matches_training": rendered_gguf == rendered_training, **outcome})
    finally:
        llm.close()
    tries = [attempt for result in results for attempt in result["attempts"]]
    checks["prompt_matches_training"] = all(result["prompt_matches_training"] for result in results)
    checks["replies_ok"] = all(result["ok"] for result in results)
    passed = bool(results) and all(value for key, value in checks.items() if key != "eos_token")
    return {"passed": passed, "checks": checks, "stop_rate": round(sum(t["finish_reason"] == "stop" for t in tries)
                                                                    / max(1, len(tries)), 3),
            "max_tokens": MAX_TOKENS, "sampling": SAMPLING, "prompts": results}


def eos_ends_turn(tokenizer, eos_text: str) -> bool:
    """Whether training's template closes an assistant message with the EOS token (so generation stops there)."""
    probe = [{"role": "system", "content": "s"}, {"role": "user", "content": "u"},
             {"role": "assistant", "content": "PROBE-REPLY"}]
    rendered = tokenizer.apply_chat_template(probe, tokenize=False)
    after = rendered.split("PROBE-REPLY", 1)[-1]
    return after.lstrip(" ").startswith(eos_text)


def failure_summary(smoke: dict[str, Any]) -> str:
    """One line naming the checks that failed."""
    failed = [key for key, value in smoke["checks"].items() if key != "eos_token" and not value]
    bad = [result["label"] for result in smoke["prompts"] if not result["ok"]]
    parts = [f"failed checks: {', '.join(failed)}"] if failed else []
    if bad:
        parts.append(f"no reply that stops within {smoke['max_tokens']} tokens for: {', '.join(bad)}")
    return "; ".join(parts) or "no prompts were tested"
