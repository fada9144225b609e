"""Faults against a real Milvus server that these tests start, pause, stop and kill themselves.

(a) Milvus hangs (SIGSTOP) or stops while `reportrag serve` runs: /readyz and /v1/search
    answer 503 with a retry hint within the configured timeout, the API never crashes, and
    it recovers by itself when Milvus is back (same data dir) — no API restart.
(b) Milvus is SIGKILLed in the middle of an ingestion: after a restart the re-run converges
    to exactly what a clean run wrote into another collection (ids, hashes, vectors, count).
One server is shared by both (starting one takes 30-45 s).
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest

from reportrag.errors import IngestIncompleteError, StoreError
from reportrag.ingest.corpus import discover
from reportrag.ingest.pipeline import run_ingest
from reportrag.langid import LanguageDetector
from reportrag.store import MilvusStore
from tests.servers import REPO, ApiServer, MilvusServer

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SMALL = ["002_e3e1792454d159ff.txt", "003_18194aaf734a0421.txt"]
TIMEOUT = 2.0  # REPORTRAG_MILVUS_TIMEOUT for the API under test
# Bound on a request while Milvus is away: a reconnect attempt (one timeout) plus the failed
# call (one timeout) plus slack for a busy 2-core machine. Far from "hangs until the client
# gives up", which is what an unbounded call would do.
BOUND_S = 2 * TIMEOUT + 6


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    corpus = tmp_path_factory.mktemp("fault-corpus")
    for name in SMALL:
        (corpus / name).write_bytes((REPO / "corpus" / name).read_bytes())
    return corpus


@pytest.fixture(scope="module")
def milvus(tmp_path_factory: pytest.TempPathFactory):
    if not MilvusServer.installed():
        pytest.skip("no Milvus server installed (scripts/milvus-server.sh install)")
    server = MilvusServer(tmp_path_factory.mktemp("fault-milvus")).start()
    try:
        yield server
    finally:
        try:
            server.signal(signal.SIGCONT)  # a paused server cannot stop
        except (ProcessLookupError, FileNotFoundError, ValueError):
            pass
        server.stop()


def _store(uri: str, collection: str) -> MilvusStore:
    store = MilvusStore(uri, collection, 384, timeout=30)
    store.connect()
    return store


def _reconnect(uri: str, collection: str, until: float) -> MilvusStore:
    # pymilvus keeps one shared channel per address in the process, also across a server
    # restart; it recovers on its own schedule, so the first connects may still time out.
    while True:
        try:
            return _store(uri, collection)
        except StoreError:
            if time.monotonic() > until:
                raise
            time.sleep(2)


def _ingest(corpus: Path, store: MilvusStore, embedder, **kw):
    store.ensure_collection(embedder.fingerprint())
    return run_ingest(
        discover(corpus), embedder=embedder, store=store, detector=LanguageDetector(),
        chunk_tokens=256, overlap_tokens=32, progress=False, prune_doc_ids=True, **kw,
    )


def _state(store: MilvusStore) -> tuple[list[str], dict[str, str], dict[str, np.ndarray]]:
    """Every stored row id (duplicates kept), id -> content hash, id -> vector."""
    chunks = [c for d in store.all_doc_ids() for c in store.chunks_of(d)]
    ids = [c.chunk_id for c in chunks]
    return ids, {c.chunk_id: c.content_hash for c in chunks}, store.get_vectors(ids)


def _timed(fn, *args, **kw) -> tuple[httpx.Response, float]:
    t0 = time.monotonic()
    r = fn(*args, timeout=60, **kw)
    return r, time.monotonic() - t0


def _assert_unavailable(r: httpx.Response, elapsed: float, code: str) -> None:
    assert r.status_code == 503, r.text
    assert r.headers["retry-after"] == "5"
    err = r.json()["error"]
    assert err["code"] == code and err["details"]["retry_after_s"] == 5, err
    assert elapsed < BOUND_S, f"{elapsed:.1f}s while Milvus was away"


def _wait_for(url: str, body: dict | None, until: float) -> httpx.Response:
    while True:
        r = httpx.post(url, json=body, timeout=60) if body else httpx.get(url, timeout=60)
        if r.status_code == 200 or time.monotonic() > until:
            return r
        time.sleep(1)


def test_api_answers_503_while_milvus_is_away_and_recovers_without_restart(
    milvus: MilvusServer, small_corpus: Path, embedder, tmp_path: Path
) -> None:
    store = _store(milvus.uri, "fault_api")
    _ingest(small_corpus, store, embedder)
    store.close()
    api = ApiServer(tmp_path, {
        "REPORTRAG_DATA_DIR": str(tmp_path / "data"),
        "REPORTRAG_MILVUS_URI": milvus.uri,
        "REPORTRAG_COLLECTION": "fault_api",
        "REPORTRAG_MILVUS_TIMEOUT": str(TIMEOUT),
        "REPORTRAG_MODEL": str(embedder.spec.path),
    }).start()
    search = f"{api.url}/v1/search"
    body = {"query": "Which open-source models compete with GPT?", "top_k": 3, "mode": "dense"}
    timings: dict[str, float] = {}
    try:
        ready = _wait_for(f"{api.url}/readyz", None, time.monotonic() + 60)
        assert ready.status_code == 200, ready.text
        before = httpx.post(search, json=body, timeout=60)
        assert before.status_code == 200 and len(before.json()["hits"]) == 3, before.text
        ids = [h["chunk_id"] for h in before.json()["hits"]]

        # (1) Milvus hangs: accepts connections, answers nothing.
        milvus.signal(signal.SIGSTOP)
        try:
            r, timings["search_hung"] = _timed(httpx.post, search, json=body)
            _assert_unavailable(r, timings["search_hung"], "store_unavailable")
            r, timings["readyz_hung"] = _timed(httpx.get, f"{api.url}/readyz")
            _assert_unavailable(r, timings["readyz_hung"], "not_ready")
            # Concurrent requests do not queue behind one reconnect: each is bounded.
            with ThreadPoolExecutor(4) as pool:
                results = list(pool.map(lambda _: _timed(httpx.post, search, json=body), range(4)))
            for r, elapsed in results:
                _assert_unavailable(r, elapsed, "store_unavailable")
            timings["concurrent_hung_max"] = max(e for _, e in results)
            assert httpx.get(f"{api.url}/healthz", timeout=10).status_code == 200
        finally:
            milvus.signal(signal.SIGCONT)
        again = _wait_for(search, body, time.monotonic() + 60)
        assert again.status_code == 200, again.text

        # (2) Milvus stops; the API keeps answering (503) and keeps its process.
        milvus.stop()
        r, timings["search_stopped"] = _timed(httpx.post, search, json=body)
        _assert_unavailable(r, timings["search_stopped"], "store_unavailable")
        r, timings["readyz_stopped"] = _timed(httpx.get, f"{api.url}/readyz")
        _assert_unavailable(r, timings["readyz_stopped"], "not_ready")
        assert api.proc.poll() is None and httpx.get(f"{api.url}/healthz").status_code == 200

        # (3) Milvus is back on the same data: the same API process serves the same hits.
        milvus.start()
        ready = _wait_for(f"{api.url}/readyz", None, time.monotonic() + 120)
        assert ready.status_code == 200, ready.text
        after = httpx.post(search, json=body, timeout=60)
        assert after.status_code == 200, after.text
        assert [h["chunk_id"] for h in after.json()["hits"]] == ids
        assert api.proc.poll() is None
    finally:
        api.stop()
    print(f"\nlatency while Milvus was away (timeout {TIMEOUT}s): "
          + ", ".join(f"{k} {v:.2f}s" for k, v in timings.items()))


def test_milvus_killed_during_ingestion_converges_after_restart(
    milvus: MilvusServer, small_corpus: Path, embedder
) -> None:
    clean = _store(milvus.uri, "fault_clean")
    _ingest(small_corpus, clean, embedder)
    want_ids, want_hashes, want_vectors = _state(clean)
    want_count = clean.count()
    clean.close()
    assert want_count == len(want_ids) == len(set(want_ids)) > 20

    crash = MilvusStore(milvus.uri, "fault_crash", 384, timeout=5)
    crash.connect()
    real_upsert, calls = crash.upsert, []

    def upsert(chunks, vectors, **kw) -> None:
        calls.append(len(chunks))
        if len(calls) == 3:  # SIGKILL, from another thread, while this write is in flight
            threading.Thread(target=milvus.kill).start()
        real_upsert(chunks, vectors, **kw)

    crash.upsert = upsert  # type: ignore[method-assign]
    # Small batches: embedding and writing interleave. Rows were written before the server
    # died, so the failure says so (not the "nothing happened" of a bare store error).
    with pytest.raises(IngestIncompleteError) as failed:
        _ingest(small_corpus, crash, embedder, embed_batch=8, write_batch=8)
    assert isinstance(failed.value.__cause__, StoreError)
    assert failed.value.details["written"] is True
    assert len(calls) >= 3
    with contextlib.suppress(StoreError):
        crash.close()  # its channel points at a dead server

    milvus.start()
    crashed = _reconnect(milvus.uri, "fault_crash", time.monotonic() + 180)
    crashed.ensure_collection(embedder.fingerprint())
    # What the killed run stored, hidden rows (its unfinished document) included: the re-run
    # reuses all of it.
    partial_ids = [cid for d in crashed.all_doc_ids() for cid in crashed.doc_index(d)]
    assert len(set(partial_ids)) < len(want_ids)
    summary = _ingest(small_corpus, crashed, embedder)
    assert summary.embedded == len(want_ids) - len(set(partial_ids) & set(want_ids))
    got_ids, got_hashes, got_vectors = _state(crashed)
    assert sorted(got_ids) == sorted(want_ids)  # no duplicate, nothing lost
    assert got_hashes == want_hashes and crashed.count() == want_count
    # The same vectors: passages may be embedded in bf16, whose rounding depends on the batch
    # a passage was in, so "the same" is a cosine of 0.999, not bit equality.
    for cid, vec in want_vectors.items():
        got = got_vectors[cid]
        cos = float(np.dot(got, vec) / (np.linalg.norm(got) * np.linalg.norm(vec)))
        assert cos > 0.999, (cid, cos)
    crashed.close()
    print(f"\nMilvus killed on write {len(calls)}: {len(set(partial_ids))} of {len(want_ids)} "
          f"chunks had survived; the re-run embedded {summary.embedded}")
