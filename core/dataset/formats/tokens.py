"""Counting tokens the way OpenAI counts a fine-tuning example, with no download at run time.

OpenAI's fine-tunable chat models (gpt-4o, gpt-4o-mini, the gpt-4.1 family) use the ``o200k_base`` encoding. tiktoken
downloads that encoding's file on first use, which this app never does; ``toktok`` (the ``toktok-rs`` package) has
it compiled in and gives tiktoken's ids. An example counts as in OpenAI's cookbook ("Data preparation and analysis
for chat model fine-tuning"): per message 3 tokens plus its role and content, plus 3 that prime the reply. Without
toktok the count is the prompt builder's estimate (about 4 characters a token), and the report says so.
"""
from __future__ import annotations

from collections.abc import Callable

from core.prompting.builder import estimate_tokens

ENCODING = "o200k_base"
TOKENS_PER_MESSAGE = 3
REPLY_PRIMING = 3


def counter() -> tuple[str, Callable[[list[str]], list[int]]]:
    """(how tokens are counted, in words; a function from texts to their token counts)."""
    try:
        import toktok
    except ImportError:
        return ("estimated, about 4 characters a token (toktok-rs is not installed)",
                lambda texts: [estimate_tokens(text) for text in texts])
    return (f"{ENCODING} (toktok {toktok.__version__}, tiktoken's ids), counted as OpenAI's cookbook does",
            lambda texts: toktok.batch_count(texts, ENCODING, threads=1))


def example_tokens(messages: list[dict], count: Callable[[list[str]], list[int]]) -> int:
    """Tokens of one chat example as OpenAI bills and limits it."""
    texts = [part for message in messages for part in (message["role"], message["content"])]
    return sum(count(texts)) + TOKENS_PER_MESSAGE * len(messages) + REPLY_PRIMING
