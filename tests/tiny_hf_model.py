"""A tiny Hugging Face model folder for converter tests: random Llama weights (2 layers, width 64) with SmolLM2's
real tokenizer (read from the offline base model's GGUF), so llama.cpp's converter sees a known architecture and a
known pre-tokenizer. Built in a subprocess-free way in the test process; takes a few seconds (the tokenizer)."""
from __future__ import annotations

from pathlib import Path

import pytest

from core.config.resources import ResourceMissing, default_base_model


def tiny_hf_model(folder: Path) -> Path:
    try:
        gguf = default_base_model()
    except ResourceMissing as exc:
        pytest.skip(str(exc))
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=256,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         tie_word_embeddings=True)
    torch.manual_seed(0)
    model = LlamaForCausalLM(config).to(torch.float16)
    model.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return folder
