"""Search service: embed the query, search Milvus with filters inside the search, fuse, trim.

Scores (documented in docs/api.md):
- ``dense_score``: cosine similarity of query and passage vectors, in [-1, 1] (e5: ~0.7–0.95).
- ``keyword_score``: BM25 score of the passage for the query, ≥ 0, unbounded; None when the
  passage was not among the keyword hits.
- ``score``: the ranking score. ``dense``: the dense score. ``hybrid`` and ``crosslingual``:
  reciprocal-rank fusion Σ 1/(60 + rank) over the rankings that found the passage.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from reportrag.errors import CapabilityError, InputError
from reportrag.types import Chunk, Filters, StoreHit
from search.crosslingual import (
    detect_query_lang,
    fuse_with_pivot,
    interleave,
    matches,
    pivot_ranking,
    source_filters,
)
from search.fusion import dedupe as dedupe_ids
from search.fusion import mmr, rrf

logger = logging.getLogger(__name__)

MODES = ("auto", "dense", "hybrid", "crosslingual")
BALANCE = ("auto", "none", "interleave")


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
            "section": c.section, "text": c.text, "score": round(self.score, 6),
            "dense_score": None if self.dense_score is None else round(self.dense_score, 6),
            "keyword_score": None if self.keyword_score is None else round(self.keyword_score, 6),
            "char_start": c.char_start, "char_end": c.char_end, "kind": c.kind, "date": c.date,
            "ordinal": c.ordinal, "found_via": self.found_via,
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


def search_executor(threads: int = 4) -> ThreadPoolExecutor:
    """The thread pool the searches of a request run on (shared by concurrent requests)."""
    return ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="reportrag-search")


class SearchService:
    """Retrieval over one collection with one embedder.

    Searches of one request run concurrently on a small thread pool: keyword (BM25) searches
    start before the query is embedded (they do not need the vector), dense searches as
    soon as it is. The embedders and pymilvus release the GIL while they work, so on a
    Milvus server the searches overlap for real; on Milvus Lite they overlap with the
    embedding at least.
    """

    def __init__(self, embedder, store, *, candidates: int = 40,  # noqa: ANN001
                 detect_lang: Callable[[str], str] | None = None,
                 executor: ThreadPoolExecutor | None = None) -> None:
        self.embedder = embedder
        self.store = store
        self.candidates = candidates
        if detect_lang is None:
            from reportrag.langid import default_detector

            detector = default_detector()
            detect_lang = detector.detect_query
        self.detect_lang = detect_lang
        # A long-lived owner (the API runtime) passes one pool that outlives reconnects.
        self._owns_pool = executor is None
        self._pool = executor or search_executor()

    def close(self) -> None:
        """Stop the search threads this service made (searches in flight finish first)."""
        if self._owns_pool:
            self._pool.shutdown(wait=True)

    # ---- modes -------------------------------------------------------------------------
    def modes(self) -> list[str]:
        """Modes this store can run."""
        base = ["auto", "dense", "hybrid"] if self.store.capabilities.bm25 else ["auto", "dense"]
        return [*base, "crosslingual"]

    def _base_mode(self) -> str:
        return "hybrid" if self.store.capabilities.bm25 else "dense"

    def resolve_mode(self, mode: str, filters: Filters, query_lang: str) -> str:
        """The concrete mode for a request; CapabilityError when the store cannot run it."""
        if mode not in MODES:
            raise InputError(f"mode must be one of {MODES}, not {mode!r}")
        if mode == "hybrid" and not self.store.capabilities.bm25:
            raise CapabilityError(
                "hybrid search needs BM25 full-text search, which this Milvus "
                f"({self.store.capabilities.server_version}) does not support; use mode=dense",
                details={"supported_modes": self.modes()})
        if mode == "auto":
            cross = bool(query_lang and filters.lang and query_lang not in filters.lang)
            return "crosslingual" if cross else self._base_mode()
        return mode

    # ---- search ------------------------------------------------------------------------
    def search(self, query: str, *, top_k: int = 5, filters: Filters | None = None,
               mode: str = "auto", min_score: float | None = None, dedupe: bool = True,
               diversify: bool = False, balance: str = "auto",
               with_counterparts: bool = False) -> SearchResult:
        """Run one search; hits sorted by ``score``, at most ``top_k``."""
        t0 = time.perf_counter()
        if balance not in BALANCE:
            raise InputError(f"balance must be one of {BALANCE}, not {balance!r}")
        filters = filters or Filters()
        qlang = detect_query_lang(self.detect_lang, query)
        ran = self.resolve_mode(mode, filters, qlang)
        k = max(self.candidates, top_k * 2)
        langs = filters.lang
        per_lang = balance == "interleave" or (balance == "auto" and len(langs) > 1)
        # Start every keyword search now, then embed the query while they run.
        if per_lang:
            plans = {lang: self._plan(query, replace(filters, lang=(lang,)), ran, qlang, k)
                     for lang in langs}
        else:
            plans = {"": self._plan(query, filters, ran, qlang, k)}
        qvec = self.embedder.embed_query(query)
        for plan in plans.values():
            plan.start_dense(qvec)
        ranked = {lang: self._assemble(plan, qvec) for lang, plan in plans.items()}
        if per_lang:
            by_id = {h.chunk.chunk_id: h for hits in ranked.values() for h in hits}
            pool = [by_id[i] for i in interleave(
                {lang: [h.chunk.chunk_id for h in hits] for lang, hits in ranked.items()}, k)]
        else:
            pool = ranked[""]
        if min_score is not None:
            pool = [h for h in pool if h.dense_score is not None and h.dense_score >= min_score]
        hits = self._trim(pool, top_k=top_k, dedupe=dedupe, diversify=diversify)
        if with_counterparts:
            self._attach_counterparts(hits)
        took = (time.perf_counter() - t0) * 1000
        return SearchResult(hits=hits, mode=ran, took_ms=took, query_lang=qlang)

    def _plan(self, query: str, filters: Filters, mode: str, qlang: str, k: int) -> _Plan:
        """The retrievals one ranking needs, with their keyword searches already started."""
        if mode != "crosslingual":
            return _Plan(self._retrieval(query, filters, mode == "hybrid", k))
        hybrid = self._base_mode() == "hybrid"
        direct = self._retrieval(query, filters, hybrid, k)
        if not qlang or (filters.lang and qlang in filters.lang):
            return _Plan(direct)
        return _Plan(direct, self._retrieval(query, source_filters(filters, qlang), hybrid, k))

    def _retrieval(self, query: str, filters: Filters, hybrid: bool, k: int) -> _Retrieval:
        keyword = self._pool.submit(self.store.search_text, query, filters, k) if hybrid else None
        return _Retrieval(self, filters, hybrid, k, keyword)

    def _assemble(self, plan: _Plan, qvec: np.ndarray) -> list[Hit]:
        direct = plan.direct.merged()
        source = plan.source.merged() if plan.source is not None else {}
        # Keyword-only hits of both rankings get their dense scores in one round trip.
        self._fill_dense_scores(qvec, {**direct, **source})
        if plan.source is None:
            return _ranked(direct)
        filters = plan.direct.filters
        pivot = pivot_ranking([h.chunk for h in _ranked(source)], filters)
        direct_ids = [h.chunk.chunk_id for h in _ranked(direct)]
        by_id = dict(direct)
        missing = [cid for cid, _, _ in pivot if cid not in by_id]
        fetched: dict[str, tuple[Chunk, np.ndarray]] = {}
        if missing:
            chunks, vectors = self.store.get_with_vectors(missing)
            fetched = {c.chunk_id: (c, v) for c, v in zip(chunks, vectors, strict=True)}
        pivot_ids: list[str] = []
        for cid, _conf, _src in pivot:
            hit = by_id.get(cid)
            if hit is None:
                chunk, vector = fetched.get(cid, (None, None))
                if chunk is None or vector is None or not matches(chunk, filters):
                    continue
                hit = by_id[cid] = Hit(chunk, 0.0, dense_score=float(vector @ qvec),
                                       found_via=[])
            if "pivot" not in hit.found_via:
                hit.found_via.append("pivot")
            pivot_ids.append(cid)
        fused = fuse_with_pivot(direct_ids, pivot_ids)
        for cid, hit in by_id.items():
            hit.score = fused.get(cid, 0.0)
        return _ranked(by_id)

    def _merge(self, dense: list[StoreHit], keyword: list[StoreHit], *,
               hybrid: bool) -> dict[str, Hit]:
        """One retrieval's hits by id, RRF-scored when hybrid; dense scores not yet filled."""
        by_id: dict[str, Hit] = {}
        for h in dense:
            by_id[h.chunk.chunk_id] = Hit(h.chunk, h.score, dense_score=h.score,
                                          found_via=["dense"])
        for h in keyword:
            hit = by_id.get(h.chunk.chunk_id)
            if hit is None:
                hit = by_id[h.chunk.chunk_id] = Hit(h.chunk, 0.0, found_via=[])
            hit.keyword_score = h.score
            hit.found_via.append("keyword")
        if hybrid:
            fused = rrf([[h.chunk.chunk_id for h in dense], [h.chunk.chunk_id for h in keyword]])
            for i, hit in by_id.items():
                hit.score = fused.get(i, 0.0)
        return by_id

    def _fill_dense_scores(self, qvec: np.ndarray, by_id: dict[str, Hit]) -> None:
        # Hits found another way still get a readable dense score (cosine with the query).
        missing = [i for i, h in by_id.items() if h.dense_score is None]
        if missing:
            vecs = self.store.get_vectors(missing)
            for i in missing:
                if i in vecs:
                    by_id[i].dense_score = float(vecs[i] @ qvec)

    def _trim(self, hits: list[Hit], *, top_k: int, dedupe: bool, diversify: bool) -> list[Hit]:
        if not (dedupe or diversify) or len(hits) <= 1:
            return hits[:top_k]
        ids = [h.chunk.chunk_id for h in hits]
        if dedupe:
            # Diversifying picks from a wider pool; otherwise the first top_k survivors do.
            limit = None if diversify else top_k
            ids = dedupe_ids([(h.chunk.chunk_id, h.chunk.text) for h in hits], limit)
        if diversify:
            pool = ids[: max(top_k * 4, 20)]
            vectors = self.store.get_vectors(pool)
            rel = {h.chunk.chunk_id: (h.dense_score or 0.0) for h in hits}
            ids = mmr(pool, rel, vectors, top_k=top_k)
        by_id = {h.chunk.chunk_id: h for h in hits}
        return [by_id[i] for i in ids[:top_k]]

    def counterparts_of(self, chunk: Chunk) -> list[dict[str, Any]]:
        """The aligned passages of a chunk, with their text, best first."""
        ids = [c.chunk_id for c in chunk.counterparts]
        found = {c.chunk_id: c for c in self.store.get(ids)} if ids else {}
        return _counterpart_dicts(chunk, found)

    def _attach_counterparts(self, hits: list[Hit]) -> None:
        ids = list(dict.fromkeys(cp.chunk_id for h in hits for cp in h.chunk.counterparts))
        found = {c.chunk_id: c for c in self.store.get(ids)} if ids else {}
        for h in hits:
            h.counterparts = _counterpart_dicts(h.chunk, found)


def _ranked(by_id: dict[str, Hit]) -> list[Hit]:
    """Best first; ties (common under RRF) broken by the dense score."""
    return sorted(by_id.values(), key=lambda h: (-h.score, -(h.dense_score or 0.0)))


def _counterpart_dicts(chunk: Chunk, found: dict[str, Chunk]) -> list[dict[str, Any]]:
    return [
        {"chunk_id": cp.chunk_id, "lang": cp.lang, "confidence": round(cp.confidence, 4),
         "text": found[cp.chunk_id].text, "doc_id": found[cp.chunk_id].doc_id,
         "section": found[cp.chunk_id].section}
        for cp in sorted(chunk.counterparts, key=lambda c: -c.confidence)
        if cp.chunk_id in found
    ]


class _Retrieval:
    """One filtered retrieval in flight: keyword search started, dense search once asked."""

    def __init__(self, service: SearchService, filters: Filters, hybrid: bool, k: int,
                 keyword: Future[list[StoreHit]] | None) -> None:
        self.service = service
        self.filters = filters
        self.hybrid = hybrid
        self.k = k
        self.keyword = keyword
        self.dense: Future[list[StoreHit]] | None = None

    def start_dense(self, qvec: np.ndarray) -> None:
        if self.dense is None:
            store = self.service.store
            self.dense = self.service._pool.submit(store.search_dense, qvec, self.filters, self.k)

    def merged(self) -> dict[str, Hit]:
        assert self.dense is not None, "start_dense first"
        dense = self.dense.result()
        keyword = self.keyword.result() if self.keyword is not None else []
        return self.service._merge(dense, keyword, hybrid=self.hybrid)


@dataclass
class _Plan:
    """The retrievals behind one ranking: direct, plus the query-language one to pivot from."""

    direct: _Retrieval
    source: _Retrieval | None = None

    def start_dense(self, qvec: np.ndarray) -> None:
        self.direct.start_dense(qvec)
        if self.source is not None:
            self.source.start_dense(qvec)
