"""What a search returns: hits with the scores that found them (the API's hit shape)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from reportrag.types import Chunk


@dataclass
class Hit:
    """One search result with the scores that found it."""

    chunk: Chunk
    score: float
    dense_score: float | None = None
    keyword_score: float | None = None
    found_via: list[str] = field(default_factory=list)
    counterparts: list[dict[str, Any]] | None = None

    def to_dict(self) -> dict[str, Any]:
        c = self.chunk
        out: dict[str, Any] = {
            "chunk_id": c.chunk_id, "doc_id": c.doc_id, "title": c.title, "lang": c.lang,
            "doc_lang": c.doc_lang or c.lang,
            "section": c.section, "text": c.text, "score": round(self.score, 6),
            "dense_score": None if self.dense_score is None else round(self.dense_score, 6),
            "keyword_score": None if self.keyword_score is None else round(self.keyword_score, 6),
            "char_start": c.char_start, "char_end": c.char_end, "kind": c.kind, "date": c.date,
            "ordinal": c.ordinal, "page": c.page or None, "metadata": c.metadata,
            "found_via": self.found_via,
        }
        if self.counterparts is not None:
            out["counterparts"] = self.counterparts
        return out


@dataclass
class SearchResult:
    """Hits plus what actually ran."""

    hits: list[Hit]
    mode: str
    took_ms: float
    query_lang: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"hits": [h.to_dict() for h in self.hits], "mode": self.mode,
                "took_ms": round(self.took_ms, 2), "query_lang": self.query_lang}


def counterpart_dicts(chunk: Chunk, found: dict[str, Chunk]) -> list[dict[str, Any]]:
    """A chunk's aligned passages that were read (``found``), with their text, best first."""
    return [
        {"chunk_id": cp.chunk_id, "lang": cp.lang, "confidence": round(cp.confidence, 4),
         "text": found[cp.chunk_id].text, "doc_id": found[cp.chunk_id].doc_id,
         "section": found[cp.chunk_id].section}
        for cp in sorted(chunk.counterparts, key=lambda c: -c.confidence)
        if cp.chunk_id in found
    ]
