"""Streaming ingestion with a checkpoint, real model and Milvus Lite: skip, resume, converge."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from reportrag.api.ingesting import forget_from_checkpoint, ingest_from_settings
from reportrag.settings import Settings
from reportrag.wiring import store_from_settings

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parent.parent
SMALL = ["002_e3e1792454d159ff.txt", "003_18194aaf734a0421.txt", "004_17b3d39a7c38cc16.txt"]


@pytest.fixture()
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    for name in SMALL:
        shutil.copy(REPO / "corpus" / name, folder / name)
    return folder


def _settings(data: Path, corpus: Path, embedder) -> Settings:
    return Settings(
        _env_file=None,
        data_dir=data,
        corpus_dir=corpus,
        model=str(embedder.spec.path),
        threads=2,
        chunk_tokens=256,
        chunk_overlap_tokens=32,
    )


def _snapshot(store) -> dict[str, str]:
    return {cid: h for d in store.all_doc_ids() for cid, h in store.doc_index(d).items()}


class CountingStore:
    """The real store, counting the per-document reads a checkpoint is meant to avoid."""

    def __init__(self, store) -> None:
        self._store = store
        self.chunks_of_calls = 0

    def chunks_of(self, doc_id: str):
        self.chunks_of_calls += 1
        return self._store.chunks_of(doc_id)

    def __getattr__(self, name: str):
        return getattr(self._store, name)


def test_unchanged_rerun_skips_every_document_and_changes_nothing(
    corpus, tmp_path, embedder
) -> None:
    settings = _settings(tmp_path / "data", corpus, embedder)
    store = store_from_settings(settings, embedder.dim)
    store.connect()
    first = ingest_from_settings(settings, embedder=embedder, store=store)
    assert first.skipped_documents == 0 and first.embedded == first.chunks > 0
    assert first.consolidated == first.chunks  # Milvus Lite: every row into one segment
    before = _snapshot(store)

    counting = CountingStore(store)
    second = ingest_from_settings(settings, embedder=embedder, store=counting)
    assert second.skipped_documents == len(SMALL)
    assert (second.added, second.updated, second.deleted, second.embedded) == (0, 0, 0, 0)
    assert second.unchanged == second.chunks == first.chunks
    assert second.consolidated == 0  # nothing written, nothing rewritten
    assert counting.chunks_of_calls == 0  # nothing was read back per document
    assert _snapshot(store) == before

    # A full compare agrees with what the checkpointed run left behind.
    full = ingest_from_settings(settings, embedder=embedder, store=store, full=True)
    assert full.skipped_documents == 0
    assert (full.added, full.updated, full.deleted, full.embedded) == (0, 0, 0, 0)
    store.close()


def test_an_edited_document_is_the_only_one_chunked_again(corpus, tmp_path, embedder) -> None:
    settings = _settings(tmp_path / "data", corpus, embedder)
    store = store_from_settings(settings, embedder.dim)
    store.connect()
    ingest_from_settings(settings, embedder=embedder, store=store)
    path = corpus / SMALL[1]
    text = path.read_text(encoding="utf-8")
    assert "Zhou Jingren" in text
    path.write_text(text.replace("Zhou Jingren", "Zhou J. (edited)", 1), encoding="utf-8")
    counting = CountingStore(store)
    summary = ingest_from_settings(settings, embedder=embedder, store=counting)
    assert summary.skipped_documents == len(SMALL) - 1
    assert counting.chunks_of_calls == 1
    assert 1 <= summary.embedded <= 3 and summary.deleted == summary.embedded

    # The clean answer: the edited corpus ingested from scratch into another collection.
    fresh = _settings(tmp_path / "fresh", corpus, embedder)
    clean = store_from_settings(fresh, embedder.dim)
    clean.connect()
    ingest_from_settings(fresh, embedder=embedder, store=clean)
    assert _snapshot(store) == _snapshot(clean)
    clean.close()
    store.close()


def test_a_recreated_collection_is_not_fooled_by_the_old_checkpoint(
    corpus, tmp_path, embedder
) -> None:
    settings = _settings(tmp_path / "data", corpus, embedder)
    store = store_from_settings(settings, embedder.dim)
    store.connect()
    first = ingest_from_settings(settings, embedder=embedder, store=store)
    store.drop()
    again = ingest_from_settings(settings, embedder=embedder, store=store)
    assert again.skipped_documents == 0 and again.embedded == first.chunks
    assert store.count() == first.chunks
    store.close()


def test_a_document_deleted_by_hand_comes_back_on_the_next_run(
    corpus, tmp_path, embedder
) -> None:
    settings = _settings(tmp_path / "data", corpus, embedder)
    store = store_from_settings(settings, embedder.dim)
    store.connect()
    ingest_from_settings(settings, embedder=embedder, store=store)
    before = _snapshot(store)
    doc = store.all_doc_ids()[0]
    store.delete(list(store.doc_index(doc)))  # what DELETE /v1/documents/{id} does ...
    forget_from_checkpoint(settings, doc)  # ... and then tells the checkpoint
    summary = ingest_from_settings(settings, embedder=embedder, store=store)
    assert summary.skipped_documents == len(SMALL) - 1
    assert _snapshot(store) == before
    store.close()


def test_dry_run_reports_from_the_checkpoint_and_writes_nothing(
    corpus, tmp_path, embedder
) -> None:
    settings = _settings(tmp_path / "data", corpus, embedder)
    store = store_from_settings(settings, embedder.dim)
    store.connect()
    first = ingest_from_settings(settings, embedder=embedder, store=store)
    (corpus / SMALL[0]).unlink()
    dry = ingest_from_settings(settings, embedder=embedder, store=store, dry_run=True)
    assert dry.dry_run and dry.deleted > 0 and dry.skipped_documents == len(SMALL) - 1
    assert store.count() == first.chunks
    store.close()


_CRASHER = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from reportrag.api.ingesting import ingest_from_settings
    from reportrag.embedding import load_embedder
    from reportrag.settings import Settings
    from reportrag.wiring import store_from_settings

    corpus, data, model = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    kill_at = int(sys.argv[4])
    settings = Settings(_env_file=None, data_dir=data, corpus_dir=corpus, model=model,
                        threads=2, chunk_tokens=256, chunk_overlap_tokens=32, ingest_batch=8)
    emb = load_embedder(model, models_dir=settings.models_dir)
    store = store_from_settings(settings, emb.dim)
    store.connect()
    real_upsert, calls = store.upsert, []
    def upsert(chunks, vectors, **kw):
        real_upsert(chunks, vectors, **kw)
        calls.append(1)
        if len(calls) == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
    store.upsert = upsert
    ingest_from_settings(settings, embedder=emb, store=store)
""")


def test_a_killed_run_resumes_from_the_checkpoint_and_converges(
    corpus, tmp_path, embedder
) -> None:
    clean_settings = _settings(tmp_path / "clean", corpus, embedder)
    clean = store_from_settings(clean_settings, embedder.dim)
    clean.connect()
    reference = ingest_from_settings(clean_settings, embedder=embedder, store=clean)
    expected = _snapshot(clean)
    clean.close()
    first_doc = reference.per_document[0]["chunks"]

    data = tmp_path / "crash"
    # Writes go out in batches of ingest_batch=8 rows: die a few batches after the first
    # document is complete, in the middle of the rest.
    kill_at = first_doc // 8 + 3
    proc = subprocess.run(
        [sys.executable, "-c", _CRASHER, str(corpus), str(data), str(embedder.spec.path),
         str(kill_at)],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]

    settings = _settings(data, corpus, embedder)
    store = store_from_settings(settings, embedder.dim)
    store.connect()
    store.ensure_collection(embedder.fingerprint())  # reopened after the crash
    partial = _snapshot(store)
    assert 0 < len(partial) < len(expected)
    summary = ingest_from_settings(settings, embedder=embedder, store=store)
    assert summary.skipped_documents >= 1  # finished before the kill: not redone
    assert summary.embedded == len(expected) - len(partial)
    assert _snapshot(store) == expected and store.count() == len(expected)
    assert summary.consolidated == len(expected)  # the killed run's consolidation, done now
    again = ingest_from_settings(settings, embedder=embedder, store=store)
    assert again.skipped_documents == len(SMALL) and again.embedded == 0
    assert again.consolidated == 0
    store.close()
