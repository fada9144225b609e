"""One contract suite for MilvusStore, run against Milvus Lite and (when configured) a server.

The server backend runs when REPORTRAG_TEST_MILVUS_URI is set (e.g. http://127.0.0.1:19530,
started with ``scripts/milvus-server.sh start DIR``); otherwise it is skipped. No embedding
model: seeded random unit vectors of dim 8 and hand-made chunks in English, Chinese, German.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reportrag.errors import (
    CapabilityError,
    ConfigError,
    FilterError,
    FingerprintMismatchError,
    NotFoundError,
    StoreError,
    StoreUnavailableError,
)
from reportrag.store import IndexConfig, MilvusStore, StoreCapabilities
from reportrag.store.capabilities import detect_dialect, parse_version
from reportrag.store.filters import compile_filters, prefix_cover, quote, successor
from reportrag.types import Chunk, Counterpart, Filters, content_hash

DIM = 8
SERVER_URI = os.environ.get("REPORTRAG_TEST_MILVUS_URI", "")
FINGERPRINT: dict[str, object] = {"model": "test/random-unit", "dim": DIM, "normalized": True}

# (doc_id, lang, kind, date, section, text)
_ROWS = [
    (
        "rep-en",
        "en",
        "report",
        "2023-05-01",
        "1 Introduction",
        "Open source software became the backbone of commercial artificial intelligence.",
    ),
    (
        "rep-en",
        "en",
        "report",
        "2023-05-01",
        "2 Capital markets › 2.3 Funding",
        "Venture capital funding rounds for open source startups grew in 2023.",
    ),
    (
        "rep-en",
        "en",
        "report",
        "2023-05-01",
        "2 Capital markets › 2.4 Licences",
        "Permissive licences such as Apache and MIT dominate new repositories.",
    ),
    (
        "rep-zh",
        "zh",
        "report",
        "2023-05-01",
        "商业化篇 › 开源与人工智能",
        "开源软件已经成为商业人工智能的基础。",
    ),
    (
        "rep-zh",
        "zh",
        "report",
        "2023-05-01",
        "商业化篇 › 资本市场",
        "二零二三年开源初创企业的风险投资融资轮次持续增长。",
    ),
    (
        "rep-zh",
        "zh",
        "report",
        "2023-05-01",
        "商业化篇 › 许可证",
        "气候变化对农业的影响日益显著，许可证问题也受到关注。",
    ),
    (
        "art-de",
        "de",
        "article",
        "2024-08-14",
        "Einleitung",
        "Die Debatte über offene und geschlossene Sprachmodelle wird schärfer.",
    ),
    (
        "art-de",
        "de",
        "article",
        "2024-08-14",
        "Sicherheit",
        "Geschlossene Modelle versprechen mehr Sicherheit, offene mehr Transparenz.",
    ),
    (
        "note-xx",
        "en",
        "note",
        "",
        "Appendix",
        "An undated note about reference lists and bibliography formatting.",
    ),
]


def make_chunks() -> list[Chunk]:
    """The sample corpus: ids are '<doc>:<ordinal>', ordinals count within each document."""
    chunks: list[Chunk] = []
    per_doc: dict[str, int] = {}
    for doc_id, lang, kind, date, section, text in _ROWS:
        ordinal = per_doc.get(doc_id, 0)
        per_doc[doc_id] = ordinal + 1
        chunks.append(
            Chunk(
                chunk_id=f"{doc_id}:{ordinal}",
                doc_id=doc_id,
                title=f"Title of {doc_id}",
                lang=lang,
                doc_lang=lang,  # what filters.lang matches
                kind=kind,
                date=date,
                section=section,
                ordinal=ordinal,
                text=text,
                token_count=len(text.split()),
                char_start=ordinal * 100,
                char_end=ordinal * 100 + len(text),
                content_hash=content_hash(text),
            )
        )
    for a, b in zip(chunks, chunks[1:], strict=False):
        if a.doc_id == b.doc_id:
            a.next_id, b.prev_id = b.chunk_id, a.chunk_id
    return chunks


def unit_vectors(n: int, seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    v = rng.normal(size=(n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


# -- backends -----------------------------------------------------------------------------

BACKENDS = [
    pytest.param("lite", id="lite"),
    pytest.param(
        "server",
        id="server",
        marks=[
            pytest.mark.integration,
            pytest.mark.skipif(
                not SERVER_URI,
                reason="REPORTRAG_TEST_MILVUS_URI not set "
                "(start one with scripts/milvus-server.sh start DIR)",
            ),
        ],
    ),
]


@pytest.fixture(params=BACKENDS)
def backend_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return str(tmp_path / "milvus.db") if request.param == "lite" else SERVER_URI


StoreFactory = Callable[..., MilvusStore]


@pytest.fixture
def make_store(backend_uri: str) -> Iterator[StoreFactory]:
    """Connected stores on this backend; every collection made here is dropped afterwards."""
    made: list[MilvusStore] = []
    default_name = f"t_{uuid.uuid4().hex[:12]}"

    def factory(collection: str | None = None, **kwargs: object) -> MilvusStore:
        store = MilvusStore(backend_uri, collection or default_name, DIM, timeout=30.0, **kwargs)  # type: ignore[arg-type]
        store.connect()
        made.append(store)
        return store

    yield factory
    for store in reversed(made):
        store.connect()  # no-op unless the test closed it
        try:
            if store.has_collection():
                store.drop()
        finally:
            store.close()


Loaded = tuple[MilvusStore, list[Chunk], np.ndarray]


def _load(store: MilvusStore) -> Loaded:
    assert store.ensure_collection(FINGERPRINT) is True
    chunks = make_chunks()
    vectors = unit_vectors(len(chunks))
    store.upsert(chunks, vectors)
    return store, chunks, vectors


@pytest.fixture
def loaded(make_store: StoreFactory) -> Loaded:
    """A fresh collection with the sample corpus, for tests that change it."""
    return _load(make_store())


@pytest.fixture(scope="module", params=BACKENDS)
def shared(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Loaded]:
    """One collection with the sample corpus per backend, for read-only tests (fast)."""
    if request.param == "lite":
        uri = str(tmp_path_factory.mktemp("shared") / "milvus.db")
    else:
        uri = SERVER_URI
    store = MilvusStore(uri, f"t_shared_{uuid.uuid4().hex[:8]}", DIM, timeout=30.0)
    store.connect()
    try:
        yield _load(store)
    finally:
        store.drop()
        store.close()


def ids(hits: list) -> set[str]:
    return {h.chunk_id for h in hits}


# -- lifecycle ----------------------------------------------------------------------------


def test_capabilities_match_the_backend(make_store: StoreFactory, backend_uri: str) -> None:
    caps = make_store().capabilities
    assert isinstance(caps, StoreCapabilities)
    assert caps.filter_templating is False  # neither Lite 3.2 nor server 2.3.5 parse templates
    if backend_uri.endswith(".db"):
        assert (caps.kind, caps.bm25) == ("lite", True)
        assert caps.server_version.startswith("milvus_lite")
    else:
        assert caps.kind == "server"
        assert caps.bm25 is ((parse_version(caps.server_version) or (0, 0, 0)) >= (2, 5, 0))
    assert json.loads(json.dumps(caps.to_dict()))["kind"] == caps.kind


def test_create_then_reopen_with_a_new_instance(make_store: StoreFactory, backend_uri: str) -> None:
    first = make_store()
    assert not first.has_collection()
    assert first.fingerprint() is None
    assert first.ensure_collection(FINGERPRINT) is True
    chunks, vectors = make_chunks(), unit_vectors(len(make_chunks()))
    first.upsert(chunks, vectors)
    name = first._collection  # same collection, new store object
    first.close()

    # Release it behind the store's back, as a restart would: reopening must load it.
    from pymilvus import MilvusClient

    raw = MilvusClient(uri=backend_uri, timeout=30)
    raw.release_collection(name, timeout=30)
    assert "NotLoad" in str(raw.get_load_state(name, timeout=30)["state"])
    raw.close()

    second = make_store(name)
    assert second.ensure_collection(FINGERPRINT) is False
    assert second.fingerprint() == json.loads(json.dumps(FINGERPRINT))
    assert second.count() == len(chunks)
    hits = second.rank_dense(vectors[4], Filters(), 3)
    assert hits[0].chunk_id == chunks[4].chunk_id
    assert hits[0].score == pytest.approx(1.0, abs=1e-4)


def test_fingerprint_mismatch_names_both(make_store: StoreFactory) -> None:
    store = make_store()
    store.ensure_collection(FINGERPRINT)
    other = {**FINGERPRINT, "model": "another/model"}
    with pytest.raises(FingerprintMismatchError) as err:
        make_store(store._collection).ensure_collection(other)
    assert err.value.details["stored"]["model"] == "test/random-unit"
    assert err.value.details["wanted"]["model"] == "another/model"
    assert store.fingerprint() == json.loads(json.dumps(FINGERPRINT))  # untouched


def test_drop_removes_the_collection(make_store: StoreFactory) -> None:
    store = make_store()
    store.ensure_collection(FINGERPRINT)
    assert store.has_collection()
    store.drop()
    assert not store.has_collection()
    assert store.ensure_collection(FINGERPRINT) is True


def test_generation_is_stable_and_changes_when_the_collection_is_recreated(
    make_store: StoreFactory, backend_uri: str
) -> None:
    store = make_store()
    store.ensure_collection(FINGERPRINT)
    first = store.generation()
    assert first and first == store.generation()
    assert make_store(store._collection).generation() == first  # another client agrees
    store.drop()
    store.ensure_collection(FINGERPRINT)
    assert store.generation() not in (None, first)

    # A collection created by hand (or by an older reportrag) gets one on first request.
    from pymilvus import DataType, MilvusClient

    raw = MilvusClient(uri=backend_uri, timeout=30)
    name = f"t_raw_{uuid.uuid4().hex[:8]}"
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("v", DataType.FLOAT_VECTOR, dim=2)
    raw.create_collection(name, schema=schema, timeout=30)
    try:
        legacy = make_store(name)
        given = legacy.generation()
        assert given and legacy.generation() == given
    finally:
        raw.drop_collection(name, timeout=30)
        raw.close()


# -- writes -------------------------------------------------------------------------------


def test_upsert_is_idempotent(loaded: Loaded) -> None:
    store, chunks, vectors = loaded
    assert store.count() == len(chunks)
    store.upsert(chunks, vectors)
    assert store.count() == len(chunks)
    changed = make_chunks()[0]
    changed.text = "Replaced text."
    store.upsert([changed], vectors[:1])
    assert store.count() == len(chunks)
    assert store.get([changed.chunk_id])[0].text == "Replaced text."


def test_upsert_rejects_bad_input(loaded: Loaded) -> None:
    store, chunks, vectors = loaded
    with pytest.raises(ValueError):
        store.upsert(chunks[:2], vectors[:3])
    too_long = make_chunks()[0]
    too_long.lang = "x" * 100
    with pytest.raises(StoreError, match="lang"):
        store.upsert([too_long], vectors[:1])
    assert store.count() == len(chunks)


def test_delete_counts_only_existing(loaded: Loaded) -> None:
    store, chunks, _ = loaded
    gone = [chunks[0].chunk_id, chunks[3].chunk_id]
    assert store.delete([*gone, "no-such:chunk"]) == 2
    assert store.count() == len(chunks) - 2
    assert store.get(gone) == []
    assert store.delete(gone) == 0


def test_document_translations_live_on_the_first_chunk(loaded: Loaded) -> None:
    from reportrag.types import Translation

    store, chunks, vectors = loaded
    assert store.document_translations() == {}
    assert all(d["translations"] == [] for d in store.documents())
    records = {
        "rep-en": [
            Translation("rep-zh", 0.971, "detected"),
            Translation("art-de", 0.8, "declared"),
        ],
        "rep-zh": [Translation("rep-en", 0.971, "detected")],
        "art-de": [Translation("rep-en", 0.8, "declared")],
        "gone": [Translation("rep-en", 0.5, "detected")],  # no such document: skipped
    }
    assert store.set_document_translations(records) == 3
    del records["gone"]
    assert store.document_translations() == records
    docs = {d["doc_id"]: d for d in store.documents()}
    assert docs["rep-zh"]["translations"] == [
        {"doc_id": "rep-en", "confidence": 0.971, "source": "detected"}
    ]
    assert docs["note-xx"]["translations"] == []
    # rewriting a first chunk's counterparts keeps the record, and the record the counterparts
    head = next(c for c in chunks if c.doc_id == "rep-en" and c.ordinal == 0)
    store.set_counterparts({head.chunk_id: [Counterpart("rep-zh:0", "zh", 0.9)]})
    assert store.document_translations()["rep-en"] == records["rep-en"]
    store.set_document_translations({"rep-en": [], "rep-zh": [], "art-de": []})
    assert store.document_translations() == {}
    assert store.get([head.chunk_id])[0].counterparts == [Counterpart("rep-zh:0", "zh", 0.9)]
    # a translation to a document that is no longer stored is not shown
    store.set_document_translations({"rep-zh": [Translation("vanished", 0.9, "detected")]})
    assert next(d for d in store.documents() if d["doc_id"] == "rep-zh")["translations"] == []


def test_set_counterparts_round_trip(loaded: Loaded) -> None:
    store, chunks, vectors = loaded
    en, zh = chunks[1], chunks[4]
    store.set_counterparts(
        {
            en.chunk_id: [Counterpart(zh.chunk_id, "zh", 0.91)],
            zh.chunk_id: [Counterpart(en.chunk_id, "en", 0.91)],
            "missing:9": [Counterpart(en.chunk_id, "en", 0.5)],
        }
    )
    got = {c.chunk_id: c for c in store.get([en.chunk_id, zh.chunk_id])}
    assert got[en.chunk_id].counterparts == [Counterpart(zh.chunk_id, "zh", 0.91)]
    assert got[zh.chunk_id].counterparts == [Counterpart(en.chunk_id, "en", 0.91)]
    assert got[en.chunk_id].text == en.text and got[en.chunk_id].section == en.section
    np.testing.assert_allclose(store.get_vectors([en.chunk_id])[en.chunk_id], vectors[1], atol=1e-6)
    assert store.count() == len(chunks)
    store.set_counterparts({en.chunk_id: []})
    assert store.get([en.chunk_id])[0].counterparts == []


def test_rank_searches_read_only_the_fields_asked_for(loaded: Loaded) -> None:
    """rank_dense/rank_text: ids and scores; counterparts or whole chunks only when asked,
    with the same ranking either way."""
    store, chunks, vectors = loaded
    en, zh = chunks[1], chunks[4]
    store.set_counterparts({en.chunk_id: [Counterpart(zh.chunk_id, "zh", 0.91)]})
    for filters in (Filters(), Filters(lang=("en",))):
        full = store.rank_dense(vectors[1], filters, 4, rows=True)
        light = store.rank_dense(vectors[1], filters, 4)
        assert [h.chunk_id for h in light] == [h.chunk_id for h in full]
        assert [h.score for h in light] == pytest.approx([h.score for h in full], abs=1e-6)
        assert all(h.counterparts is None and h.chunk is None for h in light)  # not read
    rows = store.rank_dense(vectors[1], Filters(), 4, rows=True)
    assert [h.chunk for h in rows] == store.get([h.chunk_id for h in rows])  # whole chunks
    assert rows[0].chunk_id == en.chunk_id  # its own vector: the counterparts come along
    assert rows[0].counterparts == [Counterpart(zh.chunk_id, "zh", 0.91)]
    with_cp = {h.chunk_id: h for h in store.rank_dense(vectors[1], Filters(), 3, counterparts=True)}
    assert with_cp[en.chunk_id].counterparts == [Counterpart(zh.chunk_id, "zh", 0.91)]
    assert all(h.counterparts == [] for i, h in with_cp.items() if i != en.chunk_id)
    assert all(h.chunk is None for h in with_cp.values())
    if store.capabilities.bm25:
        full = store.rank_text("venture capital funding", Filters(), 3, rows=True)
        light = store.rank_text("venture capital funding", Filters(), 3, counterparts=True)
        assert [h.chunk_id for h in light] == [h.chunk_id for h in full]
        assert [h.score for h in light] == pytest.approx([h.score for h in full], abs=1e-6)
        assert [h.chunk for h in full] == store.get([h.chunk_id for h in full])
        assert all(h.counterparts is not None for h in light)
        assert store.rank_text("  ", Filters(), 3) == []
    else:
        with pytest.raises(CapabilityError):
            store.rank_text("funding", Filters(), 3)


_BM25_QUERIES = ("open source funding", "Sicherheit Modelle", "人工智能 开源", "licences")


def _text_scores(store: MilvusStore) -> dict[str, list[tuple[str, float]]]:
    return {
        q: [(h.chunk_id, round(h.score, 4)) for h in store.rank_text(q, Filters(), 10)]
        for q in _BM25_QUERIES
    }


def test_bm25_scores_do_not_depend_on_how_the_rows_were_written(
    make_store: StoreFactory,
) -> None:
    """Written at once, or piecemeal with stale versions between: the same BM25 ranking.

    Milvus Lite scores BM25 with each segment's own statistics (a flush writes a segment),
    stale row versions included; consolidate() leaves one segment of live rows.
    """
    at_once = make_store()
    if not at_once.capabilities.bm25:
        pytest.skip(f"no BM25 on {at_once.capabilities.server_version}")
    chunks, vectors = make_chunks(), unit_vectors(len(_ROWS))
    at_once.ensure_collection(FINGERPRINT)
    with at_once.batched_writes() as batch:  # ends with consolidate()
        at_once.upsert(chunks, vectors)
    assert batch.consolidated == (len(chunks) if at_once.capabilities.kind == "lite" else 0)
    piecemeal = make_store(f"t_{uuid.uuid4().hex[:12]}")
    piecemeal.ensure_collection(FINGERPRINT)
    # Each upsert is flushed: three segments (Lite compacts from four), one of stale rows.
    for part in (slice(0, 5), slice(5, None), slice(0, 3)):
        piecemeal.upsert(chunks[part], vectors[part])
    expected = _text_scores(at_once)
    assert all(expected.values())
    if piecemeal.capabilities.kind == "lite":
        assert _text_scores(piecemeal) != expected  # the skew this guards against
    assert piecemeal.consolidate() == (len(chunks) if piecemeal.capabilities.kind == "lite" else 0)
    assert _text_scores(piecemeal) == expected
    assert piecemeal.count() == len(chunks)


def test_consolidation_is_due_after_writes_until_done(make_store: StoreFactory) -> None:
    store, chunks, vectors = _load(make_store())
    lite = store.capabilities.kind == "lite"
    name = store.collection
    # Another process (or the re-run of a killed one) sees the write the first did not finish.
    other = make_store(name)
    assert other.consolidate() == (len(chunks) if lite else 0)
    assert other.consolidate() == 0 and store.consolidate() == (len(chunks) if lite else 0)
    assert store.consolidate() == 0  # nothing written since
    with store.batched_writes():
        assert store.delete([chunks[0].chunk_id]) == 1
        assert store.count() == len(chunks) - 1  # unflushed writes are read back
        assert store.consolidate() == (len(chunks) - 1 if lite else 0)
    assert make_store(name).consolidate() == 0
    assert store.get([chunks[1].chunk_id])[0] == chunks[1]
    np.testing.assert_allclose(store.get_vectors([chunks[1].chunk_id])[chunks[1].chunk_id],
                               vectors[1], atol=1e-6)


def test_a_failed_batch_keeps_what_it_wrote(make_store: StoreFactory) -> None:
    store = make_store()
    store.ensure_collection(FINGERPRINT)
    chunks, vectors = make_chunks(), unit_vectors(len(_ROWS))
    with pytest.raises(RuntimeError), store.batched_writes():
        store.upsert(chunks[:3], vectors[:3])
        raise RuntimeError("killed mid-run")
    reopened = make_store(store.collection)
    assert reopened.count() == 3
    assert reopened.consolidate() == (3 if store.capabilities.kind == "lite" else 0)


# -- reads --------------------------------------------------------------------------------


def test_get_keeps_the_order_asked(shared: Loaded) -> None:
    store, chunks, _ = shared
    asked = [chunks[7].chunk_id, "missing:1", chunks[0].chunk_id, chunks[4].chunk_id]
    got = store.get(asked)
    assert [c.chunk_id for c in got] == [chunks[7].chunk_id, chunks[0].chunk_id, chunks[4].chunk_id]
    assert got[0] == chunks[7]  # every field survives the round trip


def test_get_vectors(shared: Loaded) -> None:
    store, chunks, vectors = shared
    got = store.get_vectors([chunks[2].chunk_id, "missing:1"])
    assert list(got) == [chunks[2].chunk_id]
    assert got[chunks[2].chunk_id].dtype == np.float32
    np.testing.assert_allclose(got[chunks[2].chunk_id], vectors[2], atol=1e-6)


def test_doc_index_and_all_doc_ids(shared: Loaded) -> None:
    store, chunks, _ = shared
    assert store.doc_index("rep-zh") == {
        c.chunk_id: c.content_hash for c in chunks if c.doc_id == "rep-zh"
    }
    assert store.doc_index("nope") == {}
    assert store.all_doc_ids() == ["art-de", "note-xx", "rep-en", "rep-zh"]


def test_chunks_of_orders_by_ordinal(make_store: StoreFactory) -> None:
    store = make_store()
    store.ensure_collection(FINGERPRINT)
    chunks = make_chunks()
    order = [5, 2, 8, 0, 3, 7, 1, 6, 4]  # insert shuffled, in two calls
    vectors = unit_vectors(len(chunks))
    store.upsert([chunks[i] for i in order[:4]], vectors[order[:4]])
    store.upsert([chunks[i] for i in order[4:]], vectors[order[4:]])
    got = store.chunks_of("rep-en")
    assert [c.ordinal for c in got] == [0, 1, 2]
    assert got == [c for c in chunks if c.doc_id == "rep-en"]
    assert [c.ordinal for c in store.chunks_window("rep-zh", 1, 5)] == [1, 2]
    assert store.chunks_of("nope") == []


def test_documents_stats(shared: Loaded) -> None:
    store, _, _ = shared
    docs = {d["doc_id"]: d for d in store.documents()}
    assert list(docs) == ["art-de", "note-xx", "rep-en", "rep-zh"]
    en = docs["rep-en"]
    assert (en["title"], en["kind"], en["date"], en["chunks"]) == (
        "Title of rep-en",
        "report",
        "2023-05-01",
        3,
    )
    assert en["langs"] == {"en": 3}
    assert en["sections"] == ["1 Introduction", "2 Capital markets"]
    assert docs["rep-zh"]["sections"] == ["商业化篇"]
    assert docs["note-xx"]["date"] == ""


def test_scans_page_past_one_query_page(make_store: StoreFactory, monkeypatch) -> None:
    import reportrag.store.core as core_module

    monkeypatch.setattr(core_module, "SCAN_PAGE", 4)  # force several pages
    store = make_store()
    store.ensure_collection(FINGERPRINT)
    chunks = make_chunks()
    store.upsert(chunks, unit_vectors(len(chunks)))
    assert store.all_doc_ids() == ["art-de", "note-xx", "rep-en", "rep-zh"]
    assert sum(d["chunks"] for d in store.documents()) == len(chunks)
    assert len(store.doc_index("rep-en")) == 3


# -- bulk reads (migration) ----------------------------------------------------------------


def test_scan_with_vectors_pages_in_key_order(shared: Loaded) -> None:
    store, chunks, vectors = shared
    by_id = {c.chunk_id: (c, v) for c, v in zip(chunks, vectors, strict=True)}
    pages = list(store.scan_with_vectors(page_size=4))
    assert [len(p[0]) for p in pages] == [4, 4, 1]
    seen = [c.chunk_id for page, _ in pages for c in page]
    assert seen == sorted(by_id)  # every row once, ascending primary key across pages
    for page, vecs in pages:
        assert vecs.dtype == np.float32 and vecs.shape == (len(page), DIM)
        for chunk, vec in zip(page, vecs, strict=True):
            assert chunk == by_id[chunk.chunk_id][0]  # every field, counterparts included
            np.testing.assert_allclose(vec, by_id[chunk.chunk_id][1], atol=1e-6)
    one_page = list(store.scan_with_vectors(page_size=100))
    assert len(one_page) == 1 and len(one_page[0][0]) == len(chunks)


def test_scan_ids_pages_in_key_order(shared: Loaded) -> None:
    store, chunks, _ = shared
    pages = list(store.scan_ids(page_size=2))
    assert [len(p) for p in pages] == [2, 2, 2, 2, 1]
    assert [i for p in pages for i in p] == sorted(c.chunk_id for c in chunks)


@pytest.mark.parametrize("size", [0, -1, 16385, 2.5, True])
def test_scan_page_size_is_validated(shared: Loaded, size: object) -> None:
    store, _, _ = shared
    with pytest.raises(ValueError, match="page_size"):
        next(store.scan_with_vectors(page_size=size))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="page_size"):
        next(store.scan_ids(page_size=size))  # type: ignore[arg-type]


def test_scans_of_an_empty_collection_yield_nothing(make_store: StoreFactory) -> None:
    store = make_store()
    store.ensure_collection(FINGERPRINT)
    assert list(store.scan_with_vectors(10)) == [] and list(store.scan_ids(10)) == []


def test_get_with_vectors_keeps_the_order_asked(shared: Loaded) -> None:
    store, chunks, vectors = shared
    got, vecs = store.get_with_vectors([chunks[5].chunk_id, "missing:1", chunks[1].chunk_id])
    assert got == [chunks[5], chunks[1]]
    np.testing.assert_allclose(vecs, vectors[[5, 1]], atol=1e-6)
    none, empty = store.get_with_vectors(["missing:1"])
    assert none == [] and empty.shape == (0, DIM)


def test_open_existing_reads_dim_and_fingerprint(shared: Loaded, backend_uri: str) -> None:
    store, chunks, vectors = shared
    with MilvusStore.open_existing(store._uri, store.collection, timeout=30.0) as other:
        assert other.dim == DIM and other.collection == store.collection
        assert other.fingerprint() == json.loads(json.dumps(FINGERPRINT))
        assert other.vector_index == store.vector_index
        assert other.count() == len(chunks)
        hit = other.rank_dense(vectors[3], Filters(), 1)[0]
        assert hit.chunk_id == chunks[3].chunk_id


def test_open_existing_refuses_what_is_missing(
    make_store: StoreFactory, backend_uri: str, tmp_path: Path
) -> None:
    make_store().ensure_collection(FINGERPRINT)  # the database exists, the collection not
    with pytest.raises(NotFoundError, match="no_such_collection"):
        MilvusStore.open_existing(backend_uri, "no_such_collection", timeout=30.0)
    missing = tmp_path / "nowhere" / "milvus.db"
    missing.parent.mkdir()
    with pytest.raises(NotFoundError, match="no Milvus Lite database"):
        MilvusStore.open_existing(str(missing), "c", timeout=30.0)
    assert not missing.exists()  # a typo never creates an empty database


def test_open_existing_refuses_a_foreign_collection(backend_uri: str) -> None:
    from pymilvus import DataType, MilvusClient

    name = f"t_foreign_{uuid.uuid4().hex[:8]}"
    raw = MilvusClient(uri=backend_uri, timeout=30)
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("v", DataType.FLOAT_VECTOR, dim=4)
    raw.create_collection(name, schema=schema, timeout=30)
    try:
        with pytest.raises(StoreError, match="no reportrag fingerprint"):
            MilvusStore.open_existing(backend_uri, name, timeout=30.0)
    finally:
        raw.drop_collection(name, timeout=30)
        raw.close()


def test_a_failed_index_build_leaves_no_collection(make_store: StoreFactory, monkeypatch) -> None:
    import reportrag.store.schema as schema_module

    real = schema_module.build_index_params

    def broken(dialect, config):
        params = real(dialect, config)
        params.add_index("no_such_field", index_type="INVERTED")
        return params

    monkeypatch.setattr(schema_module, "build_index_params", broken)
    store = make_store()
    with pytest.raises(StoreError):
        store.ensure_collection(FINGERPRINT)
    assert not store.has_collection()


# -- search -------------------------------------------------------------------------------


def test_dense_search_scores_are_cosine(shared: Loaded) -> None:
    store, chunks, vectors = shared
    hits = store.rank_dense(vectors[6], Filters(), len(chunks))
    assert ids(hits) == {c.chunk_id for c in chunks}  # empty Filters: no filter at all
    assert hits[0].chunk_id == chunks[6].chunk_id
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    expected = {c.chunk_id: float(vectors[i] @ vectors[6]) for i, c in enumerate(chunks)}
    for h in hits:
        assert -1.0001 <= h.score <= 1.0001
        assert h.score == pytest.approx(expected[h.chunk_id], abs=1e-4)


FILTER_CASES = [
    pytest.param(Filters(lang=("zh",)), lambda c: c.lang == "zh", id="lang"),
    pytest.param(Filters(lang=("de", "zh")), lambda c: c.lang in ("de", "zh"), id="lang-many"),
    pytest.param(Filters(doc_id=("art-de",)), lambda c: c.doc_id == "art-de", id="doc_id"),
    pytest.param(
        Filters(kind=("note", "article")), lambda c: c.kind in ("note", "article"), id="kind"
    ),
    pytest.param(
        Filters(chunk_id=("rep-en:1", "art-de:0")),
        lambda c: c.chunk_id in ("rep-en:1", "art-de:0"),
        id="chunk_id",
    ),
    pytest.param(
        Filters(section="2 Capital"),
        lambda c: c.section.startswith("2 Capital"),
        id="section-prefix",
    ),
    pytest.param(
        Filters(section="商业化篇 › 资"),
        lambda c: c.section.startswith("商业化篇 › 资"),
        id="section-prefix-zh",
    ),
    pytest.param(Filters(date_from="2024-01-01"), lambda c: c.date >= "2024-01-01", id="date_from"),
    pytest.param(
        Filters(date_to="2023-05-01"),
        lambda c: c.date and c.date <= "2023-05-01",
        id="date_to-inclusive",
    ),
    pytest.param(
        Filters(date_from="2023-05-01", date_to="2023-05-01"),
        lambda c: c.date == "2023-05-01",
        id="date-range-one-day",
    ),
    pytest.param(
        Filters(date_from="2023-05-02"), lambda c: c.date >= "2023-05-02", id="date_from-open"
    ),
    pytest.param(
        Filters(date_to="2024-08-13"),
        lambda c: c.date and c.date <= "2024-08-13",
        id="date_to-open",
    ),
    pytest.param(
        Filters(date_from="2019-11-30", date_to="2024-02-29"),
        lambda c: "2019-11-30" <= c.date <= "2024-02-29",
        id="date-range-years",
    ),
    pytest.param(
        Filters(date_from="2024-08-10", date_to="2031-01-09"),
        lambda c: "2024-08-10" <= c.date <= "2031-01-09",
        id="date-range-days-to-decades",
    ),
    pytest.param(
        Filters(lang=("en",), kind=("report",), section="2"),
        lambda c: c.lang == "en" and c.kind == "report" and c.section.startswith("2"),
        id="combined",
    ),
]


@pytest.mark.parametrize(("filters", "keep"), FILTER_CASES)
def test_each_filter_narrows_inside_the_search(shared: Loaded, filters: Filters, keep) -> None:
    store, chunks, vectors = shared
    expected = {c.chunk_id for c in chunks if keep(c)}
    assert expected and expected != {c.chunk_id for c in chunks}  # the case is meaningful
    # top_k=2 < matches for most cases: a post-filter of the unfiltered top-2 would lose hits.
    for q in range(3):
        hits = store.rank_dense(vectors[q], filters, len(chunks))
        assert ids(hits) == expected
        few = store.rank_dense(vectors[q], filters, 2)
        assert len(few) == min(2, len(expected)) and ids(few) <= expected


INJECTIONS = [
    'en" or 1==1 or lang in ["',
    "x') or (1==1",
    "en'] or lang != ['",
    '["en", "zh", "de"]',
    "en\\",
    '\\" or 1==1 or "',
    '] or chunk_id != "',
    "*",
    "%",
]


@pytest.mark.parametrize("value", INJECTIONS)
def test_injection_looking_values_match_nothing(shared: Loaded, value: str) -> None:
    store, chunks, vectors = shared
    for filters in (
        Filters(lang=(value,)),
        Filters(doc_id=(value,)),
        Filters(kind=(value,)),
        Filters(chunk_id=(value,)),
        Filters(section=value),
        Filters(lang=("en", value)),
    ):
        hits = store.rank_dense(vectors[0], filters, len(chunks))
        allowed = {c.chunk_id for c in chunks if c.lang == "en"} if "en" in filters.lang else set()
        assert ids(hits) <= allowed, (filters, ids(hits))
    assert store.get([value]) == []
    assert store.doc_index(value) == {}
    assert store.delete([value]) == 0
    assert store.count() == len(chunks)


def test_values_with_quotes_round_trip_exactly(make_store: StoreFactory) -> None:
    store = make_store()
    store.ensure_collection(FINGERPRINT)
    weird = ['a"b', "a'b", "a\\b", 'x\\"y', "[x]", 'en" or 1==1 or lang in ["', "50% off_x"]
    chunks = make_chunks()[: len(weird)]
    for c, w in zip(chunks, weird, strict=True):
        c.section = w
    store.upsert(chunks, unit_vectors(len(chunks)))
    for c, w in zip(chunks, weird, strict=True):
        hits = store.rank_dense(unit_vectors(1, seed=3)[0], Filters(section=w), 10)
        assert ids(hits) == {x.chunk_id for x in chunks if x.section.startswith(w)}
        assert c.chunk_id in ids(hits)


def test_control_characters_are_rejected(shared: Loaded) -> None:
    store, _, vectors = shared
    for filters in (Filters(lang=("en\n",)), Filters(section="a\x00b")):
        with pytest.raises(FilterError):
            store.rank_dense(vectors[0], filters, 5)


def test_bad_dates_are_rejected(shared: Loaded) -> None:
    store, _, vectors = shared
    with pytest.raises(FilterError, match="date_from"):
        store.rank_dense(vectors[0], Filters(date_from='2023" or 1==1'), 5)


def test_text_search_finds_keywords(shared: Loaded) -> None:
    store, chunks, _ = shared
    if not store.capabilities.bm25:
        pytest.skip(f"no BM25 on {store.capabilities.server_version}")
    by_id = {c.chunk_id: c for c in chunks}
    hits = store.rank_text("venture capital funding", Filters(), 3)
    assert hits[0].chunk_id == "rep-en:1"
    assert all(h.score >= 0 for h in hits)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert store.rank_text("Sicherheit Transparenz", Filters(), 3)[0].chunk_id == "art-de:1"
    assert store.rank_text("APACHE licences", Filters(), 3)[0].chunk_id == "rep-en:2"
    filtered = store.rank_text("open source", Filters(lang=("de",)), 5)
    assert all(by_id[h.chunk_id].lang == "de" for h in filtered)
    assert store.rank_text("   ", Filters(), 3) == []


def test_text_search_finds_chinese_keywords(shared: Loaded) -> None:
    store, _, _ = shared
    caps = store.capabilities
    if not caps.bm25:
        pytest.skip(f"no BM25 on {caps.server_version}")
    if caps.analyzer != "jieba":
        pytest.skip("Chinese keyword search needs the jieba analyzer (pip install jieba)")
    # Words inside longer runs of Chinese: a whitespace/\w+ analyzer would never match them.
    assert store.rank_text("农业", Filters(), 3)[0].chunk_id == "rep-zh:2"
    assert store.rank_text("风险投资", Filters(), 3)[0].chunk_id == "rep-zh:1"
    assert store.rank_text("人工智能", Filters(lang=("zh",)), 3)[0].chunk_id == "rep-zh:0"


def test_text_search_unsupported_is_a_capability_error(shared: Loaded) -> None:
    store, _, _ = shared
    if store.capabilities.bm25:
        pytest.skip("this backend has BM25")
    with pytest.raises(CapabilityError) as err:
        store.rank_text("funding", Filters(), 3)
    assert err.value.details["capabilities"]["bm25"] is False


# -- errors -------------------------------------------------------------------------------


def test_unreachable_uri_fails_fast() -> None:
    store = MilvusStore("http://127.0.0.1:1", "c", DIM, timeout=1.0)
    started = time.monotonic()
    with pytest.raises(StoreUnavailableError) as err:
        store.connect()
    assert time.monotonic() - started < 5
    assert "http://127.0.0.1:1" in err.value.message
    assert err.value.retryable is True


def test_silent_server_times_out() -> None:
    """A port that accepts TCP but never speaks gRPC: connect gives up after the timeout."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(sock.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    uri = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        started = time.monotonic()
        with pytest.raises(StoreUnavailableError, match="127.0.0.1"):
            MilvusStore(uri, "c", DIM, timeout=1.0).connect()
        assert time.monotonic() - started < 10
    finally:
        stop.set()
        thread.join(2)
        for conn in accepted:
            conn.close()
        sock.close()


def test_not_connected_is_a_store_error(tmp_path: Path) -> None:
    store = MilvusStore(str(tmp_path / "x.db"), "c", DIM)
    with pytest.raises(StoreError, match="connect"):
        store.count()
    assert not (tmp_path / "x.db").exists()  # the constructor does no I/O


@pytest.mark.parametrize(
    "kwargs",
    [
        {"collection": "bad-name"},
        {"collection": ""},
        {"dim": 0},
        {"uri": ""},
        {"uri": "   "},
        {"uri": "ftp://host:1"},
        {"uri": "nonsense"},
        {"uri": "http://"},
        {"uri": "http://127.0.0.1:notaport"},
        {"uri": "http://127.0.0.1:99999"},
        {"uri": "/tmp/milvus.txt"},
        {"timeout": 0},
    ],
)
def test_constructor_validates(kwargs: dict) -> None:
    args: dict = {"uri": "http://127.0.0.1:19530", "collection": "ok_name", "dim": DIM}
    args.update(kwargs)
    with pytest.raises(ConfigError):
        MilvusStore(args.pop("uri"), args.pop("collection"), args.pop("dim"), **args)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"kind": "DISKANN"},
        {"kind": "hnsw"},
        {"hnsw_m": 0},
        {"hnsw_m": 1},
        {"hnsw_m": 4096},
        {"hnsw_ef_construction": 0},
        {"search_ef": 0},
        {"search_ef": 40000},
        {"search_ef": True},
        {"ivf_nlist": 0},
        {"ivf_nprobe": 0},
        {"ivf_nlist": 8, "ivf_nprobe": 16},
        {"ivf_nlist": "128"},
    ],
)
def test_index_config_validates(kwargs: dict) -> None:
    assert IndexConfig().kind == "auto"
    with pytest.raises(ConfigError):
        IndexConfig(**kwargs)


@pytest.mark.parametrize("kind", ["FLAT", "HNSW", "IVF_FLAT", "IVF_SQ8"])
def test_explicit_index_kinds_search_correctly(make_store: StoreFactory, kind: str) -> None:
    # nprobe == nlist: IVF searches every list, so even these 9 rows are found exactly.
    config = IndexConfig(kind=kind, hnsw_m=8, search_ef=16, ivf_nlist=4, ivf_nprobe=4)
    store = make_store(index=config)
    store.ensure_collection(FINGERPRINT)
    assert store.vector_index == kind
    chunks, vectors = make_chunks(), unit_vectors(len(make_chunks()))
    store.upsert(chunks, vectors)
    assert store.rank_dense(vectors[5], Filters(), 1)[0].chunk_id == chunks[5].chunk_id
    # Reopened with the default IndexConfig: search follows the index the collection has.
    again = make_store(store._collection)
    assert again.ensure_collection(FINGERPRINT) is False
    assert again.vector_index == kind
    hits = again.rank_dense(vectors[2], Filters(lang=("en",)), 2)
    assert hits[0].chunk_id == chunks[2].chunk_id


# -- the expression builder (no Milvus needed) ---------------------------------------------


def test_quote_escapes_everything_that_could_close_the_literal() -> None:
    assert quote('a"b') == '"a\\"b"'
    assert quote("a'b") == '"a\\\'b"'
    assert quote("a\\") == '"a\\\\"'
    with pytest.raises(FilterError):
        quote("a\nb")
    with pytest.raises(FilterError):
        quote("a\x7fb")


def test_successor_bounds_a_prefix() -> None:
    assert successor("2.3") == "2.4"
    assert successor("摘要") == "摘覂"
    assert successor("a\U0010ffff") == "b"
    assert successor("\U0010ffff") is None
    assert successor("\ud7ff") == "\ue000"


def test_templating_binds_every_value() -> None:
    evil = 'en" or 1==1 or lang in ["'
    f = Filters(
        lang=(evil,),
        doc_id=("d1",),
        section="2.3",
        kind=("k",),
        chunk_id=("c",),
        date_from="2023-01-01",
        date_to="2023-12-31",
    )
    expr, params = compile_filters(f, templating=True)
    assert evil not in expr and "d1" not in expr and "2023" not in expr
    assert sorted(params.values(), key=str) == sorted(
        [[evil], ["d1"], ["k"], ["c"], "2.3", "2.4", "2023-01-01", "2023-12-31"], key=str
    )
    for key in params:
        assert "{" + key + "}" in expr
    literal, none = compile_filters(f, templating=False)
    assert none == {} and '"en\\" or 1==1 or lang in [\\""' in literal
    assert compile_filters(Filters(), templating=True) == ("", {})


def test_prefix_cover_is_exactly_the_range() -> None:
    for lo, hi in [("000", "999"), ("123", "123"), ("009", "910"), ("100", "199"), ("57", "13")]:
        got = prefix_cover(lo, hi)
        width = len(lo)
        every = (f"{i:0{width}d}" for i in range(10**width))
        covered = {x for x in every if x.startswith(tuple(got))}
        wanted = {f"{i:0{width}d}" for i in range(int(lo), int(hi) + 1)}
        assert covered == wanted, (lo, hi, got)
        assert len(got) == len(set(got)) and len(got) <= 2 * 9 * width
    assert prefix_cover("000", "999") == [""] and prefix_cover("100", "199") == ["1"]
    with pytest.raises(ValueError):
        prefix_cover("1", "22")


@given(
    st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2040, 12, 31)),
    st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2040, 12, 31)),
    st.sampled_from(["both", "from", "to"]),
)
@settings(max_examples=150, deadline=None)
def test_date_ranges_as_like_prefixes_match_the_string_range(
    a: dt.date, b: dt.date, ends: str
) -> None:
    lo, hi = sorted([a.isoformat(), b.isoformat()])
    f = Filters(date_from=lo if ends != "to" else "", date_to=hi if ends != "from" else "")
    expr, _ = compile_filters(f, templating=False, like_prefixes=True)
    assert ">=" not in expr and "<=" not in expr  # no string range left on 2.3
    likes = re.findall(r'date like "([0-9-]*)%"', expr)
    listed = expr.split("date in", 1)[1] if "date in" in expr else ""
    days = re.findall(r'"(\d{4}-\d{2}-\d{2})"', listed)
    one = dt.timedelta(days=1)
    probe = [a, b, a - one, b + one, dt.date(2000, 1, 1), dt.date(2040, 12, 31)]
    probe += [a + k * 37 * one for k in range(-30, 30)]
    for day in {p.isoformat() for p in probe} | {""}:
        inside = bool(day) and (not f.date_from or day >= f.date_from) and (
            not f.date_to or day <= f.date_to
        )
        matched = day in days or any(day.startswith(p) for p in likes)
        assert matched == inside, (f, day)


def test_like_prefixes_leave_odd_sections_to_the_range() -> None:
    plain, _ = compile_filters(Filters(section="2.3 Funding"), templating=False, like_prefixes=True)
    assert plain == 'section like "2.3 Funding%"'
    for odd in ("50% off", "a_b", 'a"b', "a'b", "a\\b"):
        expr, _ = compile_filters(Filters(section=odd), templating=False, like_prefixes=True)
        assert "like" not in expr and "section >=" in expr, odd


def test_dialects_by_version() -> None:
    old = detect_dialect("v2.3.5-lite", uri="http://127.0.0.1:19530")
    assert (
        old.capabilities.kind,
        old.capabilities.bm25,
        old.capabilities.filter_templating,
        old.scalar_index,
    ) == ("server", False, False, "Trie")
    assert old.like_prefixes is True
    new = detect_dialect("v2.5.4", uri="http://milvus:19530")
    assert (new.capabilities.bm25, new.capabilities.filter_templating, new.scalar_index) == (
        True,
        True,
        "INVERTED",
    )
    lite = detect_dialect("milvus_lite-3.2.2", uri="/x/milvus.db")
    assert (lite.capabilities.kind, lite.capabilities.bm25, lite.default_vector_index) == (
        "lite",
        True,
        "FLAT",
    )
    assert new.like_prefixes is False and lite.like_prefixes is False
    assert old.for_collection(False, "").like_prefixes is True


def test_lite_without_jieba_falls_back_to_standard(monkeypatch: pytest.MonkeyPatch) -> None:
    import reportrag.store.capabilities as capabilities

    monkeypatch.setattr(capabilities, "_jieba_available", lambda: False)
    lite = detect_dialect("milvus_lite-3.2.2", uri="/x/milvus.db")
    assert lite.capabilities.analyzer == "standard"
    assert lite.analyzer_params == {"tokenizer": "standard"}


# -- user metadata filters (reportrag/metadata.py) ---------------------------------------

HOSTILE = 'legal" or 1==1 or "x'
META_VALUES = [
    {"dept": "legal", "year": 2023, "public": True, "tags": ["finance", "oss"],
     "due": "2024-01-05", "score": 1.5},
    {"dept": "eng", "year": 2021, "public": False, "tags": ["oss"], "due": "2023-06-01"},
    {},
    {"dept": HOSTILE, "year": 2025, "tags": ["it's", '["x"]']},
    {"dept": "legal", "score": -2.25, "public": True},
    {"dept": "it's \"quoted\" [x] \\", "year": 2019},
]


def _meta_cases() -> list[dict]:
    eq = lambda k, v: {"key": k, "op": "eq", "value": v}  # noqa: E731
    cases = [
        eq("dept", "legal"), {"key": "dept", "op": "ne", "value": "legal"},
        {"key": "dept", "op": "in", "value": ["legal", "eng"]},
        {"key": "dept", "op": "nin", "value": ["legal"]},
        {"key": "year", "op": "gt", "value": 2021}, {"key": "year", "op": "gte", "value": 2021},
        {"key": "year", "op": "lt", "value": 2023}, {"key": "year", "op": "lte", "value": 2023.0},
        {"key": "score", "op": "gt", "value": -3}, {"key": "score", "op": "lt", "value": 0.5},
        eq("public", True), {"key": "public", "op": "ne", "value": True},
        {"key": "tags", "op": "contains", "value": "oss"},
        {"key": "tags", "op": "in", "value": ["finance", "nothing"]},
        {"key": "due", "op": "gte", "value": "2024-01-01"},
        {"key": "due", "op": "lt", "value": "2024-01-01"},
        {"key": "dept", "op": "exists"}, {"not": {"key": "dept", "op": "exists"}},
        {"not": eq("dept", "legal")}, {"not": {"key": "tags", "op": "contains", "value": "oss"}},
        {"and": [eq("dept", "legal"), {"key": "year", "op": "gte", "value": 2023}]},
        {"or": [eq("dept", "eng"), {"key": "year", "op": "gt", "value": 2024}]},
        {"not": {"or": [eq("public", True), {"key": "year", "op": "lt", "value": 2020}]}},
        # hostile values match exactly what they say, nothing more
        eq("dept", HOSTILE), eq("dept", "it's \"quoted\" [x] \\"),
        {"key": "tags", "op": "contains", "value": "it's"},
        {"key": "tags", "op": "contains", "value": '["x"]'},
        eq("dept", "or 1==1"), {"key": "dept", "op": "in", "value": [f"v{i}" for i in range(100)]},
        {"and": [{"or": [{"not": eq("dept", "legal")}] * 3}] * 3},
    ]
    return cases


@pytest.mark.parametrize("raw", _meta_cases(), ids=lambda c: json.dumps(c)[:60])
def test_metadata_filters_match_the_portable_semantics(make_store: StoreFactory, raw) -> None:
    from reportrag.metadata import evaluate, merge_types, parse_filter, resolve_filter

    store = make_store()
    store.ensure_collection(FINGERPRINT)
    chunks = make_chunks()
    types: dict[str, str] = {}
    for i, c in enumerate(chunks):
        c.metadata = META_VALUES[i % len(META_VALUES)]
        types = merge_types(types, c.metadata, doc_id=c.doc_id)
    store.upsert(chunks, unit_vectors(len(chunks)))
    store.set_metadata_types(types)
    assert store.metadata_types(fresh=True) == types
    node = resolve_filter(parse_filter(raw), store.metadata_types())
    expected = {c.chunk_id for c in chunks if evaluate(node, c.metadata)}
    hits = store.rank_dense(unit_vectors(1, seed=5)[0], Filters(metadata=node), len(chunks))
    assert ids(hits) == expected, raw
    # the other filters still apply beside it
    both = Filters(metadata=node, lang=("en",))
    hits = store.rank_dense(unit_vectors(1, seed=5)[0], both, len(chunks))
    assert ids(hits) == {c.chunk_id for c in chunks if c.chunk_id in expected and c.lang == "en"}
    stored = {c.chunk_id: c for c in store.get([c.chunk_id for c in chunks])}
    assert {k: v.metadata for k, v in stored.items()} == {c.chunk_id: c.metadata for c in chunks}
