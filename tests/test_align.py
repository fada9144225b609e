"""Passage alignment: synthetic sequences (fast), the gold set and real articles (slow)."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from reportrag.ingest.align import Alignment, AlignParams, Background, align_pair
from reportrag.ingest.anchors import extract_anchors
from reportrag.ingest.pairalign import Backgrounds, align_translations, translation_pairs
from reportrag.types import Chunk, Counterpart, DocumentMeta

DIM = 64


# -- helpers ---------------------------------------------------------------------------------


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def _topics(n: int, rng: np.random.Generator) -> np.ndarray:
    """n passage meanings that share a common direction, as real embeddings do."""
    common = rng.normal(size=DIM)
    return _unit(2.0 * _unit(common) + _unit(rng.normal(size=(n, DIM))))


def _render(meanings: np.ndarray, rng: np.random.Generator, noise: float = 0.35) -> np.ndarray:
    """The same meanings "in another language": a noisy copy."""
    return _unit(meanings + noise * _unit(rng.normal(size=meanings.shape)))


def _chunks(doc: str, lang: str, n: int, texts: list[str] | None = None) -> list[Chunk]:
    return [
        Chunk(
            chunk_id=f"{doc}:{k:05d}:x",
            doc_id=doc,
            title=doc,
            lang=lang,
            kind="report",
            date="",
            section="",
            ordinal=k,
            text=texts[k] if texts else "plain passage",
            token_count=10,
            char_start=10 * k,
            char_end=10 * k + 10,
            content_hash=f"h{k}",
        )
        for k in range(n)
    ]


def _links(al: Alignment, threshold: float = 0.5) -> set[tuple[int, int]]:
    return {(lk.src, lk.tgt) for lk in al.links if lk.confidence >= threshold}


class FakeStore:
    """Just the three store methods the aligner uses, over in-memory chunks."""

    def __init__(self, docs: dict[str, tuple[list[Chunk], np.ndarray]]) -> None:
        self.chunks = {c.chunk_id: c for cs, _ in docs.values() for c in cs}
        self.vectors = {
            c.chunk_id: v for cs, vs in docs.values() for c, v in zip(cs, vs, strict=True)
        }
        self.calls: list[dict[str, list[Counterpart]]] = []

    def chunks_of(self, doc_id: str) -> list[Chunk]:
        found = [c for c in self.chunks.values() if c.doc_id == doc_id]
        return [replace(c, counterparts=list(c.counterparts)) for c in found]

    def get_vectors(self, chunk_ids: list[str]) -> dict[str, np.ndarray]:
        return {i: self.vectors[i] for i in chunk_ids if i in self.vectors}

    def set_counterparts(self, updates: dict[str, list[Counterpart]]) -> None:
        self.calls.append(updates)
        for cid, cps in updates.items():
            self.chunks[cid].counterparts = list(cps)


def _meta(doc_id: str, lang: str, translation_of: str = "") -> DocumentMeta:
    return DocumentMeta(doc_id, f"{doc_id}.txt", doc_id, lang, "report", "", translation_of)


def _translated_store(n: int = 25, seed: int = 0) -> tuple[FakeStore, list[DocumentMeta]]:
    rng = np.random.default_rng(seed)
    meanings = _topics(n, rng)
    store = FakeStore(
        {
            "en": (_chunks("en", "en", n), _render(meanings, rng)),
            "zh": (_chunks("zh", "zh", n), _render(meanings, rng)),
        }
    )
    return store, [_meta("en", "en", "zh"), _meta("zh", "zh", "en")]


# -- align_pair on synthetic sequences ---------------------------------------------------------


def test_parallel_sequences_align_one_to_one_with_high_confidence() -> None:
    rng = np.random.default_rng(1)
    meanings = _topics(30, rng)
    al = align_pair(
        _chunks("a", "en", 30),
        _render(meanings, rng),
        _chunks("b", "zh", 30),
        _render(meanings, rng),
    )
    assert [(b.src, b.tgt) for b in al.pairs] == [((k,), (k,)) for k in range(30)]
    assert min(b.confidence for b in al.pairs) >= 0.9
    assert al.linked_fraction == (1.0, 1.0)
    assert al.mean_confidence >= 0.9


def test_inserted_and_deleted_chunks_stay_unmatched() -> None:
    rng = np.random.default_rng(2)
    meanings = _topics(30, rng)
    src_vecs = _render(meanings, rng)
    # the target lacks meanings 10-12 and has four passages of its own (captions, say): -1
    layout = [*range(5), -1, -1, *range(5, 10), *range(13, 25), -1, -1, *range(25, 30)]
    junk = iter(_topics(4, rng))
    tgt_rows = [meanings[k] if k >= 0 else next(junk) for k in layout]
    tgt_vecs = _render(np.array(tgt_rows), rng)
    truth = {k: pos for pos, k in enumerate(layout) if k >= 0}
    junk_pos = {pos for pos, k in enumerate(layout) if k < 0}
    al = align_pair(_chunks("a", "en", 30), src_vecs, _chunks("b", "zh", len(tgt_rows)), tgt_vecs)
    links = _links(al)
    primary = {(lk.src, lk.tgt) for lk in al.links if lk.primary and lk.confidence >= 0.5}
    assert set(truth.items()) <= links
    assert not {j for _, j in links} & junk_pos
    assert not {i for i, _ in links} & {10, 11, 12}
    assert primary <= set(truth.items())


def test_a_chunk_holding_two_passages_gets_a_two_to_one_bead() -> None:
    rng = np.random.default_rng(3)
    meanings = _topics(20, rng)
    src_vecs = _render(meanings, rng)
    # target chunk 7 holds meanings 7 and 8 (its chunker cut elsewhere)
    tgt_rows = [*meanings[:7], _unit(meanings[7] + meanings[8]), *meanings[9:]]
    al = align_pair(
        _chunks("a", "en", 20), src_vecs, _chunks("b", "zh", 19), _render(np.array(tgt_rows), rng)
    )
    assert any(b.src == (7, 8) and b.tgt == (7,) for b in al.pairs)
    assert {(7, 7), (8, 7)} <= _links(al)
    assert (9, 8) in _links(al)


def test_alignment_is_monotonic_even_when_similarities_cross() -> None:
    rng = np.random.default_rng(4)
    meanings = _topics(20, rng)
    order = list(range(20))
    order[9], order[10] = order[10], order[9]  # the target swaps two passages
    al = align_pair(
        _chunks("a", "en", 20),
        _render(meanings, rng),
        _chunks("b", "zh", 20),
        _render(meanings[order], rng),
    )
    pairs = al.pairs
    for before, after in zip(pairs, pairs[1:], strict=False):
        assert max(before.src) < min(after.src) and max(before.tgt) < min(after.tgt)
    covered_src = sorted(i for b in al.beads for i in b.src)
    covered_tgt = sorted(j for b in al.beads for j in b.tgt)
    assert covered_src == list(range(20)) and covered_tgt == list(range(20))
    assert {(k, k) for k in range(20) if k not in (9, 10)} <= _links(al)


def test_anchors_break_a_tie_between_two_equally_similar_chunks() -> None:
    rng = np.random.default_rng(5)
    meanings = _topics(12, rng)
    src_vecs = _render(meanings, rng, noise=0.2)
    tgt_vecs = _render(meanings, rng, noise=0.2)
    # target 6 and 7 are the same passage twice; only the names and numbers tell them apart
    tgt_vecs[7] = tgt_vecs[6]
    src_vecs = np.delete(src_vecs, 7, axis=0)
    src_texts = ["plain passage"] * 11
    tgt_texts = ["plain passage"] * 12

    def winner(first: str, second: str) -> int:
        src_texts[6] = "In 2021 PingCAP raised $270 million for TiDB."
        tgt_texts[6], tgt_texts[7] = first, second
        al = align_pair(
            _chunks("a", "en", 11, src_texts),
            src_vecs,
            _chunks("b", "zh", 12, tgt_texts),
            tgt_vecs,
            params=AlignParams(shapes=((1, 1),)),  # no merging the twins into one bead
        )
        (bead,) = [b for b in al.pairs if 6 in b.src]
        return bead.tgt[0]

    right = "2021 年 PingCAP 为 TiDB 融资 2.7 亿美元。"
    wrong = "2019 年 Zilliz 为 Milvus 融资 4300 万美元。"
    assert winner(right, wrong) == 6
    assert winner(wrong, right) == 7


def test_counterparts_point_both_ways_sorted_and_respect_the_threshold() -> None:
    rng = np.random.default_rng(6)
    meanings = _topics(15, rng)
    src, tgt = _chunks("a", "en", 15), _chunks("b", "zh", 16)
    tgt_vecs = _render(np.vstack([meanings[:8], _topics(1, rng), meanings[8:]]), rng)
    al = align_pair(src, _render(meanings, rng), tgt, tgt_vecs, min_confidence=0.5)
    cps = al.counterparts()
    for lk in al.links:
        s, t = src[lk.src].chunk_id, tgt[lk.tgt].chunk_id
        forward = Counterpart(t, "zh", lk.confidence)
        backward = Counterpart(s, "en", lk.confidence)
        kept = lk.confidence >= 0.5
        assert (forward in cps.get(s, [])) is kept
        assert (backward in cps.get(t, [])) is kept
    for lst in cps.values():
        assert [c.confidence for c in lst] == sorted((c.confidence for c in lst), reverse=True)
        assert all(0.5 <= c.confidence <= 1.0 for c in lst)
    assert tgt[8].chunk_id not in cps  # the inserted passage
    strict = align_pair(src, _render(meanings, rng), tgt, tgt_vecs, min_confidence=0.999)
    assert sum(map(len, strict.counterparts().values())) < sum(map(len, cps.values()))


def test_unrelated_sequences_get_low_confidence() -> None:
    rng = np.random.default_rng(7)
    a, b = _topics(30, rng), _topics(25, rng)
    al = align_pair(_chunks("a", "en", 30), a, _chunks("b", "zh", 25), b)
    assert al.counterparts() == {}
    assert al.mean_confidence < 0.2
    assert max((lk.confidence for lk in al.links), default=0.0) < 0.5


def test_align_pair_is_fast_on_a_report_sized_pair() -> None:
    rng = np.random.default_rng(8)
    meanings = _topics(174, rng)
    tgt = _render(meanings[::2].repeat(2, axis=0)[:147], rng)
    src_chunks, tgt_chunks = _chunks("a", "en", 174), _chunks("b", "zh", 147)
    src = _render(meanings, rng)
    align_pair(src_chunks, src, tgt_chunks, tgt)  # warm numpy up
    started = time.perf_counter()
    al = align_pair(src_chunks, src, tgt_chunks, tgt)
    assert time.perf_counter() - started < 1.0
    assert al.pairs


def test_mismatched_vectors_are_refused_and_empty_sides_align_to_nothing() -> None:
    with pytest.raises(ValueError):
        align_pair(
            _chunks("a", "en", 3), np.zeros((2, DIM)), _chunks("b", "zh", 1), np.ones((1, DIM))
        )
    al = align_pair(
        _chunks("a", "en", 3), _topics(3, np.random.default_rng(0)), [], np.zeros((0, DIM))
    )
    assert al.links == [] and al.linked_fraction == (0.0, 0.0) and len(al.beads) == 3


def test_params_change_the_outcome() -> None:
    """A threshold no bead can reach leaves everything unpaired (the knob is live)."""
    rng = np.random.default_rng(9)
    meanings = _topics(10, rng)
    al = align_pair(
        _chunks("a", "en", 10),
        _render(meanings, rng),
        _chunks("b", "zh", 10),
        _render(meanings, rng),
        params=AlignParams(pair_threshold=1e6),
    )
    assert al.pairs == [] and al.links == []


# -- anchors -----------------------------------------------------------------------------------


def test_numbers_are_normalised_across_languages() -> None:
    en = extract_anchors("Raised $50 million from 17,000 users (35%) in 2023; see 2.3.5 below")
    zh = extract_anchors("2023 年融资 5000 万美元，1.7 万用户（35 %）")
    assert {"#50000000", "#17000", "35%", "#2023"} <= en & zh
    assert "#2.3" not in en and "#5" not in en


def test_names_and_sections_are_anchors_but_model_sizes_are_not_numbers() -> None:
    en = extract_anchors("2.3.5 Models\n1. Overview\nYi-34B beats GPT-4 and ChatGLM3-6B")
    zh = extract_anchors("2.3.5 模型\n一. 概述\nYi-34B 超过 GPT-4 与 ChatGLM3-6B")
    assert {"§2.3.5", "§1", "yi-34b", "gpt-4", "chatglm3-6b"} <= en & zh
    assert not any(a.startswith("#") for a in en | zh)


# -- align_translations over a store ---------------------------------------------------------


def test_translation_pairs_are_found_once_whichever_side_declares_them() -> None:
    both = [_meta("en", "en", "zh"), _meta("zh", "zh", "en"), _meta("x", "de")]
    one = [_meta("en", "en"), _meta("zh", "zh", "en")]
    dangling = [_meta("en", "en", "fr")]
    assert translation_pairs(both) == ([("en", "zh")], [])
    assert translation_pairs(one) == ([("en", "zh")], [])
    pairs, problems = translation_pairs(dangling)
    assert pairs == [] and "not among the documents" in problems[0]


def test_align_translations_writes_counterparts_once() -> None:
    store, docs = _translated_store()
    (report,) = align_translations(docs, store=store)
    assert report.warnings == []
    assert (report.src_chunks, report.tgt_chunks) == (25, 25)
    assert report.links >= 25 and report.chunks_updated == 50
    assert report.src_linked == 1.0 and report.tgt_linked == 1.0 and report.mean_confidence > 0.9
    en0 = store.chunks["en:00000:x"].counterparts
    assert en0 and en0[0].chunk_id == "zh:00000:x" and en0[0].lang == "zh"
    assert store.chunks["zh:00000:x"].counterparts[0].chunk_id == "en:00000:x"
    (again,) = align_translations(docs, store=store)
    assert again.chunks_updated == 0 and len(store.calls) == 1


def test_only_changed_or_stale_counterparts_are_rewritten() -> None:
    store, docs = _translated_store()
    align_translations(docs, store=store)
    right = list(store.chunks["en:00003:x"].counterparts)
    store.chunks["en:00003:x"].counterparts = [Counterpart("zh:00009:x", "zh", 0.7)]
    # a counterpart into a third document (a German edition) must survive
    german = Counterpart("de:00001:x", "de", 0.8)
    store.chunks["en:00004:x"].counterparts = [*store.chunks["en:00004:x"].counterparts, german]
    # so must rounding noise below 3 decimals go unnoticed
    cp = store.chunks["zh:00005:x"].counterparts[0]
    store.chunks["zh:00005:x"].counterparts[0] = replace(cp, confidence=cp.confidence + 1e-5)
    (report,) = align_translations(docs, store=store)
    assert report.chunks_updated == 1
    assert store.calls[-1] == {"en:00003:x": right}
    assert german in store.chunks["en:00004:x"].counterparts


def test_chunks_that_lost_their_alignment_get_an_empty_list() -> None:
    store, docs = _translated_store()
    store.chunks["en:00002:x"].counterparts = [Counterpart("zh:00002:x", "zh", 0.9)]
    store.vectors["en:00002:x"] = _topics(1, np.random.default_rng(99))[0]  # now unrelated
    (report,) = align_translations(docs, store=store)
    assert store.chunks["en:00002:x"].counterparts == []
    assert "en:00002:x" in store.calls[-1]
    assert all(c.chunk_id != "en:00002:x" for c in store.chunks["zh:00002:x"].counterparts)
    assert report.src_linked < 1.0


def test_changed_doc_ids_skip_pairs_where_nothing_changed() -> None:
    store, docs = _translated_store()
    assert align_translations(docs, store=store, changed_doc_ids={"other"}) == []
    assert store.calls == []
    (report,) = align_translations(docs, store=store, changed_doc_ids={"zh"})
    assert report.chunks_updated == 50


def test_same_language_pair_is_aligned_as_declared_with_a_warning() -> None:
    """The manifest decides; the warning names both documents and what looks wrong."""
    rng = np.random.default_rng(10)
    meanings = _topics(10, rng)
    store = FakeStore(
        {
            "a": (_chunks("a", "en", 10), _render(meanings, rng)),
            "b": (_chunks("b", "en", 10), _render(meanings, rng)),
        }
    )
    (report,) = align_translations([_meta("a", "en", "b"), _meta("b", "en")], store=store)
    (warning,) = report.warnings
    assert "both documents read as 'en'" in warning and "a: declared 'en'" in warning
    assert "b: declared 'en'" in warning and "aligned as declared" in warning
    assert report.aligned and report.links >= 10 and len(store.calls) == 1


def test_unrelated_pair_warns_and_writes_nothing() -> None:
    rng = np.random.default_rng(11)
    store = FakeStore(
        {
            "a": (_chunks("a", "en", 20), _topics(20, rng)),
            "b": (_chunks("b", "zh", 30), _topics(30, rng)),
        }
    )
    (report,) = align_translations([_meta("a", "en", "b"), _meta("b", "zh")], store=store)
    assert any("are these really translations?" in w for w in report.warnings)
    assert report.links == 0 and report.chunks_updated == 0 and store.calls == []


def test_missing_documents_and_vectors_are_reported() -> None:
    store, docs = _translated_store()
    del store.vectors["en:00001:x"]
    (report,) = align_translations(docs, store=store)
    assert any("no vector" in w for w in report.warnings) and report.src_chunks == 24
    empty = FakeStore({})
    (report,) = align_translations(docs, store=empty)
    assert any("no chunks in the store" in w for w in report.warnings) and empty.calls == []


# -- with the real model (slow) ----------------------------------------------------------------


@pytest.fixture(scope="module")
def gold_sides(embedder):
    from bench.alignment import EN_FILE, ZH_FILE, prepare_side

    return prepare_side(EN_FILE, embedder), prepare_side(ZH_FILE, embedder)


@pytest.mark.slow
def test_gold_set_precision_and_recall(gold_sides) -> None:
    from bench.alignment import run_gold

    en, zh = gold_sides
    result = run_gold(en, zh, thresholds=(0.5,))
    (score,) = result["scores"]
    assert score["precision"] >= 0.9, score
    assert score["recall"] >= 0.9, score


@pytest.mark.slow
def test_real_store_round_trip(gold_sides, embedder, tmp_path: Path) -> None:
    """000/001 through a fresh Milvus Lite collection: links written once, then nothing."""
    from reportrag.store import MilvusStore

    en, zh = gold_sides
    with MilvusStore(str(tmp_path / "align.db"), "align_test", embedder.dim) as store:
        store.ensure_collection(embedder.fingerprint())
        store.upsert(en.chunks, en.vecs)
        store.upsert(zh.chunks, zh.vecs)
        docs = [_meta(en.doc_id, "en", zh.doc_id), _meta(zh.doc_id, "zh")]
        (first,) = align_translations(docs, store=store)
        assert first.warnings == [] and first.links > 150 and first.chunks_updated > 250
        stored = store.chunks_of(en.doc_id)
        assert sum(bool(c.counterparts) for c in stored) / len(stored) >= 0.9
        assert all(cp.lang == "zh" for c in stored for cp in c.counterparts)
        (second,) = align_translations(docs, store=store)
        assert second.chunks_updated == 0 and second.links == first.links


@pytest.mark.slow
def test_unrelated_articles_get_no_counterparts(embedder) -> None:
    """002 (English article) and 004 (Chinese article) share a topic, not a text."""
    from bench.alignment import UNRELATED_FILES, prepare_side

    a, b = (prepare_side(f, embedder) for f in UNRELATED_FILES)
    store = FakeStore({a.doc_id: (a.chunks, a.vecs), b.doc_id: (b.chunks, b.vecs)})
    docs = [_meta(a.doc_id, "en", b.doc_id), _meta(b.doc_id, "zh")]
    (report,) = align_translations(docs, store=store)
    assert report.links == 0 and store.calls == []
    assert any("are these really translations?" in w for w in report.warnings)


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _side(doc: str, lang: str, n: int) -> list[Chunk]:
    return [Chunk(chunk_id=f"{doc}:{i}", doc_id=doc, title="", lang=lang, kind="", date="",
                  section="", ordinal=i, text=f"passage {i}", token_count=1, char_start=0,
                  char_end=0, content_hash="") for i in range(n)]


def test_a_short_pair_is_aligned_against_other_documents_passages() -> None:
    # Three passages per side on one topic: every pair of them is alike, the translations a
    # little more. Inside the 3 x 3 matrix that often does not stand out; against other
    # documents' passages it does. Twenty random draws of such a pair:
    a, b = _side("a", "en", 3), _side("b", "zh", 3)
    alone_failed = 0
    for seed in range(20):
        rng = np.random.default_rng(seed)
        topic, own = _unit(rng.normal(size=32)), _unit(rng.normal(size=(3, 32)))
        src = _unit(topic + 0.5 * own + 0.05 * rng.normal(size=(3, 32)))
        tgt = _unit(topic + 0.5 * own + 0.05 * rng.normal(size=(3, 32)))
        others = Background(*(_unit(0.5 * rng.normal(size=(64, 32)) + 0.3 * topic)
                              for _ in range(2)))
        alone_failed += not align_pair(a, src, b, tgt).kept_links
        links = {(lk.src, lk.tgt) for lk in align_pair(a, src, b, tgt,
                                                       background=others).kept_links}
        assert {(0, 0), (1, 1), (2, 2)} <= links and all(abs(i - j) <= 1 for i, j in links)
        # A document on another topic gets nothing from the background.
        stranger = _unit(_unit(rng.normal(size=32)) + 0.5 * _unit(rng.normal(size=(3, 32)))
                         + 0.05 * rng.normal(size=(3, 32)))
        assert align_pair(a, src, b, stranger, background=others).kept_links == []
    assert alone_failed >= 5  # what the background is for


def test_backgrounds_are_the_passages_of_the_pages_most_like_the_partner() -> None:
    rng = np.random.default_rng(1)
    topic = _unit(rng.normal(size=8))

    def doc(doc_id: str, lang: str, near: bool) -> tuple[list[Chunk], np.ndarray]:
        vecs = (3 * topic if near else 0) + rng.normal(size=(3, 8))
        return _side(doc_id, lang, 3), vecs.astype(np.float32)

    loaded = {"en1": doc("en1", "en", True), "en2": doc("en2", "en", False),
              "en3": doc("en3", "en", True), "zh1": doc("zh1", "zh", True),
              "zh2": doc("zh2", "zh", False)}
    langs = {d: d[:2] for d in loaded}
    bg = Backgrounds(loaded, langs).for_pair("en1", "en", "zh1", "zh")
    assert bg is not None
    # English passages outside the pair, those of the page most like zh1 (en3) first.
    np.testing.assert_allclose(bg.src_lang[:3], _unit(loaded["en3"][1]), rtol=1e-6)
    np.testing.assert_allclose(bg.src_lang[3:], _unit(loaded["en2"][1]), rtol=1e-6)
    np.testing.assert_allclose(bg.tgt_lang, _unit(loaded["zh2"][1]), rtol=1e-6)
    # The same documents give the same sample; no other page in a language: no background.
    again = Backgrounds(dict(reversed(loaded.items())), langs).for_pair("en1", "en", "zh1", "zh")
    assert again is not None and np.array_equal(again.src_lang, bg.src_lang)
    assert Backgrounds(loaded, langs).for_pair("en1", "en", "zh2", "zh") is not None
    del loaded["zh2"]
    assert Backgrounds(loaded, langs).for_pair("en1", "en", "zh1", "zh") is None
