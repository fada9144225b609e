"""One ingestion at a time per data directory: an advisory lock on ``<data_dir>/ingest.lock``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from reportrag.errors import ConflictError
from reportrag.ingest.cancel import LOCK_NAME


@contextmanager
def ingest_lock(data_dir: Path, *, create: bool = True) -> Iterator[None]:
    """One ingestion at a time per data directory; a second one gets ConflictError.

    ``create=False`` (a dry run, which writes nothing) takes the lock only where its file
    exists: without it no ingestion can be running.
    """
    import fcntl

    path = data_dir / LOCK_NAME
    if not create and not path.is_file():
        yield
        return
    data_dir.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:  # "a": taking the lock never truncates or writes the file
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise ConflictError(f"another ingestion is running (lock {path})") from exc
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
