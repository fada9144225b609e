"""Rank fusion, near-duplicate removal, MMR and language interleaving (pure functions)."""

from __future__ import annotations

import numpy as np
import pytest

from reportrag.search.crosslingual import fuse_with_pivot, interleave, matches, pivot_ranking
from reportrag.search.fusion import dedupe, mmr, rrf
from reportrag.types import Chunk, Counterpart, Filters


def test_rrf_rewards_agreement() -> None:
    scores = rrf([["a", "b", "c"], ["c", "a"]])
    assert scores["a"] == pytest.approx(1 / 61 + 1 / 62)
    assert sorted(scores, key=lambda k: -scores[k]) == ["a", "c", "b"]
    assert rrf([["a"], ["b"]], weights=[1.0, 0.5])["b"] == pytest.approx(0.5 / 61)


def test_dedupe_drops_near_identical_text() -> None:
    items = [
        ("1", "Stability AI open-sourced Stable Diffusion."),
        ("2", "stability  AI open-sourced\nStable Diffusion!"),
        ("3", "Something else entirely about licences."),
        ("4", "Stability AI open-sourced Stable Diffusion. It also released more models."),
    ]
    assert dedupe(items) == ["1", "3"]


def test_dedupe_keys_ignore_width_case_and_punctuation_and_stop_at_the_limit() -> None:
    items = [
        ("a", "ＧＰＵ集群，共 ３ 台"),     # full-width letters, digits and comma
        ("b", "gpu集群共3台"),              # the same after NFKC, case folding, no punctuation
        ("c", "snake_case and snake case"),  # the underscore is not a letter
        ("d", "another passage"),
        ("e", "and a fifth one"),
    ]
    assert dedupe(items) == ["a", "c", "d", "e"]
    assert dedupe(items, limit=2) == ["a", "c"]
    assert dedupe(items, limit=0) == []


def test_mmr_prefers_variety() -> None:
    v = {"a": np.array([1.0, 0.0]), "a2": np.array([0.999, 0.045]), "b": np.array([0.0, 1.0])}
    rel = {"a": 0.9, "a2": 0.89, "b": 0.6}
    assert mmr(["a", "a2", "b"], rel, v, top_k=2, lambda_=0.5) == ["a", "b"]
    assert mmr(["a", "a2", "b"], rel, v, top_k=2, lambda_=1.0) == ["a", "a2"]


def test_interleave_round_robin() -> None:
    out = interleave({"en": ["e1", "e2", "e3"], "zh": ["z1"], "de": ["d1", "d2"]}, 5)
    assert out == ["d1", "e1", "z1", "d2", "e2"]


def _chunk(cid: str, lang: str, cps: list[Counterpart], **kw: str) -> Chunk:
    return Chunk(
        cid,
        kw.get("doc", "d"),
        "t",
        lang,
        kw.get("kind", "report"),
        kw.get("date", ""),
        kw.get("section", ""),
        0,
        "x",
        1,
        0,
        1,
        "h",
        counterparts=cps,
    )


def test_pivot_takes_confident_counterparts_in_source_order() -> None:
    hits = [
        _chunk("en1", "en", [Counterpart("zh1", "zh", 0.9), Counterpart("zh9", "zh", 0.2)]),
        _chunk("en2", "en", [Counterpart("zh2", "zh", 0.8), Counterpart("zh1", "zh", 0.7)]),
        _chunk("en3", "en", [Counterpart("de3", "de", 0.9)]),
    ]
    ranking = pivot_ranking(hits, Filters(lang=("zh",)), limit=3)
    assert [r[0] for r in ranking] == ["zh1", "zh2"]
    assert pivot_ranking(hits, Filters(lang=("zh",)), limit=1) == [("zh1", 0.9, "en1")]


def test_matches_checks_every_filter() -> None:
    c = _chunk("z", "zh", [], doc="doc-zh", section="2. AI › 2.1", date="2024-01-02")
    assert matches(c, Filters(lang=("zh",), doc_id=("doc-zh",), section="2. AI"))
    assert not matches(c, Filters(lang=("en",)))
    assert not matches(c, Filters(section="3."))
    assert not matches(c, Filters(date_from="2024-02-01"))
    assert matches(c, Filters(date_to="2024-01-02"))


def test_the_pivot_is_a_third_list_beside_the_direct_dense_and_keyword_ones() -> None:
    # "a" leads both direct rankings; "b" is only carried across by the pivot.
    fused = fuse_with_pivot(["a", "c"], ["a"], ["b"], keyword_weight=1.25, pivot_weight=1.5)
    assert fused["a"] == pytest.approx((1 + 1.25) / 61)
    assert fused["b"] == pytest.approx(1.5 / 61)
    assert max(fused, key=fused.__getitem__) == "a"  # fused against "a"'s fusion, they tied
    # Direct evidence and the pivot add up: second in dense, first pivoted beats first in dense.
    fused = fuse_with_pivot(["a", "b"], [], ["b"], pivot_weight=1.5)
    assert fused["b"] == pytest.approx(1 / 62 + 1.5 / 61) and fused["b"] > fused["a"]
