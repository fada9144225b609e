"""SearchService's ranking logic at the store seam: an in-memory store, a word-count embedder.

No Milvus and no model: the rankings below can be worked out by hand (tests/fakes.py says
how the fakes score), so these pin the service's own decisions — how it fuses, pivots,
interleaves, filters and picks a mode. tests/test_search_service.py covers what it reads
from a real collection, and when.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from reportrag.errors import CapabilityError, InputError
from reportrag.search.fusion import RRF_K
from reportrag.search.ranking import Candidate, ranked
from reportrag.search.service import SearchService, Tuning
from reportrag.types import Chunk, Counterpart, Filters
from tests.fakes import MemoryStore, WordEmbedder, chunk


def _service(chunks: list[Chunk], *, bm25: bool = True, query_lang: str = "en",
             tuning: Tuning | None = None, candidates: int = 40,
             ) -> tuple[SearchService, MemoryStore, WordEmbedder]:
    embedder = WordEmbedder()
    store = MemoryStore.of(chunks, embedder, bm25=bm25)
    svc = SearchService(embedder, store, candidates=candidates, tuning=tuning,
                        detect_lang=lambda q: query_lang)
    return svc, store, embedder


Closing = list[SearchService]  # services a test made, closed after it


@pytest.fixture
def closing() -> Iterator[Closing]:
    made: list[SearchService] = []
    yield made
    for svc in made:
        svc.close()


def _ids(svc: SearchService, query: str, **kw: object) -> list[str]:
    return [h.chunk.chunk_id for h in svc.search(query, **kw).hits]  # type: ignore[arg-type]


# Dense (cosine of word counts) ranks a > b > c > d; keyword (query words in the text) ranks
# b (6) > a (2) > c (1), and d not at all. No text holds another (no near-duplicates).
TARIFFS = [
    chunk("a", "tariff revenue", ordinal=0),
    chunk("b", "revenue revenue tariff tariff tariff tariff shipping ports customs", ordinal=1),
    chunk("c", "tariff", ordinal=2),
    chunk("d", "weather report", ordinal=3),
]


def _rrf(*ranks_and_weights: tuple[int, float]) -> float:
    return sum(w / (RRF_K + r) for r, w in ranks_and_weights)


def test_dense_ranks_by_cosine_and_hybrid_by_weighted_reciprocal_rank(closing: Closing) -> None:
    svc, _, _ = _service(TARIFFS)
    closing.append(svc)
    dense = svc.search("tariff revenue", top_k=4, mode="dense")
    assert [h.chunk.chunk_id for h in dense.hits] == ["a", "b", "c", "d"]
    assert dense.hits[0].score == pytest.approx(1.0) == dense.hits[0].dense_score
    assert all(h.keyword_score is None and h.found_via == ["dense"] for h in dense.hits)

    hybrid = svc.search("tariff revenue", top_k=4, mode="hybrid")
    by_id = {h.chunk.chunk_id: h for h in hybrid.hits}
    # BM25 weighs 1.25: b's keyword first place beats a's dense first place.
    assert [h.chunk.chunk_id for h in hybrid.hits] == ["b", "a", "c", "d"]
    assert by_id["b"].score == pytest.approx(_rrf((2, 1.0), (1, 1.25)))
    assert by_id["a"].score == pytest.approx(_rrf((1, 1.0), (2, 1.25)))
    assert by_id["d"].score == pytest.approx(_rrf((4, 1.0)))
    assert by_id["b"].keyword_score == 6 and by_id["d"].keyword_score is None
    assert by_id["a"].found_via == ["dense", "keyword"] and by_id["d"].found_via == ["dense"]
    assert hybrid.mode == "hybrid"


def test_equal_weights_tie_and_the_dense_score_breaks_it(closing: Closing) -> None:
    svc, _, _ = _service(TARIFFS, tuning=Tuning(keyword_weight=1.0))
    closing.append(svc)
    hits = svc.search("tariff revenue", top_k=4, mode="hybrid").hits
    assert hits[0].score == pytest.approx(hits[1].score)
    assert [h.chunk.chunk_id for h in hits] == ["a", "b", "c", "d"]
    # Without the keyword ranking at all, the order is the dense one.
    svc.tuning = Tuning(keyword_weight=0.0)
    assert _ids(svc, "tariff revenue", top_k=4, mode="hybrid") == ["a", "b", "c", "d"]


def test_a_keyword_only_hit_gets_its_dense_score_from_its_vector(
        closing: Closing) -> None:
    # Four passages whose vectors point exactly at the query but whose words do not match
    # it fill the dense ranking (two candidates, four deep for top_k=2); r is found by
    # keyword alone, and its chunk and vector are read once it makes the cut.
    embedder = WordEmbedder()
    query = "tariff revenue"
    near = [chunk(f"u{i}", f"alpha {word}", ordinal=i)
            for i, word in enumerate(["one", "two", "three", "four"])]
    r = chunk("r", "tariff tariff tariff revenue revenue revenue noise noise", ordinal=9)
    vectors = np.stack([embedder.embed_query(query)] * 4 + [embedder.embed_query(r.text)])
    store = MemoryStore([*near, r], vectors)
    svc = SearchService(embedder, store, candidates=2, detect_lang=lambda q: "en")
    closing.append(svc)
    hits = svc.search(query, top_k=2, mode="hybrid").hits
    assert [h.chunk.chunk_id for h in hits] == ["r", "u0"]
    assert hits[0].found_via == ["keyword"] and hits[0].keyword_score == 6
    assert hits[0].score == pytest.approx(_rrf((1, 1.25)))
    expected = float(vectors[4] @ embedder.embed_query(query))
    assert 0 < expected < 0.99
    assert hits[0].dense_score == pytest.approx(expected)
    # Read once, chunks and vectors together (Lite, two searches: ids only from the searches).
    assert [name for name, _ in store.calls if name.startswith("get")] == ["get_with_vectors"]


def test_ties_go_to_the_higher_dense_score_and_keyword_only_hits_last() -> None:
    by_id = {
        "x": Candidate("x", 0.5, dense_score=0.2),
        "kw": Candidate("kw", 0.5),  # not among the dense hits: its cosine is below theirs
        "y": Candidate("y", 0.5, dense_score=0.9),
        "top": Candidate("top", 0.7, dense_score=0.1),
    }
    assert [c.chunk_id for c in ranked(by_id)] == ["top", "y", "x", "kw"]


# English and German editions; only the alignment says that g1 translates e1.
EDITIONS = [
    chunk("e1", "solar subsidy", doc_id="en-report", lang="en",
          counterparts=[Counterpart("g1", "de", 0.9)]),
    chunk("e2", "wind farms", doc_id="en-report", lang="en", ordinal=1),
    chunk("g3", "solar anlagen", doc_id="de-report", lang="de"),
    chunk("g2", "windparks", doc_id="de-report", lang="de", ordinal=1),
    chunk("g1", "solarförderung gesetz", doc_id="de-report", lang="de", ordinal=2,
          counterparts=[Counterpart("e1", "en", 0.9)]),
]


def test_crosslingual_pivots_through_the_counterparts_of_the_query_language_hits(
        closing: Closing) -> None:
    svc, _, _ = _service(EDITIONS)
    closing.append(svc)
    german = Filters(lang=("de",))
    # The German ranking alone: g3 shares "solar", g2 and g1 share nothing (insertion order).
    assert _ids(svc, "solar subsidy", top_k=3, mode="dense", filters=german) == [
        "g3", "g2", "g1"]
    res = svc.search("solar subsidy", top_k=3, filters=german)  # auto: en is not asked for
    assert res.mode == "crosslingual" and res.query_lang == "en"
    by_id = {h.chunk.chunk_id: h for h in res.hits}
    # e1 is the best English hit; its counterpart g1 rises to the top by the pivot.
    assert [h.chunk.chunk_id for h in res.hits] == ["g1", "g3", "g2"]
    assert "pivot" in by_id["g1"].found_via and "pivot" not in by_id["g3"].found_via
    # Third in the German dense ranking, first in the pivoted one (weight 1.5), no keyword hit.
    assert by_id["g1"].score == pytest.approx(_rrf((3, 1.0), (1, 1.5)))
    assert all(h.chunk.lang == "de" for h in res.hits)


def test_a_weak_alignment_is_not_followed(closing: Closing) -> None:
    weak = [chunk(c.chunk_id, c.text, doc_id=c.doc_id, lang=c.lang, ordinal=c.ordinal,
                  counterparts=[Counterpart(cp.chunk_id, cp.lang, 0.4) for cp in c.counterparts])
            for c in EDITIONS]
    svc, _, _ = _service(weak)
    closing.append(svc)
    res = svc.search("solar subsidy", top_k=3, filters=Filters(lang=("de",)))
    assert res.mode == "crosslingual"
    assert [h.chunk.chunk_id for h in res.hits] == ["g3", "g2", "g1"]
    assert not any("pivot" in h.found_via for h in res.hits)


def test_a_pivoted_passage_outside_the_filters_is_left_out(closing: Closing) -> None:
    # g1 moves to another German document; the request asks for de-report only.
    moved = [chunk("g1", "solarförderung gesetz", doc_id="de-other", lang="de",
                   counterparts=[Counterpart("e1", "en", 0.9)])
             if c.chunk_id == "g1" else c for c in EDITIONS]
    svc, store, _ = _service(moved)
    closing.append(svc)
    res = svc.search("solar subsidy", top_k=3,
                     filters=Filters(lang=("de",), doc_id=("de-report",)))
    assert res.mode == "crosslingual"
    assert [h.chunk.chunk_id for h in res.hits] == ["g3", "g2"]
    # It was considered (read with its vector, since the direct ranking lacked it) and refused.
    assert ("get_with_vectors", ["g1"]) in store.calls


def test_counterparts_are_attached_with_their_text(closing: Closing) -> None:
    svc, _, _ = _service(EDITIONS)
    closing.append(svc)
    hit = svc.search("solar subsidy", top_k=1, mode="dense", filters=Filters(lang=("en",)),
                     with_counterparts=True).hits[0]
    assert hit.chunk.chunk_id == "e1"
    assert hit.counterparts == [{"chunk_id": "g1", "lang": "de", "confidence": 0.9,
                                 "text": "solarförderung gesetz", "doc_id": "de-report",
                                 "section": ""}]


@pytest.mark.parametrize("mode", ["dense", "hybrid"])
def test_filters_hold_inside_every_search(closing: Closing, mode: str) -> None:
    chunks = [
        chunk("x1", "tariff revenue", doc_id="x", kind="news"),
        chunk("y1", "tariff revenue rose", doc_id="y", kind="report"),
        chunk("y2", "tariff", doc_id="y", kind="report", ordinal=1),
        chunk("z1", "revenue tariff", doc_id="z", kind="report", lang="de"),
    ]
    svc, _, _ = _service(chunks)
    closing.append(svc)
    everything = _ids(svc, "tariff revenue", top_k=4, mode=mode)
    assert set(everything) == {"x1", "y1", "y2", "z1"} and everything[0] in {"x1", "z1"}
    for filters, allowed in [
        (Filters(doc_id=("y",)), {"y1", "y2"}),
        (Filters(kind=("report",)), {"y1", "y2", "z1"}),
        (Filters(lang=("en",), kind=("report",)), {"y1", "y2"}),
        (Filters(chunk_id=("x1", "z1")), {"x1", "z1"}),
    ]:
        got = _ids(svc, "tariff revenue", top_k=4, mode=mode, filters=filters)
        assert set(got) == allowed, filters


def test_two_languages_are_interleaved_unless_balance_is_none(closing: Closing) -> None:
    chunks = [
        chunk("en1", "tariff revenue", lang="en"),
        chunk("en2", "revenue tariff growth", lang="en", ordinal=1),
        chunk("en3", "growth rates revenue tariff", lang="en", ordinal=2),
        chunk("de1", "tariff zoll", doc_id="de", lang="de"),
        chunk("de2", "zoll tariff einnahmen", doc_id="de", lang="de", ordinal=1),
    ]
    svc, _, _ = _service(chunks)
    closing.append(svc)
    both = Filters(lang=("en", "de"))
    flat = _ids(svc, "tariff revenue", top_k=4, mode="dense", filters=both, balance="none")
    assert flat == ["en1", "en2", "en3", "de1"]
    # Round robin over the languages in code order (de, en), each in its own ranking order.
    mixed = _ids(svc, "tariff revenue", top_k=4, mode="dense", filters=both)
    assert mixed == ["de1", "en1", "de2", "en2"]
    assert _ids(svc, "tariff revenue", top_k=4, mode="dense", filters=both,
                balance="interleave") == mixed


def test_auto_picks_the_mode_the_query_and_the_store_call_for(closing: Closing) -> None:
    svc, _, _ = _service(EDITIONS)
    closing.append(svc)
    assert svc.search("solar subsidy", top_k=1).mode == "hybrid"
    assert svc.search("solar subsidy", top_k=1, filters=Filters(lang=("en", "de"))).mode == (
        "hybrid")  # the query's language is among those asked for
    assert svc.search("solar subsidy", top_k=1, filters=Filters(lang=("de",))).mode == (
        "crosslingual")
    unsure, _, _ = _service(EDITIONS, query_lang="und")
    closing.append(unsure)
    assert unsure.search("solar subsidy", top_k=1, filters=Filters(lang=("de",))).mode == (
        "hybrid")  # an unknown query language is never "another" one
    no_bm25, store, _ = _service(EDITIONS, bm25=False)
    closing.append(no_bm25)
    assert no_bm25.modes() == ["auto", "dense", "crosslingual"]
    assert no_bm25.search("solar subsidy", top_k=1).mode == "dense"
    cross = no_bm25.search("solar subsidy", top_k=3, filters=Filters(lang=("de",)))
    assert cross.mode == "crosslingual" and cross.hits[0].chunk.chunk_id == "g1"
    assert not any(name == "rank_text" for name, _ in store.calls)  # no BM25 asked for
    with pytest.raises(CapabilityError) as err:
        no_bm25.search("solar subsidy", mode="hybrid")
    assert err.value.details["supported_modes"] == ["auto", "dense", "crosslingual"]


@pytest.mark.parametrize("kwargs", [{"mode": "fuzzy"}, {"balance": "even"}])
def test_unknown_modes_and_balances_are_refused(closing: Closing, kwargs: dict[str, str]) -> None:
    svc, _, _ = _service(TARIFFS)
    closing.append(svc)
    with pytest.raises(InputError):
        svc.search("tariff", **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", ["dense", "hybrid", "crosslingual"])
def test_nothing_to_find_is_an_empty_result(closing: Closing, mode: str) -> None:
    empty, _, _ = _service([])
    closing.append(empty)
    assert empty.search("tariff revenue", mode=mode).hits == []
    svc, _, _ = _service(TARIFFS)
    closing.append(svc)
    assert svc.search("tariff revenue", mode=mode, filters=Filters(lang=("fr",))).hits == []


def test_min_score_keeps_only_passages_close_enough(closing: Closing) -> None:
    svc, _, _ = _service(TARIFFS)
    closing.append(svc)
    # Cosines: a 1.0, b 0.885, c 0.707, d 0.
    for mode in ("dense", "hybrid"):
        hits = svc.search("tariff revenue", top_k=4, mode=mode, min_score=0.8).hits
        assert {h.chunk.chunk_id for h in hits} == {"a", "b"}
        assert all(h.dense_score is not None and h.dense_score >= 0.8 for h in hits)
