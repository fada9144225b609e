"""A stand-in passage-embedding child for tests/test_embed_hang.py: it speaks the worker's
protocol (reportrag.embedding.process_engine frames) but hangs when told to.

Settings ``{"hang_at_start": true}`` make it never answer the start; a request whose first
text is ``"hang"`` is never answered; any other request gets one 4-dimensional unit vector
a text.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np

from reportrag.embedding.process_engine import read_json, write_frame, write_json


def main() -> int:
    requests, replies = sys.stdin.buffer, sys.stdout.buffer
    config = read_json(requests)
    if config is None:
        return 0
    if config["settings"].get("hang_at_start"):
        time.sleep(3600)
    write_json(replies, {"ok": True, "pid": os.getpid(), "engine": "fake", "precision": "fp32"})
    while (request := read_json(requests)) is not None:
        texts = request["texts"]
        if texts and texts[0] == "hang":
            time.sleep(3600)
        vectors = np.full((len(texts), 4), 0.5, dtype="<f4")
        write_json(replies, {"ok": True, "shape": list(vectors.shape)})
        write_frame(replies, vectors.tobytes())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
