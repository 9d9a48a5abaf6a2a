"""YAML for the trainer configs without a YAML library (the app's process has none): the small subset they need.

Mappings of scalars, lists of scalars (flow style) and lists of mappings (block style), with an optional comment
above a key. Strings are written as JSON strings, which YAML reads as the same string; so are list items.
"""
from __future__ import annotations

import json


def scalar(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        return repr(value)
    if isinstance(value, float):
        text = repr(value)
        mantissa, _, exponent = text.partition("e")
        # YAML 1.1 readers (PyYAML, which Axolotl uses) take 5e-06 for a string: a float needs a dot
        return f"{mantissa}.0e{exponent}" if exponent and "." not in mantissa else text
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(scalar(item) for item in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)


def dump(mapping: dict, comments: dict[str, str] | None = None, indent: int = 0) -> str:
    """``mapping`` as YAML; ``comments`` puts a ``# comment`` line above a top-level key."""
    pad, lines = " " * indent, []
    for key, value in mapping.items():
        if comments and key in comments:
            lines.append(f"{pad}# {comments[key]}")
        if isinstance(value, dict):
            lines.append(f"{pad}{key}:")
            lines.append(dump(value, indent=indent + 2).rstrip("\n"))
        elif isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
            lines.append(f"{pad}{key}:")
            for item in value:
                block = dump(item, indent=indent + 4).rstrip("\n")
                lines.append(f"{pad}  - {block.lstrip()}")
        else:
            lines.append(f"{pad}{key}: {scalar(value)}")
    return "\n".join(lines) + "\n"
