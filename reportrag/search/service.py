"""Search service: embed the query, search Milvus with filters inside the search, fuse, trim.

Scores (documented in docs/api.md):
- ``dense_score``: cosine similarity of query and passage vectors, in [-1, 1] (e5: ~0.7–0.95).
- ``keyword_score``: BM25 score of the passage for the query, ≥ 0, unbounded; None when the
  passage was not among the keyword hits.
- ``score``: the ranking score. ``dense``: the dense score. ``hybrid`` and ``crosslingual``:
  weighted reciprocal-rank fusion Σ w/(60 + rank) over the rankings that found the passage
  (``Tuning``: BM25 weighs ``keyword_weight`` against the dense ranking's 1 in ``hybrid``;
  the direct and the pivoted ranking of ``crosslingual`` weigh 1 and ``pivot_weight``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from reportrag import telemetry, tracing
from reportrag.errors import CapabilityError, FilterError, InputError
from reportrag.metadata import resolve_filter
from reportrag.rules import BALANCE, MODES
from reportrag.search.crosslingual import (
    PIVOT_SOURCE_CANDIDATES,
    PIVOT_SOURCE_HITS,
    detect_query_lang,
    fuse_with_pivot,
    interleave,
    matches,
    pivot_ranking,
    source_filters,
)
from reportrag.search.fusion import dedupe as dedupe_ids
from reportrag.search.fusion import distinct, mmr, rrf
from reportrag.types import Chunk, Counterpart, Filters, Ranked

if TYPE_CHECKING:
    from reportrag.settings import Settings

logger = logging.getLogger(__name__)

# Chunks read beyond top_k so that dropping a near-duplicate rarely needs a second read.
DEDUPE_SLACK = 2


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


@dataclass(frozen=True)
class Tuning:
    """The ranking knobs below ``candidates``, with the defaults docs/evaluation.md measured.

    ``pivot_hits``: query-language hits carried across the alignment; ``pivot_candidates``:
    candidates per list of the query-language ranking they come from; ``keyword_weight`` and
    ``pivot_weight``: RRF weights of the BM25 list (against the dense list's 1) and of the
    pivoted list (against the direct ranking's 1). ``bench/tuning.py`` sweeps them.
    """

    pivot_hits: int = PIVOT_SOURCE_HITS
    pivot_candidates: int = PIVOT_SOURCE_CANDIDATES
    # 1.25 since BM25 is scored on one segment (bench/tuning.py, docs/evaluation.md); the
    # setting REPORTRAG_SEARCH_KEYWORD_WEIGHT has the same default.
    keyword_weight: float = 1.25
    pivot_weight: float = 1.0

    def __post_init__(self) -> None:
        if self.pivot_hits < 0 or self.pivot_candidates < 1:
            raise InputError("pivot_hits must be >= 0 and pivot_candidates >= 1")
        if self.keyword_weight < 0 or self.pivot_weight < 0:
            raise InputError("fusion weights must be >= 0")

    @classmethod
    def from_settings(cls, settings: Settings) -> Tuning:
        """The knobs the settings configure (REPORTRAG_SEARCH_KEYWORD_WEIGHT), defaults else."""
        return cls(keyword_weight=settings.search_keyword_weight)


def service_from_settings(embedder, store, settings: Settings, *,  # noqa: ANN001
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

    def __init__(self, embedder, store, *, candidates: int = 40,  # noqa: ANN001
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
                self._fill_dense_scores(qvec, pool)
                kept = [c for c in pool
                        if c.dense_score is not None and c.dense_score >= min_score]
                # All of a dense ranking above the threshold: deeper hits are below it too.
                truncated = truncated and len(kept) == len(pool)
                pool = kept
            with telemetry.stage("read_chunks"):
                hits = self._trim(pool, qvec, top_k=top_k, dedupe=dedupe, diversify=diversify)
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
        every hit is materialised as a whole row, so 10 hits instead of 40 is ~35 % less
        search time (docs/benchmarks.md); when that is not enough, :meth:`search` goes deeper.
        """
        if mode != "dense":
            return full
        want = max(top_k * 4, 20) if diversify else top_k
        return min(full, 2 * want)

    def _pool_for(self, query: str, filters: Filters, ran: str, qlang: str, k: int,
                  per_lang: bool, qvec: np.ndarray | None,
                  ) -> tuple[list[_Candidate], np.ndarray, bool]:
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
        ranked = {lang: self._assemble(plan, qvec) for lang, plan in plans.items()}
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
              rows: bool) -> _Plan:
        """The retrievals one ranking needs, with their keyword searches already started."""
        if mode != "crosslingual":
            return _Plan(self._retrieval(query, filters, mode == "hybrid", k, rows=rows))
        hybrid = self._base_mode() == "hybrid"
        direct = self._retrieval(query, filters, hybrid, k, rows=rows)
        if not qlang or (filters.lang and qlang in filters.lang):
            return _Plan(direct)
        # The source ranking is pivoted through its hits' counterparts: read them with it.
        # Only its best few hits are carried across, so it needs few candidates.
        source = self._retrieval(query, source_filters(filters, qlang), hybrid,
                                 min(k, self.tuning.pivot_candidates), counterparts=True,
                                 rows=rows)
        return _Plan(direct, source)

    def _retrieval(self, query: str, filters: Filters, hybrid: bool, k: int, *,
                   counterparts: bool = False, rows: bool = False) -> _Retrieval:
        keyword = (self._pool.submit(tracing.bind(self.store.rank_text), query, filters, k,
                                     counterparts=counterparts, rows=rows) if hybrid else None)
        return _Retrieval(self, filters, hybrid, k, keyword, counterparts, rows)

    def _assemble(self, plan: _Plan, qvec: np.ndarray) -> list[_Candidate]:
        direct = plan.direct.merged()
        if plan.source is None:
            return _ranked(direct)
        source = plan.source.merged()
        filters = plan.direct.filters
        pivot = pivot_ranking(_ranked(source), filters, limit=self.tuning.pivot_hits)
        direct_ids = [c.chunk_id for c in _ranked(direct)]
        by_id = dict(direct)
        missing = [cid for cid, _, _ in pivot if cid not in by_id]
        fetched: dict[str, tuple[Chunk, np.ndarray]] = {}
        if missing:
            chunks, vectors = self.store.get_with_vectors(missing)
            fetched = {c.chunk_id: (c, v) for c, v in zip(chunks, vectors, strict=True)}
        pivot_ids: list[str] = []
        for cid, _conf, _src in pivot:
            cand = by_id.get(cid)
            if cand is None:
                chunk, vector = fetched.get(cid, (None, None))
                if chunk is None or vector is None or not matches(chunk, filters):
                    continue
                cand = by_id[cid] = _Candidate(cid, 0.0, dense_score=float(vector @ qvec),
                                               chunk=chunk, vector=vector)
            if "pivot" not in cand.found_via:
                cand.found_via.append("pivot")
            pivot_ids.append(cid)
        with telemetry.stage("fusion", step="pivot"):
            fused = fuse_with_pivot(direct_ids, pivot_ids,
                                    pivot_weight=self.tuning.pivot_weight)
        for cid, cand in by_id.items():
            cand.score = fused.get(cid, 0.0)
        return _ranked(by_id)

    def _merge(self, dense: list[Ranked], keyword: list[Ranked], *,
               hybrid: bool) -> dict[str, _Candidate]:
        """One retrieval's candidates by id, RRF-scored when hybrid."""
        by_id: dict[str, _Candidate] = {}
        for h in dense:
            by_id[h.chunk_id] = _Candidate(h.chunk_id, h.score, dense_score=h.score,
                                           found_via=["dense"], counterparts=h.counterparts,
                                           chunk=h.chunk)
        for h in keyword:
            cand = by_id.get(h.chunk_id)
            if cand is None:
                cand = by_id[h.chunk_id] = _Candidate(h.chunk_id, 0.0,
                                                      counterparts=h.counterparts, chunk=h.chunk)
            cand.keyword_score = h.score
            cand.found_via.append("keyword")
        if hybrid:
            fused = rrf([[h.chunk_id for h in dense], [h.chunk_id for h in keyword]],
                        weights=[1.0, self.tuning.keyword_weight])
            for i, cand in by_id.items():
                cand.score = fused.get(i, 0.0)
        return by_id

    def _fill_dense_scores(self, qvec: np.ndarray, cands: list[_Candidate]) -> None:
        """Give candidates found another way their dense score (cosine with the query)."""
        missing = [c for c in cands if c.dense_score is None]
        if missing:
            vecs = self.store.get_vectors([c.chunk_id for c in missing])
            for c in missing:
                if c.chunk_id in vecs:
                    c.vector = vecs[c.chunk_id]
                    c.dense_score = float(c.vector @ qvec)

    def _read(self, cands: list[_Candidate], qvec: np.ndarray) -> list[_Candidate]:
        """Read the chunks (and vectors) of these candidates that the search did not return.

        Keyword-only candidates get their dense score here. Candidates whose chunk is gone
        (deleted since the search) are dropped.
        """
        todo = [c for c in cands if c.chunk is None]
        if todo:
            chunks, vectors = self.store.get_with_vectors([c.chunk_id for c in todo])
            got = {ch.chunk_id: (ch, v) for ch, v in zip(chunks, vectors, strict=True)}
            for c in todo:
                if c.chunk_id in got:
                    c.chunk, c.vector = got[c.chunk_id]
                    if c.dense_score is None:
                        c.dense_score = float(c.vector @ qvec)
        kept = [c for c in cands if c.chunk is not None]
        self._fill_dense_scores(qvec, kept)  # keyword-only hits that came with their rows
        return kept

    def _first(self, cands: list[_Candidate], qvec: np.ndarray, want: int,
               dedupe: bool) -> list[_Candidate]:
        """The best ``want`` candidates (near-duplicates removed), reading as few as possible.

        Near-duplicates are rare, so a couple of extra chunks are read up front; when more
        than that were duplicates (or deleted since the search), the next candidates are read
        and the pass repeats (the kept set of a prefix is the kept set of the whole list, so
        it is exact).
        """
        n = want + (DEDUPE_SLACK if dedupe else 0)
        while True:
            read = self._read(cands[:n], qvec)
            if dedupe:
                ids = dedupe_ids([(c.chunk_id, c.chunk.text) for c in read], want)  # type: ignore[union-attr]
            else:  # the same passage under two chunk ids is one hit even so
                ids = distinct(
                    [(c.chunk_id, f"{c.chunk.doc_id}\x1f{c.chunk.content_hash}") for c in read],  # type: ignore[union-attr]
                    want,
                )
            # Short when duplicates (or chunks deleted since the search) used up the prefix.
            if len(ids) >= want or n >= len(cands):
                keep = set(ids)
                return [c for c in read if c.chunk_id in keep]
            n *= 2

    def _trim(self, cands: list[_Candidate], qvec: np.ndarray, *, top_k: int, dedupe: bool,
              diversify: bool) -> list[Hit]:
        if not diversify:
            return [c.hit() for c in self._first(cands, qvec, top_k, dedupe)]
        # Diversifying picks from a wider pool of (deduplicated) candidates.
        pool = self._first(cands, qvec, max(top_k * 4, 20), dedupe)
        missing = [c.chunk_id for c in pool if c.vector is None]
        vectors = self.store.get_vectors(missing) if missing else {}
        vectors.update({c.chunk_id: c.vector for c in pool if c.vector is not None})
        rel = {c.chunk_id: (c.dense_score or 0.0) for c in pool}
        ids = mmr([c.chunk_id for c in pool], rel, vectors, top_k=top_k)
        by_id = {c.chunk_id: c for c in pool}
        return [by_id[i].hit() for i in ids[:top_k]]

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


def _ranked(by_id: dict[str, _Candidate]) -> list[_Candidate]:
    """Best first; ties (common under RRF) broken by the dense score.

    A candidate without a dense score was not among the dense hits of its search, so its
    cosine is below theirs: it ranks after any candidate that has one.
    """
    return sorted(by_id.values(), key=lambda c: (
        -c.score, 1.0 if c.dense_score is None else -c.dense_score))


def _counterpart_dicts(chunk: Chunk, found: dict[str, Chunk]) -> list[dict[str, Any]]:
    return [
        {"chunk_id": cp.chunk_id, "lang": cp.lang, "confidence": round(cp.confidence, 4),
         "text": found[cp.chunk_id].text, "doc_id": found[cp.chunk_id].doc_id,
         "section": found[cp.chunk_id].section}
        for cp in sorted(chunk.counterparts, key=lambda c: -c.confidence)
        if cp.chunk_id in found
    ]


@dataclass
class _Candidate:
    """A passage on its way through ranking; its chunk is read only if it makes the cut."""

    chunk_id: str
    score: float
    dense_score: float | None = None
    keyword_score: float | None = None
    found_via: list[str] = field(default_factory=list)
    counterparts: list[Counterpart] | None = None
    chunk: Chunk | None = None
    vector: np.ndarray | None = None

    def hit(self) -> Hit:
        assert self.chunk is not None, "read the chunk first"
        return Hit(self.chunk, self.score, dense_score=self.dense_score,
                   keyword_score=self.keyword_score, found_via=self.found_via)


class _Retrieval:
    """One filtered retrieval in flight: keyword search started, dense search once asked."""

    def __init__(self, service: SearchService, filters: Filters, hybrid: bool, k: int,
                 keyword: Future[list[Ranked]] | None, counterparts: bool, rows: bool) -> None:
        self.service = service
        self.filters = filters
        self.hybrid = hybrid
        self.k = k
        self.keyword = keyword
        self.counterparts = counterparts
        self.rows = rows
        self.dense: Future[list[Ranked]] | None = None

    def start_dense(self, qvec: np.ndarray) -> None:
        if self.dense is None:
            store = self.service.store
            self.dense = self.service._pool.submit(
                tracing.bind(store.rank_dense), qvec, self.filters, self.k,
                counterparts=self.counterparts, rows=self.rows)

    def merged(self) -> dict[str, _Candidate]:
        assert self.dense is not None, "start_dense first"
        dense = self.dense.result()
        keyword = self.keyword.result() if self.keyword is not None else []
        with telemetry.stage("fusion", step="merge"):
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
