"""ReplyEngine over llama.cpp: clear one-line errors for unusable files, the GGUF's own template and tokenizer."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from model.inference import InferenceError, ReplyEngine

SMOL = Path(__file__).resolve().parents[1] / "third_party" / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"
needs_model = pytest.mark.skipif(not SMOL.exists(), reason="SmolLM2 GGUF not installed (run install.py)")


def one_line_error(path) -> str:
    with pytest.raises(InferenceError) as caught:
        ReplyEngine.load(path, n_ctx=256)
    message = str(caught.value)
    assert "\n" not in message and str(path) in message
    return message


def test_missing_and_non_gguf_files(tmp_path):
    assert "not found" in one_line_error(tmp_path / "absent.gguf")
    text_file = tmp_path / "notes.gguf"
    text_file.write_text("not a model", encoding="utf-8")
    assert "not a GGUF" in one_line_error(text_file)


@needs_model
def test_truncated_gguf_is_one_line(tmp_path):
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(SMOL.read_bytes()[:1_500_000])  # valid header, missing tensors
    assert "could not load" in one_line_error(broken)


@needs_model
def test_gguf_without_a_chat_template_is_one_line(tmp_path):
    data = SMOL.read_bytes()
    key = b"tokenizer.chat_template"
    assert data.count(key) == 1
    no_template = tmp_path / "no-template.gguf"
    no_template.write_bytes(data.replace(key, b"tokenizer.chat_templatX"))  # same length: still a valid GGUF
    assert "no chat template" in one_line_error(no_template)


@pytest.fixture(scope="module")
def engine():
    if not SMOL.exists():
        pytest.skip("SmolLM2 GGUF not installed")
    loaded = ReplyEngine.load(SMOL, n_ctx=512)
    yield loaded
    loaded.close()


def test_template_turn_tokens_and_real_tokenizer(engine):
    assert engine.end_tokens[:2] == ["<|im_end|>", "<|im_start|>"]
    messages = [{"role": "system", "content": "You are Alex."}, {"role": "user", "content": "Sam: hi"}]
    rendered = engine.render(messages)
    assert rendered.endswith("<|im_start|>assistant\n") and "Sam: hi<|im_end|>" in rendered
    tokens = engine.tokenize(rendered)
    assert engine.llm.detokenize(tokens, special=True).decode() == rendered  # special tokens stay single tokens
    assert engine.count_tokens("hello there") == len(engine.llm.tokenize(b"hello there", add_bos=False))


def test_generation_respects_limits_and_stops(engine):
    messages = [{"role": "system", "content": "You are Alex, chatting in #general of Cafe."},
                {"role": "user", "content": "Sam: count from one to twenty, one number per line"}]
    generation = engine.generate(messages, max_tokens=12, temperature=0.0, top_p=1.0, stop=["\n"], seed=1)
    assert 0 < generation.tokens <= 12 and "\n" not in generation.text
    assert generation.prompt_tokens == engine.prompt_tokens(messages)
    assert 0 < generation.first_token_s <= generation.seconds


def test_prompt_over_the_context_window_is_an_inference_error(engine):
    messages = [{"role": "user", "content": "word " * 2000}]
    with pytest.raises(InferenceError, match="context window"):
        engine.generate(messages, max_tokens=8, temperature=0.7, top_p=0.9, stop=[])
