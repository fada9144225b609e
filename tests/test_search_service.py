"""SearchService on a small real collection (Milvus Lite, real model): what it reads and when.

Searches return ids and scores only; the service reads the chunks that make the cut. These
tests pin the cases where that could go wrong: many near-duplicates at the top (more than
the chunks read up front), keyword-only hits (their dense score is read with the chunk),
a chunk deleted between the search and the read, and diversification's wider pool.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from reportrag.errors import InputError
from reportrag.search.fusion import dedupe as dedupe_ids
from reportrag.search.service import DEDUPE_SLACK, SearchService, Tuning, service_from_settings
from reportrag.store import MilvusStore
from reportrag.types import Chunk, Filters, content_hash

DUPLICATE = "Open source licences let anyone study, change and share the code of a project."
OTHERS = [
    "Venture capital funding for open source startups grew in 2023.",
    "Permissive licences such as Apache and MIT dominate new repositories.",
    "The Linux kernel received contributions from thousands of developers.",
    "Climate change affects agriculture in many regions of the world.",
    "A short note on bibliography formatting and reference lists.",
]


def _chunk(i: int, text: str) -> Chunk:
    return Chunk(
        chunk_id=f"doc:{i:03d}", doc_id="doc", title="Sample", lang="en", kind="article",
        date="2024-01-01", section="Body", ordinal=i, text=text, token_count=len(text.split()),
        char_start=i * 200, char_end=i * 200 + len(text), content_hash=content_hash(text),
    )


@pytest.fixture
def service(embedder, tmp_path: Path) -> Iterator[tuple[SearchService, MilvusStore, list[Chunk]]]:
    # Seven copies of one passage (punctuation and case vary: near-duplicates), then others.
    dupes = [DUPLICATE, DUPLICATE.upper(), DUPLICATE.replace(",", ""), DUPLICATE + " ",
             DUPLICATE.replace(".", "!"), DUPLICATE.lower(), "  " + DUPLICATE]
    chunks = [_chunk(i, t) for i, t in enumerate(dupes + OTHERS)]
    store = MilvusStore(str(tmp_path / "milvus.db"), "svc_test", embedder.dim)
    store.connect()
    store.ensure_collection({"model": embedder.spec.name, "dim": embedder.dim})
    store.upsert(chunks, embedder.embed_documents([c.text for c in chunks]))
    svc = SearchService(embedder, store, candidates=len(chunks), detect_lang=lambda q: "en")
    yield svc, store, chunks
    svc.close()
    store.close()


def test_near_duplicates_beyond_the_first_read_are_still_skipped(service, monkeypatch) -> None:
    svc, store, _ = service
    assert 7 > 3 + DEDUPE_SLACK  # more duplicates than the chunks read up front
    reads: list[int] = []
    real = store.get_with_vectors

    def counted(ids: list[str]) -> tuple[list[Chunk], np.ndarray]:
        reads.append(len(ids))
        return real(ids)

    monkeypatch.setattr(store, "get_with_vectors", counted)
    # Hybrid: two searches, so on Milvus Lite they return ids and the kept chunks are read.
    res = svc.search("open source licences let anyone share code", top_k=3, mode="hybrid")
    assert reads[0] == 3 + DEDUPE_SLACK and len(reads) >= 2  # read more after the first pass
    texts = [h.chunk.text for h in res.hits]
    assert len(texts) == 3
    assert sum(_key(t) == _key(DUPLICATE) for t in texts) == 1
    # The same answer as deduplicating the whole ranking at once.
    full = svc.search("open source licences let anyone share code", top_k=12, mode="hybrid",
                      dedupe=False)
    expected = dedupe_ids([(h.chunk.chunk_id, h.chunk.text) for h in full.hits], 3)
    assert [h.chunk.chunk_id for h in res.hits] == expected


def _key(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


def test_without_dedupe_every_duplicate_is_returned(service) -> None:
    svc, _, _ = service
    res = svc.search("open source licences let anyone share code", top_k=7, mode="dense",
                     dedupe=False)
    assert len({h.chunk.chunk_id for h in res.hits}) == 7
    assert sum(_key(h.chunk.text) == _key(DUPLICATE) for h in res.hits) >= 5


@pytest.mark.parametrize("mode", ["dense", "hybrid"])
def test_one_passage_under_an_old_and_a_new_chunk_id_is_one_hit(service, embedder,
                                                                 mode: str) -> None:
    # Mid re-ingestion: a paragraph inserted above moved this passage to a new ordinal (a new
    # chunk id) and the new row is stored before the old one is deleted.
    svc, store, chunks = service
    old = chunks[7]
    moved = Chunk(**{**old.__dict__, "chunk_id": "doc:107", "ordinal": 107})
    store.upsert([moved], embedder.embed_documents([moved.text]))
    hits = svc.search("venture capital funding for startups", top_k=3, mode=mode,
                      dedupe=False).hits
    texts = [h.chunk.text for h in hits]
    assert texts.count(old.text) == 1
    assert len(hits) == 3


def test_keyword_only_hits_get_their_dense_score_when_read(service, embedder,
                                                           monkeypatch) -> None:
    svc, store, chunks = service
    if not store.capabilities.bm25:
        pytest.skip("needs BM25")
    query = "Linux kernel contributions"
    linux = next(c.chunk_id for c in chunks if "Linux" in c.text)
    real = store.rank_dense

    def dense_misses_linux(*args, **kwargs):
        # As an approximate index can: the passage BM25 ranks first is not a dense hit.
        return [h for h in real(*args, **kwargs) if h.chunk_id != linux]

    monkeypatch.setattr(store, "rank_dense", dense_misses_linux)
    svc.tuning = Tuning(keyword_weight=1.0)  # equal weights: the two first places tie
    res = svc.search(query, top_k=4, mode="hybrid", dedupe=False)
    by_id = {h.chunk.chunk_id: h for h in res.hits}
    assert by_id[linux].found_via == ["keyword"]
    qvec = embedder.embed_query(query)
    vectors = store.get_vectors(list(by_id))
    for h in res.hits:
        assert h.dense_score == pytest.approx(float(vectors[h.chunk.chunk_id] @ qvec), abs=1e-5)
    # RRF gives keyword rank 1 and dense rank 1 the same score; the dense hit goes first.
    assert [h.chunk.chunk_id for h in res.hits].index(linux) == 1
    assert res.hits[0].score == pytest.approx(by_id[linux].score)
    assert "dense" in res.hits[0].found_via
    # The default weighs BM25 1.25: its first place now beats the dense list's.
    svc.tuning = Tuning()
    ranked = svc.search(query, top_k=4, mode="hybrid", dedupe=False).hits
    assert ranked[0].chunk.chunk_id == linux
    assert ranked[0].score == pytest.approx(1.25 / 61)


def test_a_chunk_deleted_after_the_search_is_left_out(service, monkeypatch) -> None:
    svc, store, chunks = service
    first = svc.search("venture capital funding", top_k=3, mode="hybrid").hits
    gone = first[0].chunk.chunk_id
    real = store.get_with_vectors

    def delete_then_read(ids: list[str]) -> tuple[list[Chunk], np.ndarray]:
        store.delete([gone])  # as if a re-ingestion removed it between search and read
        return real(ids)

    monkeypatch.setattr(store, "get_with_vectors", delete_then_read)
    res = svc.search("venture capital funding", top_k=3, mode="hybrid")
    assert gone not in [h.chunk.chunk_id for h in res.hits]
    assert 1 <= len(res.hits) <= 3
    # Without dedupe too, the next candidate takes the deleted one's place: still top_k.
    store.upsert([c for c in chunks if c.chunk_id == gone],
                 svc.embedder.embed_documents([c.text for c in chunks if c.chunk_id == gone]))
    res = svc.search("venture capital funding", top_k=3, mode="hybrid", dedupe=False)
    assert gone not in [h.chunk.chunk_id for h in res.hits]
    assert len(res.hits) == 3


def test_diversify_reads_a_wider_pool_and_returns_top_k(service) -> None:
    svc, _, _ = service
    res = svc.search("open source licences", top_k=3, mode="dense", diversify=True)
    assert len(res.hits) == 3
    assert len({h.chunk.chunk_id for h in res.hits}) == 3
    assert all(h.dense_score is not None for h in res.hits)
    filtered = svc.search("open source licences", top_k=3, mode="dense",
                          filters=Filters(lang=("de",)))
    assert filtered.hits == []


@pytest.mark.parametrize("mode", ["dense", "hybrid", "crosslingual"])
def test_rows_with_the_search_or_read_after_give_the_same_hits(service, mode) -> None:
    svc, _, _ = service
    kwargs = {"top_k": 5, "mode": mode, "filters": Filters(lang=("en",))}
    queries = ["open source licences", "venture capital funding", "Linux kernel"]
    policy = svc._rows_in_search
    results = {}
    for rows in (True, False):
        svc._rows_in_search = lambda mode, per_lang, rows=rows: rows
        results[rows] = [svc.search(q, **kwargs).to_dict()["hits"] for q in queries]
    svc._rows_in_search = policy
    assert results[True] == results[False]
    assert all(results[True])


def _dense_depths(store, monkeypatch) -> list[int]:
    """The top_k of every dense search the store is asked for."""
    asked: list[int] = []
    real = store.rank_dense

    def recorded(vector, filters, top_k, **kwargs):
        asked.append(top_k)
        return real(vector, filters, top_k, **kwargs)

    monkeypatch.setattr(store, "rank_dense", recorded)
    return asked


def test_a_dense_ranking_is_searched_only_as_deep_as_trimming_reads(service, monkeypatch) -> None:
    svc, store, _ = service
    asked = _dense_depths(store, monkeypatch)
    res = svc.search("open source licences let anyone share code", top_k=3, mode="dense",
                     dedupe=False)
    assert asked == [6]  # twice top_k, not the 12 candidates a fused ranking gets
    assert len(res.hits) == 3
    asked.clear()
    svc.search("open source licences let anyone share code", top_k=3, mode="hybrid")
    assert asked == [12]


def test_a_short_dense_ranking_used_up_by_duplicates_is_searched_again_deeper(
        service, monkeypatch) -> None:
    svc, store, _ = service
    asked = _dense_depths(store, monkeypatch)
    query = "open source licences let anyone share code"
    res = svc.search(query, top_k=3, mode="dense")
    # The 7 near-duplicates fill the first 6 hits: one survives dedupe, so it searches again.
    assert asked == [6, 12]
    full = svc.search(query, top_k=12, mode="dense", dedupe=False)
    expected = dedupe_ids([(h.chunk.chunk_id, h.chunk.text) for h in full.hits], 3)
    assert [h.chunk.chunk_id for h in res.hits] == expected
    # Below min_score the deeper hits cannot pass either: no second search.
    asked.clear()
    top = res.hits[0].dense_score
    assert top is not None
    res = svc.search(query, top_k=3, mode="dense", min_score=top - 1e-6)
    assert asked == [6] and len(res.hits) == 1


def test_the_ranking_settings_reach_the_service(embedder) -> None:
    """REPORTRAG_SEARCH_* configure the service; the setting and Tuning share one default."""
    from reportrag.settings import Settings

    assert Settings.model_fields["search_keyword_weight"].default == Tuning().keyword_weight
    settings = Settings(search_candidates=12, search_keyword_weight=0.5)
    svc = service_from_settings(embedder, object(), settings)
    try:
        assert svc.candidates == 12 and svc.tuning.keyword_weight == 0.5
    finally:
        svc.close()
    with pytest.raises(InputError, match="weights"):
        Tuning(keyword_weight=-1)
