"""Search service: embed the query, search Milvus with filters inside the search, fuse, trim.

Scores (documented in docs/api.md):
- ``dense_score``: cosine similarity of query and passage vectors, in [-1, 1] (e5: ~0.7–0.95).
- ``keyword_score``: BM25 score of the passage for the query, ≥ 0, unbounded, None when the
  passage was not among the keyword hits.
- ``score``: the ranking score. ``dense`` mode: the dense score. ``hybrid`` mode: reciprocal-
  rank fusion Σ 1/(60 + rank), in (0, 2/61] for two lists.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from reportrag.errors import CapabilityError, InputError
from reportrag.types import Chunk, Filters, StoreHit
from search.fusion import dedupe as dedupe_ids
from search.fusion import mmr, rrf

logger = logging.getLogger(__name__)

MODES = ("auto", "dense", "hybrid")


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
            "chunk_id": c.chunk_id,
            "doc_id": c.doc_id,
            "title": c.title,
            "lang": c.lang,
            "section": c.section,
            "text": c.text,
            "score": round(self.score, 6),
            "dense_score": None if self.dense_score is None else round(self.dense_score, 6),
            "keyword_score": None if self.keyword_score is None else round(self.keyword_score, 6),
            "char_start": c.char_start,
            "char_end": c.char_end,
            "kind": c.kind,
            "date": c.date,
            "ordinal": c.ordinal,
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
        return {
            "hits": [h.to_dict() for h in self.hits],
            "mode": self.mode,
            "took_ms": round(self.took_ms, 2),
            "query_lang": self.query_lang,
        }


class SearchService:
    """Retrieval over one collection with one embedder."""

    def __init__(self, embedder, store, *, candidates: int = 40) -> None:  # noqa: ANN001
        self.embedder = embedder
        self.store = store
        self.candidates = candidates

    def modes(self) -> list[str]:
        """Modes this store can run."""
        return ["auto", "dense", "hybrid"] if self.store.capabilities.bm25 else ["auto", "dense"]

    def resolve_mode(self, mode: str) -> str:
        """The concrete mode for a request; CapabilityError when the store cannot run it."""
        if mode not in MODES:
            raise InputError(f"mode must be one of {MODES}, not {mode!r}")
        if mode == "hybrid" and not self.store.capabilities.bm25:
            raise CapabilityError(
                "hybrid search needs BM25 full-text search, which this Milvus "
                f"({self.store.capabilities.server_version}) does not support; use mode=dense",
                details={"supported_modes": self.modes()},
            )
        if mode == "auto":
            return "hybrid" if self.store.capabilities.bm25 else "dense"
        return mode

    def search(
        self,
        query: str,
        *,
        top_k: int = 5,
        filters: Filters | None = None,
        mode: str = "auto",
        min_score: float | None = None,
        dedupe: bool = True,
        diversify: bool = False,
    ) -> SearchResult:
        """Run one search; hits sorted by ``score``, at most ``top_k``."""
        t0 = time.perf_counter()
        filters = filters or Filters()
        ran = self.resolve_mode(mode)
        qvec = self.embedder.embed_query(query)
        k = max(self.candidates, top_k * 4) if (dedupe or diversify or ran == "hybrid") else top_k
        dense = self.store.search_dense(qvec, filters, k)
        keyword: list[StoreHit] = []
        if ran == "hybrid":
            keyword = self.store.search_text(query, filters, k)
        hits = self._combine(qvec, dense, keyword, hybrid=ran == "hybrid")
        if min_score is not None:
            hits = [h for h in hits if h.dense_score is not None and h.dense_score >= min_score]
        hits = self._trim(qvec, hits, top_k=top_k, dedupe=dedupe, diversify=diversify)
        took = (time.perf_counter() - t0) * 1000
        return SearchResult(hits=hits, mode=ran, took_ms=took)

    def _combine(
        self, qvec: np.ndarray, dense: list[StoreHit], keyword: list[StoreHit], *, hybrid: bool
    ) -> list[Hit]:
        by_id: dict[str, Hit] = {}
        for h in dense:
            by_id[h.chunk.chunk_id] = Hit(
                h.chunk, h.score, dense_score=h.score, found_via=["dense"]
            )
        for h in keyword:
            hit = by_id.get(h.chunk.chunk_id)
            if hit is None:
                hit = by_id[h.chunk.chunk_id] = Hit(h.chunk, 0.0, found_via=[])
            hit.keyword_score = h.score
            hit.found_via.append("keyword")
        if not hybrid:
            return sorted(by_id.values(), key=lambda h: -h.score)
        # Keyword-only hits still get a readable dense score (cosine with the query).
        missing = [i for i, h in by_id.items() if h.dense_score is None]
        if missing:
            vecs = self.store.get_vectors(missing)
            for i in missing:
                if i in vecs:
                    by_id[i].dense_score = float(vecs[i] @ qvec)
        fused = rrf([[h.chunk.chunk_id for h in dense], [h.chunk.chunk_id for h in keyword]])
        for i, hit in by_id.items():
            hit.score = fused.get(i, 0.0)
        return sorted(by_id.values(), key=lambda h: (-h.score, -(h.dense_score or 0.0)))

    def _trim(
        self, qvec: np.ndarray, hits: list[Hit], *, top_k: int, dedupe: bool, diversify: bool
    ) -> list[Hit]:
        if not (dedupe or diversify) or len(hits) <= 1:
            return hits[:top_k]
        ids = [h.chunk.chunk_id for h in hits]
        if dedupe:
            ids = dedupe_ids([(h.chunk.chunk_id, h.chunk.text) for h in hits])
        if diversify:
            pool = ids[: max(top_k * 4, 20)]
            vectors = self.store.get_vectors(pool)
            rel = {h.chunk.chunk_id: (h.dense_score or 0.0) for h in hits}
            ids = mmr(pool, rel, vectors, top_k=top_k)
        by_id = {h.chunk.chunk_id: h for h in hits}
        return [by_id[i] for i in ids[:top_k]]
