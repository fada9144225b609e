"""REPORTRAG_PRECISION=int8: passages through the quantized ONNX export, recorded in the
fingerprint, so an index holds vectors of one precision (searchable by any, written by one).

The first tests need no model (lazy engines, made-up vectors in a real Milvus Lite store);
the ``slow`` ones run the real model and ingest corpus text.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from reportrag.embedding.base import (
    PASSAGE_PRECISION,
    ModelSpec,
    PromptScheme,
    with_fingerprint_defaults,
)
from reportrag.embedding.engines import SentenceTransformerEngine
from reportrag.embedding.factory import TextEmbedder
from reportrag.embedding.onnx_passages import OnnxPassageEngine
from reportrag.errors import FingerprintMismatchError, OutdatedCollectionError
from reportrag.ingest.checkpoint import run_digest
from reportrag.store import MilvusStore
from reportrag.store import schema as sc
from reportrag.types import Chunk, Filters

DIM = 8
CORPUS = Path(__file__).resolve().parent.parent / "corpus"


def _embedder(int8: bool) -> TextEmbedder:
    """An embedder whose engines are never loaded (the fingerprint needs no weights)."""
    spec = ModelSpec(name="m", path="/nowhere", source="settings-path", dim=DIM, max_tokens=512,
                     prompts=PromptScheme("query: ", "passage: "), weights_digest="0" * 64)
    st = SentenceTransformerEngine(Path("/nowhere"))
    doc = OnnxPassageEngine(Path("/nowhere")) if int8 else st
    return TextEmbedder(spec, tokenizer_path=Path("/nowhere/tokenizer.json"),
                        document_engine=doc, query_engine=st)


def test_the_fingerprint_records_the_passage_precision_and_a_missing_key_is_float() -> None:
    default, int8 = _embedder(False).fingerprint(), _embedder(True).fingerprint()
    assert default[PASSAGE_PRECISION] == "float"
    assert int8[PASSAGE_PRECISION] == "int8"
    assert {k: v for k, v in int8.items() if k != PASSAGE_PRECISION} == {
        k: v for k, v in default.items() if k != PASSAGE_PRECISION}
    # An index written before the key existed (no passage_precision) reads as float.
    legacy = {k: v for k, v in default.items() if k != PASSAGE_PRECISION}
    stored = sc.stored_fingerprint({"properties": {sc.FINGERPRINT_PROPERTY: json.dumps(legacy)}})
    assert stored is not None and PASSAGE_PRECISION not in stored
    assert with_fingerprint_defaults(stored) == sc.normalize_fingerprint(default)
    assert with_fingerprint_defaults(stored) != sc.normalize_fingerprint(int8)
    # Checkpoint keys differ per precision: a float run's records never skip an int8 run's work.
    digest = {name: run_digest(chunk_tokens=320, overlap_tokens=48, fingerprint=fp)
              for name, fp in (("float", default), ("int8", int8))}
    assert digest["float"] != digest["int8"]


def _chunk(i: int) -> Chunk:
    return Chunk(chunk_id=f"d:{i:05d}:x", doc_id="d", title="D", lang="en", kind="report",
                 date="", section="", ordinal=i, text=f"text {i}", token_count=3, char_start=0,
                 char_end=6, content_hash=f"h{i}", context="D", doc_lang="en")


def test_the_serving_process_child_engine_keeps_the_fingerprint() -> None:
    """``serve`` wraps the passage engine in a ProcessEngine (a child embeds): the fingerprint
    its writes carry must stay the one of the engine in the child, int8 or float."""
    from reportrag.embedding.process_engine import ProcessEngine

    for int8 in (False, True):
        emb = _embedder(int8)
        inner = emb.document_engine
        want = emb.fingerprint()
        emb.document_engine = ProcessEngine({}, name=inner.name, idle_s=60,
                                            precision=str(getattr(inner, "precision", "fp32")))
        assert emb.fingerprint() == want


def test_another_passage_precision_is_searched_but_not_written(tmp_path: Path) -> None:
    float_fp, int8_fp = _embedder(False).fingerprint(), _embedder(True).fingerprint()
    legacy = {k: v for k, v in float_fp.items() if k != PASSAGE_PRECISION}
    db = str(tmp_path / "milvus.db")
    store = MilvusStore(db, "c", DIM)
    store.connect()
    store.ensure_collection(float_fp)
    # As an older reportrag left it: no passage_precision stored.
    store._set_property(sc.FINGERPRINT_PROPERTY, sc.fingerprint_json(legacy))
    vectors = np.eye(DIM, dtype=np.float32)[:2]
    store.upsert([_chunk(0), _chunk(1)], vectors)
    store.close()

    same = MilvusStore(db, "c", DIM)
    same.connect()
    assert same.ensure_collection(float_fp) is False  # the default precision: no rebuild
    same.require_writable()
    same.upsert([_chunk(2)], np.eye(DIM, dtype=np.float32)[2:3])
    same.close()

    other = MilvusStore(db, "c", DIM)
    other.connect()
    other.ensure_collection(int8_fp)  # readable: queries do not depend on the passages' precision
    assert [h.chunk_id for h in other.rank_dense(vectors[1], Filters(), 1)] == ["d:00001:x"]
    with pytest.raises(OutdatedCollectionError, match=r"reportrag ingest --rebuild") as err:
        other.require_writable()
    assert "precision float" in err.value.message and "at int8" in err.value.message
    assert err.value.code == "collection_outdated"
    with pytest.raises(OutdatedCollectionError):
        other.upsert([_chunk(3)], np.eye(DIM, dtype=np.float32)[3:4])
    assert other.count() == 3
    # Another model is still refused outright, and the message names the way out too.
    with pytest.raises(FingerprintMismatchError, match=r"reportrag ingest --rebuild"):
        other.ensure_collection({**int8_fp, "weights_sha256": "1" * 64})
    # A rebuild at int8 takes int8 writes, and refuses the float ones.
    other.drop()
    other.ensure_collection(int8_fp)
    other.upsert([_chunk(0)], vectors[:1])
    assert other.fingerprint() == sc.normalize_fingerprint(int8_fp)
    other.ensure_collection(float_fp)
    with pytest.raises(OutdatedCollectionError, match="REPORTRAG_PRECISION=int8"):
        other.require_writable()
    other.close()


def test_a_migration_treats_a_missing_precision_as_float(tmp_path: Path) -> None:
    from reportrag.store.migrate import migrate

    float_fp, int8_fp = _embedder(False).fingerprint(), _embedder(True).fingerprint()
    src = MilvusStore(str(tmp_path / "src.db"), "c", DIM)
    src.connect()
    src.ensure_collection(float_fp)
    src._set_property(sc.FINGERPRINT_PROPERTY, sc.fingerprint_json(
        {k: v for k, v in float_fp.items() if k != PASSAGE_PRECISION}))  # an older source
    src.upsert([_chunk(0), _chunk(1)], np.eye(DIM, dtype=np.float32)[:2])
    src.close()
    for name, fp in (("float", float_fp), ("int8", int8_fp)):
        dst = MilvusStore(str(tmp_path / f"{name}.db"), "c", DIM)
        dst.connect()
        dst.ensure_collection(fp)  # made by this version: the key is stored
        dst.close()
    report = migrate(str(tmp_path / "src.db"), str(tmp_path / "float.db"),
                     source_collection="c", target_collection="c")
    assert report.added == 2
    with pytest.raises(FingerprintMismatchError, match="int8 passages"):
        migrate(str(tmp_path / "src.db"), str(tmp_path / "int8.db"),
                source_collection="c", target_collection="c")


# --- with the real model -------------------------------------------------------------------


def _paragraphs(per_lang: int = 6) -> dict[str, list[str]]:
    """Real corpus paragraphs per language (the manifest's), 80 to 600 characters."""
    langs = dict(re.findall(r'file = "([^"]+)"\n(?:[^\n]*\n)*?lang = "(\w+)"',
                            (CORPUS / "manifest.toml").read_text(encoding="utf-8")))
    out: dict[str, list[str]] = {}
    for name, lang in sorted(langs.items()):
        for para in (CORPUS / name).read_text(encoding="utf-8").split("\n"):
            para = para.strip()
            if 80 <= len(para) <= 600 and para.count("|") < 3 and len(out.get(lang, [])) < per_lang:
                out.setdefault(lang, []).append(para)
    return out


@pytest.mark.slow
def test_int8_passages_stay_close_to_fp32_in_three_languages(models_dir: Path) -> None:
    from reportrag.embedding import load_embedder

    paras = _paragraphs()
    assert set(paras) == {"en", "zh", "de"}
    texts = [t for lang in sorted(paras) for t in paras[lang]]
    fp32 = load_embedder("intfloat/multilingual-e5-small", models_dir=models_dir,
                         precision="fp32", threads=2)
    int8 = load_embedder("intfloat/multilingual-e5-small", models_dir=models_dir,
                         precision="int8", threads=2, batch_size=4)
    assert int8.engines()["documents"] == "onnxruntime"
    assert int8.precisions()["documents"] == "int8"
    assert int8.fingerprint()[PASSAGE_PRECISION] == "int8"
    assert fp32.fingerprint()[PASSAGE_PRECISION] == "float"
    ref, got = fp32.embed_documents(texts), int8.embed_documents(texts)
    assert got.shape == (len(texts), 384) and got.dtype == np.float32
    cos = np.sum(ref * got, axis=1)
    assert float(cos.min()) >= 0.98, cos
    # Batched by length and put back in the caller's order: each row is its own text's.
    alone = np.stack([int8.embed_documents([t])[0] for t in texts[:3]])
    assert np.all(np.sum(alone * got[:3], axis=1) > 0.99)


@pytest.mark.slow
def test_an_ingestion_at_the_other_precision_is_refused_until_rebuilt(
    embedder, models_dir: Path, tmp_path: Path
) -> None:
    from reportrag.api.ingesting import ingest_from_settings
    from reportrag.embedding import load_embedder
    from reportrag.settings import Settings
    from reportrag.wiring import open_collection, store_from_settings

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(CORPUS / "002_e3e1792454d159ff.txt", corpus)
    settings = Settings(_env_file=None, data_dir=tmp_path / "data", corpus_dir=corpus,
                        model=str(embedder.spec.path), threads=2, milvus_timeout=30)
    int8 = load_embedder(str(embedder.spec.path), models_dir=models_dir, precision="int8",
                         threads=2)
    store = store_from_settings(settings, embedder.dim)
    store.connect()
    try:
        first = ingest_from_settings(settings, embedder=embedder, store=store)
        assert first.embedded > 0
        with pytest.raises(OutdatedCollectionError, match=r"reportrag ingest --rebuild"):
            ingest_from_settings(settings, embedder=int8, store=store)
        assert store.fingerprint()[PASSAGE_PRECISION] == "float"  # nothing was dropped
        again = ingest_from_settings(settings, embedder=int8, store=store, upgrade=True)
        assert again.embedded == first.embedded
        assert store.fingerprint()[PASSAGE_PRECISION] == "int8"
    finally:
        store.close()
    # The default process still searches the int8 index (its queries are the same).
    reader = open_collection(settings, embedder)
    try:
        hits = reader.rank_dense(embedder.embed_query("open source"), Filters(), 3)
        assert len(hits) == 3
    finally:
        reader.close()
