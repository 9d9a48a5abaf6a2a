"""``assert_in_order``: the log's lines match the expected patterns in this order (other lines may come between),
and the message names the first pattern missing with the lines around where it was expected."""
from __future__ import annotations

import re


def assert_in_order(lines: list[str], patterns: list[str]) -> None:
    position = 0
    for pattern in patterns:
        expression = re.compile(pattern)
        for index in range(position, len(lines)):
            if expression.search(lines[index]):
                position = index + 1
                break
        else:
            context = "\n".join(lines[max(0, position - 3):position + 12])
            raise AssertionError(f"no line matching {pattern!r} after line {position} of {len(lines)}; from there:"
                                 f"\n{context}")
