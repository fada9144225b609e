"""Acceptance: chunk languages on a hand-labelled sample of real documentation chunks.

``tests/data/lang_sample.jsonl`` holds chunks of the real documentation pages in
``eval/realdocs/docs/`` (en/zh/de) and of the five reports in ``corpus/``, cut by the current
chunker, each labelled by hand with the language a careful reader gives it in context (see
tests/data/README.md). Each chunk's text goes through the prose extraction and the chunk rule
with its document's language as :func:`document_language` finds it from the whole document.
"""

from __future__ import annotations

import csv
import json
import tomllib
from collections import Counter
from pathlib import Path

import pytest

from reportrag.langid import chunk_language, default_detector, document_language

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "tests" / "data" / "lang_sample.jsonl"
REALDOCS = REPO / "eval" / "realdocs"
MIN_ACCURACY = 0.97


def _sample() -> list[dict]:
    with SAMPLE.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope="module")
def sample() -> list[dict]:
    default_detector().warm_up()
    return _sample()


def _accuracy(items: list[dict], key: str) -> tuple[float, int]:
    right = sum(item[key] == item["label"] for item in items)
    return right / len(items), len(items) - right


def test_sample_composition(sample: list[dict]) -> None:
    assert len(sample) >= 300
    assert {item["label"] for item in sample} <= {"en", "zh", "de"}
    per_doc_lang = Counter(item["doc_lang"] for item in sample)
    assert set(per_doc_lang) == {"en", "zh", "de"} and min(per_doc_lang.values()) >= 50
    files = Counter(item["file"] for item in sample)
    assert len(files) == 72 and min(files.values()) >= 2  # every document is sampled
    keys = [(item["file"], item["ordinal"]) for item in sample]
    assert len(keys) == len(set(keys))


def test_chunk_language_on_the_sample(sample: list[dict]) -> None:
    for item in sample:
        item["new"] = chunk_language(item["text"], item["doc_lang"])
    report = []
    for lang in ("all", "en", "zh", "de"):
        items = [i for i in sample if lang in ("all", i["doc_lang"])]
        new, new_miss = _accuracy(items, "new")
        old, old_miss = _accuracy(items, "old")
        report.append(
            f"{lang}: {len(items)} chunks, new {new:.1%} ({new_miss} wrong), "
            f"old per-chunk detection {old:.1%} ({old_miss} wrong)"
        )
    misses = [
        f"  {i['file']}#{i['ordinal']} (doc {i['doc_lang']}): label {i['label']}, got {i['new']}"
        f"{' - ' + i['note'] if i['note'] else ''}"
        for i in sample
        if i["new"] != i["label"]
    ]
    print("\n".join(["", *report, "misses:", *misses]))
    for lang in ("en", "zh", "de"):
        accuracy, _ = _accuracy([i for i in sample if i["doc_lang"] == lang], "new")
        assert accuracy >= MIN_ACCURACY, "\n".join([*report, *misses])
    assert _accuracy(sample, "new")[0] >= MIN_ACCURACY, "\n".join([*report, *misses])


def _true_languages() -> dict[str, str]:
    """file (relative to the repository) -> its language as its source states it."""
    manifest = tomllib.loads((REPO / "corpus" / "manifest.toml").read_text(encoding="utf-8"))
    langs = {f"corpus/{d['file']}": d["lang"] for d in manifest["documents"]}
    sources = REALDOCS / "sources.tsv"
    if sources.is_file():
        with sources.open(encoding="utf-8") as f:
            for row in csv.DictReader(f, delimiter="\t"):
                langs[f"eval/realdocs/docs/{row['file']}"] = row["lang"]
    return langs


def test_sample_document_languages_are_right(sample: list[dict]) -> None:
    truth = _true_languages()
    for item in sample:
        if item["file"] in truth:
            assert item["doc_lang"] == truth[item["file"]], item["file"]


def test_document_language_of_every_document() -> None:
    truth = _true_languages()
    present = {f: lang for f, lang in truth.items() if (REPO / f).is_file()}
    if len(present) < 72:
        pytest.skip(f"only {len(present)} of the 72 documents are here (eval/realdocs/docs?)")
    wrong = {}
    for f, lang in present.items():
        guess = document_language([(REPO / f).read_text(encoding="utf-8")])
        if guess.lang != lang or guess.confidence < 0.5:
            wrong[f] = (lang, guess)
    assert not wrong
