"""The evaluation harness: relevance judgement, ranks and the summary table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reportrag.errors import InputError
from reportrag.search.evaluate import (
    Query,
    QueryResult,
    first_relevant_rank,
    format_table,
    is_relevant,
    load_queries,
    norm,
    summarize,
)
from reportrag.types import Chunk

GOLD_EN = {"lang": "en", "contains": ["PingCAP, Zilliz, Jina AI"]}


def _chunk(i: int, text: str, lang: str = "en") -> Chunk:
    return Chunk(f"d:{i}", "d", "t", lang, "report", "", "", i, text, 10, 0, 1, "h",
                 prev_id=f"d:{i - 1}", next_id=f"d:{i + 1}")


def test_norm_removes_whitespace_and_unifies_width() -> None:
    assert norm("１．７ 万\u3000个") == norm("1.7万个") == "1.7万个"
    assert norm("Jina\n AI") == "JinaAI"


def test_gold_with_other_whitespace_and_width_forms_is_found() -> None:
    assert is_relevant("invested early in PingCAP,  Zilliz,\nJina AI and others", "en", GOLD_EN)
    assert is_relevant("早期投资了ＰｉｎｇＣＡＰ, Zilliz, Jina AI", "en", GOLD_EN)
    assert not is_relevant("invested early in PingCAP and Zilliz", "en", GOLD_EN)


def test_wrong_language_is_never_relevant() -> None:
    assert not is_relevant("PingCAP, Zilliz, Jina AI", "zh", GOLD_EN)


def test_gold_split_across_two_chunks_counts_for_the_chunk_holding_most_of_it() -> None:
    first, second = "Yunqi invested in PingCAP, Zilliz, Ji", "na AI early on."
    assert is_relevant(first, "en", GOLD_EN, next_text=second)  # holds most of the gold
    assert not is_relevant(second, "en", GOLD_EN, prev_text=first)  # holds only "na AI"
    assert not is_relevant(first, "en", GOLD_EN, next_text="something else")


def test_first_relevant_rank_uses_neighbours() -> None:
    q = Query("q1", "en>en", "who?", ("en",), GOLD_EN)
    chunks = [_chunk(5, "unrelated"), _chunk(7, "Yunqi invested in PingCAP, Zilliz, Jina")]
    texts = {"d:8": " AI early on."}
    assert first_relevant_rank(q, chunks, lambda c: ("", texts.get(c.next_id, ""))) == 2
    assert first_relevant_rank(q, chunks[:1], lambda c: ("", "")) is None


def test_summary_recall_and_mrr() -> None:
    q = [Query(f"q{i}", cat, "?", ("en",), GOLD_EN) for i, cat in
         enumerate(["en>en", "en>en", "zh>en", "zh>en"])]
    results = [QueryResult(q[0], 1), QueryResult(q[1], 3), QueryResult(q[2], None),
               QueryResult(q[3], 7)]
    table = summarize(results)
    assert table["en>en"]["recall@1"] == 0.5 and table["en>en"]["recall@5"] == 1.0
    assert table["zh>en"]["recall@5"] == 0.0 and table["zh>en"]["recall@10"] == 0.5
    assert table["overall"]["mrr@10"] == pytest.approx((1 + 1 / 3 + 1 / 7) / 4)
    assert list(table)[-1] == "overall"
    assert "overall" in format_table({"dense": table})
    # Aggregates: per source language, monolingual vs cross-lingual.
    assert table["en>*"]["n"] == 2 and table["zh>*"]["n"] == 2
    assert table["mono"]["n"] == 2 and table["mono"]["recall@1"] == 0.5
    assert table["cross"]["n"] == 2 and table["cross"]["recall@10"] == 0.5
    assert list(table) == ["en>en", "zh>en", "en>*", "zh>*", "cross", "mono", "overall"]


def test_load_queries_reads_the_delivered_format(tmp_path: Path) -> None:
    qs = load_queries(Path(__file__).resolve().parent.parent / "eval" / "dev_queries.jsonl")
    assert len(qs) == 16 and {q.gold["lang"] for q in qs} == {"en", "zh", "de"}
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"id": "x", "q": "?"}) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match="bad.jsonl:1"):
        load_queries(bad)
