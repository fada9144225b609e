"""Search service: embed the query, search Milvus with filters inside the search, fuse, trim.

Scores (documented in docs/api.md):
- ``dense_score``: cosine similarity of query and passage vectors, in [-1, 1] (e5: ~0.7–0.95).
- ``keyword_score``: BM25 score of the passage for the query, ≥ 0, unbounded; None when the
  passage was not among the keyword hits.
- ``score``: the ranking score. ``dense``: the dense score. ``hybrid`` and ``crosslingual``:
  weighted reciprocal-rank fusion Σ w/(60 + rank) over the rankings that found the passage
  (``Tuning``: BM25 weighs ``keyword_weight`` against the dense ranking's 1; in
  ``crosslingual`` the pivoted ranking is a third list, weighing ``pivot_weight``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from reportrag import telemetry, tracing
from reportrag.errors import CapabilityError, FilterError, InputError
from reportrag.metadata import resolve_filter
from reportrag.rules import BALANCE, MODES
from reportrag.search.crosslingual import detect_query_lang, interleave, source_filters
from reportrag.search.ranking import Candidate, RankingPlan, Retrieval, assemble
from reportrag.search.reading import DEDUPE_SLACK, fill_dense_scores, trim
from reportrag.search.results import Hit, SearchResult, counterpart_dicts
from reportrag.search.tuning import Tuning
from reportrag.types import Chunk, Filters

if TYPE_CHECKING:
    from reportrag.embedding.base import Embedder
    from reportrag.settings import Settings
    from reportrag.store.protocols import ReadStore

__all__ = [
    "BALANCE",
    "DEDUPE_SLACK",
    "MODES",
    "Hit",
    "SearchResult",
    "SearchService",
    "Tuning",
    "search_executor",
    "service_from_settings",
]

logger = logging.getLogger(__name__)



def service_from_settings(embedder: Embedder, store: ReadStore, settings: Settings, *,
                          executor: ThreadPoolExecutor | None = None) -> SearchService:
    """The search service with the ranking settings (REPORTRAG_SEARCH_*) applied."""
    return SearchService(embedder, store, candidates=settings.search_candidates,
                         executor=executor,
                         tuning=Tuning.from_settings(settings))


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

    def __init__(self, embedder: Embedder, store: ReadStore, *, candidates: int = 40,
                 detect_lang: Callable[[str], str] | None = None,
                 executor: ThreadPoolExecutor | None = None,
                 tuning: Tuning | None = None) -> None:
        self.embedder = embedder
        self.store = store
        self.candidates = candidates
        self.tuning = tuning or Tuning()
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
        with tracing.span("reportrag.search", top_k=top_k) as current:
            result = self._search(query, top_k, filters, mode, min_score, dedupe, diversify,
                                  balance, with_counterparts)
            tracing.set_attributes(current, mode=result.mode, hits=len(result.hits),
                                   query_lang=result.query_lang)
        telemetry.search_done(result.mode, len(result.hits))
        result.took_ms = (time.perf_counter() - t0) * 1000
        return result

    def resolve_metadata(self, filters: Filters) -> Filters:
        """Filters whose metadata condition is checked against the collection's declared
        keys and types (FilterError: 422); read again once before a key is called unknown
        (another process may have just ingested the document that declares it)."""
        if filters.metadata is None:
            return filters
        try:
            resolved = resolve_filter(filters.metadata, self.store.metadata_types())
        except FilterError:
            resolved = resolve_filter(filters.metadata, self.store.metadata_types(fresh=True))
        return replace(filters, metadata=resolved)

    def _search(self, query: str, top_k: int, filters: Filters | None, mode: str,
                min_score: float | None, dedupe: bool, diversify: bool, balance: str,
                with_counterparts: bool) -> SearchResult:
        filters = self.resolve_metadata(filters or Filters())
        qlang = detect_query_lang(self.detect_lang, query)
        ran = self.resolve_mode(mode, filters, qlang)
        full = max(self.candidates, top_k * 2)
        k = self._depth(ran, top_k, diversify, full)
        per_lang = balance == "interleave" or (balance == "auto" and len(filters.lang) > 1)
        qvec: np.ndarray | None = None
        while True:
            pool, qvec, truncated = self._pool_for(query, filters, ran, qlang, k, per_lang, qvec)
            if min_score is not None:
                fill_dense_scores(self.store, qvec, pool)
                kept = [c for c in pool
                        if c.dense_score is not None and c.dense_score >= min_score]
                # All of a dense ranking above the threshold: deeper hits are below it too.
                truncated = truncated and len(kept) == len(pool)
                pool = kept
            with telemetry.stage("read_chunks"):
                hits = trim(self.store, pool, qvec, top_k=top_k, dedupe=dedupe,
                            diversify=diversify)
            if len(hits) >= top_k or not truncated or k >= full:
                break
            # Near-duplicates (or chunks deleted since) used up a short dense ranking: search
            # as deep as the fused modes do.
            k = full
        if with_counterparts:
            self._attach_counterparts(hits)
        return SearchResult(hits=hits, mode=ran, took_ms=0.0, query_lang=qlang)

    def _depth(self, mode: str, top_k: int, diversify: bool, full: int) -> int:
        """Hits each search returns.

        Fused rankings (hybrid, cross-lingual) need deep lists, since a passage's rank in
        every list counts: ``candidates`` each. A dense ranking is final, so it returns what
        trimming reads: twice ``top_k`` (or twice the pool MMR picks from). On Milvus Lite
        every hit is materialised as a whole row, so fewer hits is less search time
        (docs/benchmarks.md#where-a-requests-time-goes); when that is not enough,
        :meth:`search` goes deeper.
        """
        if mode != "dense":
            return full
        want = max(top_k * 4, 20) if diversify else top_k
        return min(full, 2 * want)

    def _pool_for(self, query: str, filters: Filters, ran: str, qlang: str, k: int,
                  per_lang: bool, qvec: np.ndarray | None,
                  ) -> tuple[list[Candidate], np.ndarray, bool]:
        """The ranked candidates, the query vector, and whether a ranking was cut at ``k``."""
        rows = self._rows_in_search(ran, per_lang)
        # Start every keyword search now, then embed the query while they run.
        if per_lang:
            plans = {lang: self._plan(query, replace(filters, lang=(lang,)), ran, qlang, k, rows)
                     for lang in filters.lang}
        else:
            plans = {"": self._plan(query, filters, ran, qlang, k, rows)}
        if qvec is None:
            with telemetry.stage("encode_query"):
                qvec = self.embedder.embed_query(query)
        for plan in plans.values():
            plan.start_dense(qvec)
        ranked = {lang: assemble(plan, qvec, self.store, self.tuning)
                  for lang, plan in plans.items()}
        truncated = any(len(cands) >= k for cands in ranked.values())
        if not per_lang:
            return ranked[""], qvec, truncated
        by_id = {c.chunk_id: c for cands in ranked.values() for c in cands}
        pool = [by_id[i] for i in interleave(
            {lang: [c.chunk_id for c in cands] for lang, cands in ranked.items()}, k)]
        return pool, qvec, truncated

    def _rows_in_search(self, mode: str, per_lang: bool) -> bool:
        """Whether searches return whole chunks, or ids only with the kept chunks read after.

        Milvus Lite materialises every hit as a whole Python row inside the search, so with
        two or more searches a request (hybrid, cross-lingual, per language) asking them for
        ids and reading the few kept chunks once is cheaper; with one dense search, or on a
        server (where a read is one more round trip), the rows come with the search.
        """
        if self.store.capabilities.kind != "lite":
            return True
        return mode == "dense" and not per_lang

    def _plan(self, query: str, filters: Filters, mode: str, qlang: str, k: int,
              rows: bool) -> RankingPlan:
        """The retrievals one ranking needs, with their keyword searches already started."""
        if mode != "crosslingual":
            return RankingPlan(self._retrieval(query, filters, mode == "hybrid", k, rows=rows))
        hybrid = self._base_mode() == "hybrid"
        direct = self._retrieval(query, filters, hybrid, k, rows=rows)
        if not qlang or (filters.lang and qlang in filters.lang):
            return RankingPlan(direct)
        # The source ranking is pivoted through its hits' counterparts: read them with it.
        # Only its best few hits are carried across, so it needs few candidates.
        source = self._retrieval(query, source_filters(filters, qlang), hybrid,
                                 min(k, self.tuning.pivot_candidates), counterparts=True,
                                 rows=rows)
        return RankingPlan(direct, source)

    def _retrieval(self, query: str, filters: Filters, hybrid: bool, k: int, *,
                   counterparts: bool = False, rows: bool = False) -> Retrieval:
        return Retrieval(self.store, self._pool, query, filters, hybrid=hybrid, k=k,
                         keyword_weight=self.tuning.keyword_weight, counterparts=counterparts,
                         rows=rows)

    def counterparts_of(self, chunk: Chunk) -> list[dict[str, Any]]:
        """The aligned passages of a chunk, with their text, best first."""
        ids = [c.chunk_id for c in chunk.counterparts]
        found = {c.chunk_id: c for c in self.store.get(ids)} if ids else {}
        return counterpart_dicts(chunk, found)

    def _attach_counterparts(self, hits: list[Hit]) -> None:
        ids = list(dict.fromkeys(cp.chunk_id for h in hits for cp in h.chunk.counterparts))
        found = {c.chunk_id: c for c in self.store.get(ids)} if ids else {}
        for h in hits:
            h.counterparts = counterpart_dicts(h.chunk, found)
