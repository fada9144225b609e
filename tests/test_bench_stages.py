"""bench.stages: the timing proxies pass calls and attributes through and record every call,
from any thread; the summary groups requests by the mode that ran."""

from __future__ import annotations

import threading
import time

import pytest

from bench import stages, tables


class _Store:
    kind = "lite"

    def __init__(self) -> None:
        self.calls: list[tuple[int, str]] = []

    def rank_dense(self, k: int, *, tag: str = "") -> list[int]:
        self.calls.append((k, tag))
        time.sleep(0.002)
        return list(range(k))

    def fail(self) -> None:
        raise RuntimeError("store down")


def test_calls_and_attributes_pass_through_and_are_timed() -> None:
    log = stages.CallLog()
    inner = _Store()
    store = stages.Timed(inner, "store", log)
    assert store.kind == "lite"
    assert store.rank_dense(3, tag="x") == [0, 1, 2]
    assert inner.calls == [(3, "x")]
    with pytest.raises(RuntimeError, match="store down"):
        store.fail()  # a failing call is still recorded, and its error is the caller's
    calls = log.take()
    assert [name for name, _ in calls] == ["store.rank_dense", "store.fail"]
    assert calls[0][1] >= 2.0  # ms: the sleep is inside the timed span
    assert log.take() == []


def test_calls_from_other_threads_are_recorded() -> None:
    log = stages.CallLog()
    store = stages.Timed(_Store(), "store", log)
    threads = [threading.Thread(target=store.rank_dense, args=(1,)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    detect = stages.timed_function(lambda q: "en", "detect_lang", log)
    assert detect("hello") == "en"
    names = [name for name, _ in log.take()]
    assert names.count("store.rank_dense") == 8 and names.count("detect_lang") == 1


def test_summary_is_per_mode_that_ran() -> None:
    requests = [
        ("hybrid", 10.0, [("embedder.embed_query", 4.0), ("store.rank_text", 5.0),
                          ("store.rank_dense", 3.0)]),
        ("hybrid", 20.0, [("embedder.embed_query", 6.0), ("store.rank_text", 7.0),
                          ("store.rank_dense", 5.0)]),
        ("crosslingual", 30.0, [("embedder.embed_query", 5.0), ("store.rank_text", 6.0),
                                ("store.rank_text", 8.0)]),
    ]
    out = stages.summarise(requests)
    assert list(out) == ["crosslingual", "hybrid"]
    assert out["hybrid"]["requests"] == 2 and out["hybrid"]["request"]["p50_ms"] == 15.0
    assert out["hybrid"]["calls"]["store.rank_text"] == {"per_request": 1.0, "p50_ms": 6.0}
    assert out["crosslingual"]["calls"]["store.rank_text"] == {"per_request": 2.0, "p50_ms": 7.0}
    assert "store.rank_dense" not in out["crosslingual"]["calls"]

    result = {"machine": {"commit": "abc1234", "date": "d", "loadavg_1m": 0.5},
              "milvus": "lite (own process)", "queries": 3, "rounds": 1, "top_k": 5,
              "modes": {"auto": out}}
    table = tables.stages(result)
    assert "| auto → hybrid | 2 | 15.0 / 19.5 | `embedder.embed_query` | 1.0 | 5.0 |" in table
    assert "|  |  |  | `store.rank_text` | 1.0 | 6.0 |" in table
