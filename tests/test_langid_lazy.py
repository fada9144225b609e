"""lingua's models load on first need: query languages are those of preloaded models."""

from __future__ import annotations

import json
from pathlib import Path

import lingua

from reportrag.langid import LanguageDetector, default_detector

REPO = Path(__file__).resolve().parent.parent
QUERY_FILES = [
    REPO / "eval" / "dev_queries.jsonl",
    REPO / "eval" / "queries_extended.jsonl",
    REPO / "eval" / "realdocs" / "queries.jsonl",
    REPO / "eval" / "pairs-dev" / "queries.jsonl",
    Path("/work/shared/dev_eval/queries.jsonl"),  # the shared dev set, where this machine has it
]


class _Preloaded(LanguageDetector):
    """The detector as it was: every model of its languages loaded up front."""

    def lingua_detector(self) -> lingua.LanguageDetector | None:
        if not hasattr(self, "_preloaded"):
            isos = [getattr(lingua.IsoCode639_1, c.upper()) for c in self.lingua_codes]
            builder = lingua.LanguageDetectorBuilder.from_iso_codes_639_1(*isos)
            self._preloaded = builder.with_preloaded_language_models().build()
        return self._preloaded


def test_query_languages_are_those_of_preloaded_models() -> None:
    queries = [
        json.loads(line)["q"]
        for path in QUERY_FILES
        if path.is_file()
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    assert len(queries) >= 500
    lazy = default_detector()
    lazy.warm_up()
    preloaded = _Preloaded()
    got = [lazy.detect_query(q) for q in queries]
    want = [preloaded.detect_query(q) for q in queries]
    assert got == want
    assert len(set(want)) >= 3  # the set exercises several languages, not one default
    for candidates in (["en", "zh"], ["de", "en", "fr", "zh"]):
        assert [lazy.detect_query(q, candidates=candidates) for q in queries] == [
            preloaded.detect_query(q, candidates=candidates) for q in queries
        ]


def test_the_free_heap_goes_back_to_the_system_on_glibc() -> None:
    import platform

    from reportrag.heap import release_free_heap

    expected = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"
    assert release_free_heap() is expected
