"""The shape of a GGUF model for the memory estimate, read from the file's header alone.

``gguf.GGUFReader`` (what core.training.vram uses) maps the whole file and builds numpy views of every metadata
field and the full tensor table: for a 49k-token vocabulary that is tens of MB of small arrays kept alive in the
panel's process. The estimate needs six integers, the vocabulary's length and whether ``output.weight`` exists, so
this reader walks the header with ``struct`` and seeks past every value it does not need (the token strings
included); it holds a few hundred bytes at a time and imports nothing beyond the standard library.
"""
from __future__ import annotations

import struct
from pathlib import Path

from core.training.vram import ModelShape

MAGIC = b"GGUF"
# value type -> struct format of one scalar (GGUF spec: gguf.md, "GGUFValueType")
SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
STRING, ARRAY = 8, 9
WANTED = ("embedding_length", "block_count", "feed_forward_length", "attention.head_count",
          "attention.head_count_kv")


class GGUFHeaderError(ValueError):
    """Not a GGUF file, or a header cut short; the message names the file."""


class _Reader:
    def __init__(self, handle) -> None:
        self.handle = handle

    def unpack(self, fmt: str):
        size = struct.calcsize("<" + fmt)
        data = self.handle.read(size)
        if len(data) != size:
            raise EOFError
        return struct.unpack("<" + fmt, data)[0]

    def string(self) -> str:
        length = self.unpack("Q")
        data = self.handle.read(length)
        if len(data) != length:
            raise EOFError
        return data.decode("utf-8", "replace")

    def skip_string(self) -> None:
        self.handle.seek(self.unpack("Q"), 1)

    def value(self, kind: int, keep: bool):
        """The value of ``kind``; for an array, its length only (its items are skipped)."""
        if kind in SCALARS:
            return self.unpack(SCALARS[kind])
        if kind == STRING:
            return self.string() if keep else self.skip_string()
        if kind == ARRAY:
            item_kind, count = self.unpack("I"), self.unpack("Q")
            if item_kind in SCALARS:
                self.handle.seek(struct.calcsize("<" + SCALARS[item_kind]) * count, 1)
            else:
                for _ in range(count):
                    self.value(item_kind, keep=False)
            return count
        raise ValueError(f"unknown value type {kind}")


def read_header(path: Path) -> tuple[dict[str, object], set[str]]:
    """The metadata this module needs (scalars and strings by key; arrays as their length) and the tensor names."""
    try:
        with open(path, "rb") as handle:
            reader = _Reader(handle)
            if handle.read(4) != MAGIC:
                raise GGUFHeaderError(f"{path}: not a GGUF file (no GGUF magic at the start)")
            version = reader.unpack("I")
            count_fmt = "I" if version == 1 else "Q"
            tensors, keys = reader.unpack(count_fmt), reader.unpack(count_fmt)
            metadata: dict[str, object] = {}
            for _ in range(keys):
                key = reader.string()
                kind = reader.unpack("I")
                keep = key == "general.architecture" or key.endswith(WANTED) or key == "tokenizer.ggml.tokens"
                value = reader.value(kind, keep)
                if keep:
                    metadata[key] = value
            names = set()
            for _ in range(tensors):
                names.add(reader.string())
                dims = reader.unpack("I")
                handle.seek(8 * dims + 4 + 8, 1)  # dimensions, type, offset
    except (EOFError, ValueError, UnicodeDecodeError) as exc:
        if isinstance(exc, GGUFHeaderError):
            raise
        raise GGUFHeaderError(f"{path}: the GGUF header is cut short or damaged ({exc or 'end of file'})") from None
    return metadata, names


def shape_from_header(path: Path) -> ModelShape:
    """As core.training.vram.shape_from_gguf, without mapping the file; KeyError names a missing field."""
    metadata, names = read_header(Path(path))
    arch = str(metadata["general.architecture"])
    heads = int(metadata[f"{arch}.attention.head_count"])
    return ModelShape(hidden=int(metadata[f"{arch}.embedding_length"]), layers=int(metadata[f"{arch}.block_count"]),
                      intermediate=int(metadata[f"{arch}.feed_forward_length"]),
                      vocab=int(metadata["tokenizer.ggml.tokens"]), heads=heads,
                      kv_heads=int(metadata.get(f"{arch}.attention.head_count_kv", heads)),
                      tied_embeddings="output.weight" not in names)


def shape_of(source: str, kind: str) -> ModelShape | None:
    """The shape for the estimate: the header reader for a GGUF, core's reader for a folder's config.json."""
    if kind != "gguf":
        from core.training import vram
        return vram.shape_of(source, kind)
    try:
        return shape_from_header(Path(source))
    except (OSError, KeyError, ValueError):
        return None
