"""Translation pairs found without a manifest, with the real model and Milvus Lite (slow)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from reportrag.ingest.checkpoint import Checkpoint
from reportrag.ingest.corpus import discover
from reportrag.ingest.pipeline import run_ingest
from reportrag.langid import LanguageDetector
from reportrag.store import MilvusStore

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parent.parent
EN, ZH = "000_a4d6d44b88908d33", "001_01d7e7f86c812082"  # default doc ids: the file names
UNPAIRED = ("002_e3e1792454d159ff", "003_18194aaf734a0421", "004_17b3d39a7c38cc16")


def test_report_editions_are_paired_without_a_manifest(tmp_path: Path, embedder) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for f in sorted((REPO / "corpus").glob("00*.txt")):
        shutil.copy(f, corpus / f.name)  # no manifest.toml: nothing is declared
    store = MilvusStore(str(tmp_path / "milvus.db"), "t_pairs", embedder.dim, timeout=30.0)
    store.connect()
    store.ensure_collection(embedder.fingerprint())
    checkpoint = Checkpoint(tmp_path / "checkpoint.jsonl", store.generation() or "g")

    def ingest():
        return run_ingest(
            discover(corpus), embedder=embedder, store=store, detector=LanguageDetector(),
            chunk_tokens=320, overlap_tokens=48, progress=False, prune_doc_ids=True,
            checkpoint=checkpoint,
        )

    try:
        first = ingest()
        assert first.translation_detection["ran"] is True
        (pair,) = first.alignments
        assert (pair["src_doc"], pair["tgt_doc"], pair["source"]) == (EN, ZH, "detected")
        assert pair["aligned"] and pair["links"] > 100 and pair["confidence"] > 0.9
        docs = {d["doc_id"]: d for d in store.documents()}
        assert [t["doc_id"] for t in docs[EN]["translations"]] == [ZH]
        assert docs[ZH]["translations"][0]["source"] == "detected"
        assert all(docs[d]["translations"] == [] for d in UNPAIRED)
        linked = [c for c in store.chunks_of(EN) if c.counterparts]
        assert len(linked) > 100 and all(
            cp.chunk_id.startswith(ZH + ":") for c in linked for cp in c.counterparts
        )

        # nothing changed: no detection, no alignment, nothing written
        again = ingest()
        assert again.skipped_documents == 5 and again.alignments == []
        assert again.translation_detection == {"ran": False}
        assert [t["doc_id"] for t in store.documents()[0]["translations"]] == [ZH]
    finally:
        store.close()
