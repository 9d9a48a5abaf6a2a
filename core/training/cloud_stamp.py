"""``launcher.py --worker cloud-stamp``: runs on the rented machine, between the train worker and SkyPilot's log.

The task's run line pipes the worker's stdout and stderr through it; it numbers every line
(``core.training.cloud_stream.stamp``) so that the app, reading the job's log again after a lost connection, skips
what it already has. Nothing else changes: the wire markers, the text, the order. No ML import, no app state.
"""
from __future__ import annotations

import sys

from core.training.cloud_stream import stamp


def main(argv: list[str]) -> int:
    if argv:
        print(f"error: cloud-stamp takes no arguments (got {' '.join(argv)})", file=sys.stderr)
        return 2
    source = sys.stdin.buffer
    sequence = 0
    for raw in iter(source.readline, b""):
        sequence += 1
        text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        sys.stdout.write(stamp(sequence, text) + "\n")
        sys.stdout.flush()
    return 0
