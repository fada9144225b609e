"""The passage-embedding child of a serving process (started by process_engine.ProcessEngine).

    python -m reportrag.embedding.worker

Reads frames on stdin (see process_engine): first the settings, then one ``{"texts": [...]}``
request after another, answering each on stdout with a JSON header and the vectors. It
builds the embedder exactly as ``reportrag ingest`` does and embeds with
``embed_documents``, so the vectors are those of in-process embedding. It exits when stdin
closes: when the serving process stops it, or dies. Its log goes to stderr, one
``LEVEL message`` line per record, which the serving process relays into its own log.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from typing import IO

import numpy as np

from reportrag.embedding.process_engine import read_json, write_frame, write_json
from reportrag.errors import ReportragError

log = logging.getLogger("reportrag.embedding.worker")


def _serve(requests: IO[bytes], replies: IO[bytes]) -> int:
    from reportrag.settings import Settings
    from reportrag.wiring import embedder_from_settings

    config = read_json(requests)
    if config is None:
        return 0
    logging.basicConfig(stream=sys.stderr, level=int(config.get("log_level", logging.INFO)),
                        format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("transformers", "sentence_transformers", "filelock", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        settings = Settings.model_validate(config["settings"])
        embedder = embedder_from_settings(settings)
        engine = embedder.document_engine
        engine.load()
        embedder.embed_documents(["warm up"])
    except (ReportragError, ValueError) as exc:
        message = exc.message if isinstance(exc, ReportragError) else str(exc)
        write_json(replies, {"ok": False, "error": message})
        return 1
    precision = embedder.precisions()["documents"]
    write_json(replies, {"ok": True, "pid": os.getpid(), "engine": engine.name,
                         "precision": precision})
    while True:
        request = read_json(requests)
        if request is None:
            return 0  # stdin closed: the serving process stopped us, or is gone
        try:
            vectors = embedder.embed_documents(request["texts"])
        except ReportragError as exc:
            write_json(replies, {"ok": False, "error": exc.message})
            continue
        out = np.ascontiguousarray(vectors, dtype="<f4")
        write_json(replies, {"ok": True, "shape": list(out.shape)})
        write_frame(replies, out.tobytes())


def main() -> int:
    # Ctrl-C in a terminal reaches the whole process group: the serving process shuts down
    # and closes our stdin; we must not die first, mid-call, with a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Frames own stdout: anything a library prints goes to stderr (the log) instead.
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    requests = sys.stdin.buffer
    try:
        return _serve(requests, replies)
    except (BrokenPipeError, EOFError):
        return 0  # the serving process went away mid-reply
    finally:
        try:
            replies.close()
        except BrokenPipeError:
            pass


if __name__ == "__main__":
    sys.exit(main())
