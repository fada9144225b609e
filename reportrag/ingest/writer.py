"""Background writes with back-pressure: embedding goes on while Milvus stores the last batch.

The ingestion thread hands batches to :class:`Writer`; one writer thread stores them in
order. The queue holds at most ``depth`` batches: when Milvus is slower than the embedder,
``upsert`` blocks (back-pressure) instead of piling vectors up in memory. Upserts are keyed
by chunk id, so a write that failed because Milvus was briefly unavailable is retried as is.
Tasks run strictly in the order they were queued: a document's stale rows are deleted only
after its new rows are stored.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from reportrag.errors import StoreUnavailableError
from reportrag.types import Chunk

if TYPE_CHECKING:
    from reportrag.store.protocols import WriteStore

log = logging.getLogger(__name__)

_STOP = object()


class Writer:
    """Runs store writes on one background thread, in order, at most ``depth`` batches behind."""

    def __init__(
        self,
        store: WriteStore,
        *,
        depth: int = 2,
        retries: int = 3,
        backoff_s: float = 1.0,
        on_written: Callable[[int], None] | None = None,
    ) -> None:
        if depth < 1:
            raise ValueError("depth must be at least 1")
        self._store = store
        self._queue: queue.Queue[object] = queue.Queue(maxsize=depth)
        self._retries = retries
        self._backoff_s = backoff_s
        self._on_written = on_written
        self._error: BaseException | None = None
        self.waited_s = 0.0  # time the producer spent blocked on a full queue
        self._thread = threading.Thread(target=self._run, name="reportrag-writer", daemon=True)
        self._thread.start()

    def upsert(self, chunks: list[Chunk], vectors: np.ndarray, *, visible: bool = True) -> None:
        """Queue one batch (blocks while ``depth`` batches are waiting)."""
        self._put(("upsert", chunks, vectors, visible))

    def then(self, task: Callable[[], None]) -> None:
        """Run ``task`` on the writer thread once everything queued before it is stored."""
        self._put(("call", task))

    def close(self) -> None:
        """Wait for every queued task; re-raise the first failure."""
        if self._thread.is_alive():
            self._put(_STOP, final=True)
            self._thread.join()
        self._raise()

    def abort(self) -> None:
        """Stop after the task in progress; queued tasks are dropped (for error paths)."""
        self._error = self._error or RuntimeError("ingestion aborted")
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join()

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def _put(self, item: object, final: bool = False) -> None:
        started = time.monotonic()
        while True:
            if not final:
                self._raise()
            if not self._thread.is_alive():
                self._raise()
                return
            try:
                self._queue.put(item, timeout=0.2)
                break
            except queue.Full:
                continue
        self.waited_s += time.monotonic() - started

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            if self._error is not None:
                continue  # drain what is left after a failure
            try:
                self._do(item)
            except BaseException as exc:  # handed to the producer thread, re-raised there
                self._error = exc

    def _do(self, item: object) -> None:
        kind, *args = cast("tuple[Any, ...]", item)
        if kind == "call":
            args[0]()
            return
        chunks, vectors, visible = args
        for attempt in range(self._retries + 1):
            try:
                self._store.upsert(chunks, vectors, visible=visible)
                break
            except StoreUnavailableError as exc:
                if attempt == self._retries:
                    raise
                delay = self._backoff_s * 2**attempt
                log.warning("write of %d rows failed (%s); retrying in %.1fs",
                            len(chunks), exc.message, delay)
                time.sleep(delay)
        if self._on_written is not None:
            self._on_written(len(chunks))
