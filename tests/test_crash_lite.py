"""An unmodified `reportrag ingest` process SIGKILLed from outside while it writes to Milvus
Lite: the re-run converges to what a clean run stores (ids, hashes, vectors, count).

The kill is timed from the file system: the moment Milvus Lite's write-ahead log first holds
data (an upsert in progress) or the first segment file appears (a flush in progress).
(tests/test_ingest.py's crash test kills a process between two writes, from inside.)
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from reportrag.ingest.corpus import discover
from reportrag.ingest.pipeline import run_ingest
from reportrag.langid import LanguageDetector
from reportrag.settings import Settings
from reportrag.store import MilvusStore

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parent.parent
SMALL = ["002_e3e1792454d159ff.txt", "003_18194aaf734a0421.txt"]
DEFAULTS = Settings(_env_file=None)  # the CLI's chunking and collection, mirrored in-process


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("crash-corpus")
    for name in SMALL:
        shutil.copy(REPO / "corpus" / name, path / name)
    return path


def _open(data_dir: Path) -> MilvusStore:
    store = MilvusStore(str(data_dir / "milvus.db"), DEFAULTS.collection, 384)
    store.connect()
    return store


def _ingest(corpus: Path, store: MilvusStore, embedder):
    store.ensure_collection(embedder.fingerprint())
    return run_ingest(discover(corpus), embedder=embedder, store=store,
                      detector=LanguageDetector(), chunk_tokens=DEFAULTS.chunk_tokens,
                      overlap_tokens=DEFAULTS.chunk_overlap_tokens, progress=False,
                      prune_doc_ids=True)


def _state(store: MilvusStore) -> tuple[list[str], dict[str, str], dict[str, np.ndarray]]:
    # Every stored row, hidden ones too (a killed run's unfinished document): what a re-run
    # can reuse.
    hashes = {cid: h for d in store.all_doc_ids() for cid, h in store.doc_index(d).items()}
    ids = list(hashes)
    return ids, hashes, store.get_vectors(ids)


@pytest.fixture(scope="module")
def clean(corpus: Path, embedder, tmp_path_factory: pytest.TempPathFactory):
    store = _open(tmp_path_factory.mktemp("crash-clean"))
    _ingest(corpus, store, embedder)
    state = _state(store)
    store.close()
    return state


def _writing(collection_dir: Path, point: str) -> bool:
    if point == "wal":
        wal = collection_dir / "wal"
        return wal.is_dir() and any(p.stat().st_size > 0 for p in wal.iterdir() if p.is_file())
    data = collection_dir / "partitions"
    return data.is_dir() and any(data.rglob("*.parquet"))


@pytest.mark.parametrize("point", ["wal", "segment"])
def test_ingest_process_killed_mid_write_converges(
    point: str, corpus: Path, clean, embedder, tmp_path: Path
) -> None:
    want_ids, want_hashes, want_vectors = clean
    data_dir = tmp_path / "data"
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1",
           "REPORTRAG_DATA_DIR": str(data_dir), "REPORTRAG_CORPUS_DIR": str(corpus),
           "REPORTRAG_MODEL": str(embedder.spec.path),
           "REPORTRAG_INGEST_BATCH": "8"}  # several writes, so the kill can land between them
    if point == "segment":
        # A run flushes once, at its end; a small memtable makes Lite write segments before.
        env["MILVUS_LITE_MEMTABLE_MEMORY_LIMIT_BYTES"] = str(64 * 1024)
    proc = subprocess.Popen([sys.executable, "-m", "reportrag.api.cli", "ingest", "--no-progress"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    collection_dir = data_dir / "milvus.db" / "collections" / DEFAULTS.collection
    deadline = time.monotonic() + 600
    try:
        while not _writing(collection_dir, point):
            assert proc.poll() is None, f"ingest ended before the kill: {proc.stderr.read()!r}"
            assert time.monotonic() < deadline, "no write seen"
            time.sleep(0.001)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL

    crashed = _open(data_dir)
    crashed.ensure_collection(embedder.fingerprint())  # reopens (and repairs) what was left
    partial = set(_state(crashed)[0])
    assert len(partial) < len(want_ids)
    summary = _ingest(corpus, crashed, embedder)
    got_ids, got_hashes, got_vectors = _state(crashed)
    assert sorted(got_ids) == sorted(want_ids)  # no duplicate, nothing lost
    assert got_hashes == want_hashes and crashed.count() == len(want_ids)
    # The same vectors: passages may be embedded in bf16, whose rounding depends on the batch
    # a passage was in, so "the same" is a cosine of 0.999, not bit equality.
    for cid, vec in want_vectors.items():
        got = got_vectors[cid]
        cos = float(np.dot(got, vec) / (np.linalg.norm(got) * np.linalg.norm(vec)))
        assert cos > 0.999, (cid, cos)
    assert summary.embedded == len(want_ids) - len(partial)
    shown = sum(len(crashed.chunks_of(d)) for d in crashed.all_doc_ids())
    assert shown == len(want_ids)  # all of it visible now
    crashed.close()
    print(f"\nkilled at first {point}: {len(partial)} of {len(want_ids)} chunks survived")
