"""Cancelling a running ingestion from another process (the admin API, another CLI call).

The running ingestion holds the ingestion lock of its data directory. A request to cancel
writes ``reportrag.ingest.cancel`` next to that lock; the run looks for it between documents and
between embedding batches (a stat call) and stops with :class:`CancelledError`. A request
is only written while a run holds the lock, and a run clears a stale one when it starts, so
a cancel never reaches a later run.
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
from pathlib import Path

from reportrag.errors import CancelledError

log = logging.getLogger(__name__)

LOCK_NAME = "ingest.lock"
CANCEL_NAME = "ingest.cancel"


def ingestion_running(data_dir: Path) -> bool:
    """Whether an ingestion holds the lock of ``data_dir`` right now."""
    path = data_dir / LOCK_NAME
    try:
        fh = path.open("a")
    except FileNotFoundError:
        return False
    with fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fh, fcntl.LOCK_UN)
        return False


def request_cancel(data_dir: Path) -> bool:
    """Ask the running ingestion to stop; False when none is running."""
    if not ingestion_running(data_dir):
        return False
    (data_dir / CANCEL_NAME).write_text(f"{os.getpid()} {time.time():.3f}\n", encoding="utf-8")
    log.info("asked the running ingestion in %s to stop", data_dir)
    return True


class CancelToken:
    """Held by a running ingestion: :meth:`check` raises once a cancel was requested."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / CANCEL_NAME
        self.path.unlink(missing_ok=True)  # meant for a run that has ended

    def check(self) -> None:
        """Raise CancelledError when a cancel was requested (and consume the request)."""
        if self.path.exists():
            self.path.unlink(missing_ok=True)
            raise CancelledError("ingestion cancelled on request")
