"""The reply engine: one GGUF loaded once in llama.cpp, rendering chat messages with the GGUF's own chat template.

``ReplyEngine.load(path, n_ctx=2048, gpu_layers=-1)`` checks the file (exists, GGUF magic, loads, carries
``tokenizer.chat_template``) and raises ``InferenceError`` with one line otherwise. ``gpu_layers=-1`` offloads every
layer when this llama.cpp build can (``llama_supports_gpu_offload``), else runs on the CPU.

The prompt cache: llama.cpp keeps the KV state of the previous call, and ``Llama.generate`` reuses its longest
common token prefix with the next prompt, so a bot prompt that only grew by the newest turns (the system message
and the older turns are identical) evaluates just the new tokens. ``cache_bytes`` > 0 adds a ``LlamaRAMCache`` that
keeps the states of several prompts (channels taking turns), at the cost of copying the state after each reply.
Calls are serialised with a lock: the bot calls ``generate`` from worker threads and a llama context is not
thread-safe.
"""
from __future__ import annotations

import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

GGUF_MAGIC = b"GGUF"
TEMPLATE_KEY = "tokenizer.chat_template"
PROBE_REPLY = "PROBE-REPLY"


class InferenceError(RuntimeError):
    """The model cannot be used or generation failed; the message is one line naming the file."""


@dataclass(frozen=True)
class Generation:
    text: str                 # the raw completion (before clean-up)
    tokens: int               # completion tokens generated
    first_token_s: float      # from the call to the first sampled token (prompt evaluation included)
    seconds: float            # the whole call
    prompt_tokens: int = 0
    finish_reason: str = ""   # "stop" (end token or a stop sequence) or "length"

    @property
    def tokens_per_second(self) -> float:
        decoding = self.seconds - self.first_token_s
        return (self.tokens - 1) / decoding if self.tokens > 1 and decoding > 0 else 0.0


def check_gguf(path: Path) -> None:
    """A clear error for a missing, unreadable or non-GGUF file, before llama.cpp prints its own noise."""
    if not path.is_file():
        raise InferenceError(f"model file not found: {path}")
    try:
        with path.open("rb") as handle:
            magic = handle.read(4)
    except OSError as exc:
        raise InferenceError(f"cannot read the model file {path}: {exc.strerror or exc}") from None
    if magic != GGUF_MAGIC:
        raise InferenceError(f"{path} is not a GGUF model file (export the run with `launcher.py export RUN`)")


class ReplyEngine:
    """One loaded model. Build it with ``load``; ``generate`` renders messages and samples a reply."""

    def __init__(self, llm, path: Path, template: str) -> None:
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter
        self.llm = llm
        self.path = path
        self.template = template
        self.eos_text = self._token_text(llm.token_eos())
        bos_text = self._token_text(llm.token_bos()) if llm.token_bos() >= 0 else ""
        self._formatter = Jinja2ChatFormatter(template=template, eos_token=self.eos_text, bos_token=bos_text)
        self.end_tokens = self._turn_tokens()
        self._lock = threading.Lock()

    @classmethod
    def load(cls, gguf_path: Path | str, n_ctx: int = 2048, gpu_layers: int = -1, *, cache_bytes: int = 0,
             n_threads: int | None = None, logits_all: bool = False, n_batch: int | None = None) -> "ReplyEngine":
        """``logits_all`` keeps every position's logits (evaluation scores replies with them; costs n_ctx x vocab).
        ``n_batch``: prompt tokens per llama.cpp decode call (None: llama.cpp's 512); see bench/reply_bench.py."""
        path = Path(gguf_path).expanduser()
        check_gguf(path)
        import llama_cpp
        if gpu_layers < 0:
            gpu_layers = -1 if llama_cpp.llama_supports_gpu_offload() else 0
        batching = {"n_batch": n_batch, "n_ubatch": n_batch} if n_batch else {}
        try:
            llm = llama_cpp.Llama(model_path=str(path), n_ctx=n_ctx, n_gpu_layers=gpu_layers,
                                  n_threads=n_threads or os.cpu_count() or 1, logits_all=logits_all, verbose=False,
                                  **batching)
        except (ValueError, RuntimeError, OSError) as exc:
            raise InferenceError(f"llama.cpp could not load {path} (corrupt or unsupported GGUF: "
                                 f"{' '.join(str(exc).split())[:160]})") from None
        template = llm.metadata.get(TEMPLATE_KEY) or ""
        if not template.strip():
            llm.close()
            raise InferenceError(f"{path} has no chat template ({TEMPLATE_KEY}); export the run again with "
                                 f"`launcher.py export RUN`")
        if cache_bytes > 0:
            llm.set_cache(llama_cpp.LlamaRAMCache(capacity_bytes=cache_bytes))
        try:
            return cls(llm, path, template)
        except Exception as exc:  # a template jinja cannot compile
            llm.close()
            raise InferenceError(f"the chat template in {path} cannot be used: "
                                 f"{' '.join(str(exc).split())[:160]}") from None

    @property
    def n_ctx(self) -> int:
        return self.llm.n_ctx()

    @property
    def gpu_layers(self) -> int:
        return int(self.llm.model_params.n_gpu_layers)

    def _token_text(self, token: int) -> str:
        return self.llm.detokenize([token], special=True).decode("utf-8", errors="replace")

    def _turn_tokens(self) -> list[str]:
        """The template's end-of-turn text and the start of the next turn (``<|im_end|>``, ``<|im_start|>``)."""
        probe = [{"role": "system", "content": "s"}, {"role": "user", "content": "u"},
                 {"role": "assistant", "content": PROBE_REPLY}, {"role": "user", "content": "v"}]
        try:
            after = self._formatter(messages=probe).prompt.split(PROBE_REPLY, 1)[1]
        except Exception:  # a template that renders no assistant turn: the EOS token alone
            after = ""
        tokens = [self.eos_text] + re.findall(r"<[^<>\s]+>", after)[:2]
        return list(dict.fromkeys(token for token in tokens if token))

    def render(self, messages: list[dict]) -> str:
        """The prompt text, with the generation prompt, as the GGUF's template renders it."""
        return self._formatter(messages=messages).prompt

    def tokenize(self, text: str) -> list[int]:
        """Prompt tokens exactly as ``create_completion`` would make them from ``text``."""
        tokens = self.llm.tokenize(text.encode("utf-8"), add_bos=True, special=True)
        bos = self.llm.token_bos()
        if len(tokens) > 1 and tokens[0] == bos and tokens[1] == bos:  # the template wrote its own BOS
            tokens = tokens[1:]
        return tokens

    def count_tokens(self, text: str) -> int:
        """Tokens of a piece of plain text (no BOS, no special tokens): what a turn costs inside a prompt."""
        if not text:
            return 0
        return len(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def prompt_tokens(self, messages: list[dict]) -> int:
        return len(self.tokenize(self.render(messages)))

    def generate(self, messages: list[dict], *, max_tokens: int, temperature: float, top_p: float,
                 stop: list[str] | None = None, repeat_penalty: float = 1.1, seed: int | None = None) -> Generation:
        """One reply to ``messages``. Raises InferenceError when the prompt does not fit ``n_ctx``."""
        tokens = self.tokenize(self.render(messages))
        if len(tokens) + 1 > self.n_ctx:
            raise InferenceError(f"the prompt has {len(tokens)} tokens; the context window is {self.n_ctx}")
        max_tokens = max(1, min(max_tokens, self.n_ctx - len(tokens)))
        with self._lock:
            return self._complete(tokens, max_tokens, temperature, top_p, list(stop or []), repeat_penalty, seed)

    def _complete(self, tokens: list[int], max_tokens: int, temperature: float, top_p: float, stop: list[str],
                  repeat_penalty: float, seed: int | None) -> Generation:
        import llama_cpp
        started = time.perf_counter()
        sampled: list[float] = []

        def note_token(input_ids, logits) -> bool:  # called once after each sampled token; never stops generation
            sampled.append(time.perf_counter())
            return False

        result = self.llm.create_completion(
            prompt=tokens, max_tokens=max_tokens, temperature=temperature, top_p=top_p,
            repeat_penalty=repeat_penalty, stop=stop, seed=seed,
            stopping_criteria=llama_cpp.StoppingCriteriaList([note_token]))
        ended = time.perf_counter()
        choice = result["choices"][0]
        first = (sampled[0] if sampled else ended) - started
        return Generation(text=choice["text"], tokens=int(result["usage"]["completion_tokens"]),
                          first_token_s=first, seconds=ended - started, prompt_tokens=len(tokens),
                          finish_reason=choice.get("finish_reason") or "")

    def close(self) -> None:
        self.llm.close()
