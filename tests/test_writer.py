"""The background writer: order, back-pressure, retries, failures (a fake store at our seam)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from reportrag.errors import StoreError, StoreUnavailableError
from reportrag.ingest.writer import Writer
from reportrag.types import Chunk


def _chunks(n: int, start: int = 0) -> list[Chunk]:
    return [
        Chunk(f"d:{i}", "d", "t", "en", "report", "", "", i, f"text {i}", 3, 0, 1, f"h{i}")
        for i in range(start, start + n)
    ]


class RecordingStore:
    """Records what was written, optionally blocking or failing."""

    def __init__(self, fail_times: int = 0, error: type[Exception] = StoreUnavailableError):
        self.log: list[str] = []
        self.fail_times = fail_times
        self.error = error
        self.gate = threading.Event()
        self.gate.set()
        self.calls = 0

    def upsert(self, chunks: list[Chunk], vectors: np.ndarray, *, visible: bool = True) -> None:
        self.gate.wait(10)
        self.calls += 1
        if self.fail_times:
            self.fail_times -= 1
            raise self.error("Milvus went away")
        assert vectors.shape == (len(chunks), 2)
        self.log.append("upsert " + ",".join(c.chunk_id for c in chunks))


def test_tasks_run_in_the_order_they_were_queued() -> None:
    store = RecordingStore()
    w = Writer(store, depth=1)
    w.upsert(_chunks(2), np.zeros((2, 2)))
    w.then(lambda: store.log.append("finish d"))
    w.upsert(_chunks(1, 2), np.zeros((1, 2)))
    w.close()
    assert store.log == ["upsert d:0,d:1", "finish d", "upsert d:2"]


def test_a_full_queue_blocks_the_producer() -> None:
    store = RecordingStore()
    store.gate.clear()  # Milvus is slow: nothing completes until the gate opens
    w = Writer(store, depth=2)
    queued = []

    def produce() -> None:
        for i in range(6):
            w.upsert(_chunks(1, i), np.zeros((1, 2)))
            queued.append(i)

    t = threading.Thread(target=produce)
    t.start()
    t.join(0.5)
    # One batch in the writer's hands plus `depth` waiting: the producer is held at the 4th.
    assert t.is_alive() and len(queued) == 3
    store.gate.set()
    t.join(10)
    w.close()
    assert len(queued) == 6 and len(store.log) == 6
    assert w.waited_s > 0


def test_unavailable_milvus_is_retried_then_succeeds() -> None:
    store = RecordingStore(fail_times=2)
    w = Writer(store, backoff_s=0.01)
    w.upsert(_chunks(3), np.zeros((3, 2)))
    w.close()
    assert store.calls == 3 and store.log == ["upsert d:0,d:1,d:2"]


def test_persistent_failure_reaches_the_producer_and_stops_later_tasks() -> None:
    store = RecordingStore(fail_times=100)
    w = Writer(store, retries=1, backoff_s=0.01)
    w.upsert(_chunks(1), np.zeros((1, 2)))
    w.then(lambda: store.log.append("must not run"))
    with pytest.raises(StoreUnavailableError):
        w.close()
    assert store.log == [] and store.calls == 2


def test_a_refusal_is_not_retried() -> None:
    store = RecordingStore(fail_times=1, error=StoreError)
    w = Writer(store, backoff_s=0.01)
    w.upsert(_chunks(1), np.zeros((1, 2)))
    with pytest.raises(StoreError):
        w.close()
    assert store.calls == 1


def test_a_failed_writer_refuses_new_work() -> None:
    store = RecordingStore(fail_times=1, error=StoreError)
    w = Writer(store)
    w.upsert(_chunks(1), np.zeros((1, 2)))
    w._thread.join(5)  # the failure has happened
    with pytest.raises(StoreError):
        w.upsert(_chunks(1, 1), np.zeros((1, 2)))


def test_abort_drops_queued_work() -> None:
    store = RecordingStore()
    store.gate.clear()
    w = Writer(store, depth=3)
    for i in range(3):
        w.upsert(_chunks(1, i), np.zeros((1, 2)))
    store.gate.set()
    w.abort()
    assert len(store.log) <= 1  # at most the batch already in progress
