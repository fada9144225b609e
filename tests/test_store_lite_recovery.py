"""Milvus Lite after a crash: truncated index files are rebuilt, not fatal."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from reportrag.store import MilvusStore
from reportrag.types import Chunk, Filters, content_hash, make_chunk_id


def _chunks(n: int) -> list[Chunk]:
    out = []
    for i in range(n):
        text = f"passage number {i} about open source"
        h = content_hash(text)
        out.append(Chunk(make_chunk_id("doc", i, h), "doc", "Doc", "en" if i % 2 else "zh",
                         "report", "", "1. Intro", i, text, 10, 0, len(text), h))
    return out


def test_truncated_index_files_are_rebuilt_on_load(tmp_path: Path, caplog) -> None:
    uri = str(tmp_path / "milvus.db")
    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(20, 8)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    with MilvusStore(uri, "crash", 8) as store:
        store.ensure_collection({"model": "t", "dim": 8})
        store.upsert(_chunks(20), vecs)
        assert store.count() == 20
    index_files = [p for p in Path(uri).rglob("*") if p.suffix in {".sidx", ".idx"}]
    assert index_files, "expected Milvus Lite to have written index files"
    for p in index_files:  # what a SIGKILL in the middle of writing them leaves behind
        p.write_bytes(p.read_bytes()[:7])

    # A fresh process would reopen the file; a new in-process server does the same. Only this
    # file's server: stopping them all (release_all) would pull the session-wide Lite
    # collection of the other tests from under their cached connections.
    from milvus_lite.server_manager import server_manager_instance

    server_manager_instance.release_server(uri)
    with MilvusStore(uri, "crash", 8) as store:
        store.ensure_collection({"model": "t", "dim": 8})
        assert store.count() == 20
        hits = [h.chunk for h in store.rank_dense(vecs[3], Filters(lang=("en",)), 5, rows=True)]
        assert hits and hits[0].ordinal == 3 and all(h.lang == "en" for h in hits)
    assert "rebuilt Milvus Lite index files" in caplog.text
