"""Rankings in flight: a request's retrievals, their fusion, the pivot across translations.

A retrieval is one filtered search pair: its keyword (BM25) search starts at once, its dense
search once the query vector is known. A ranking plan is the direct retrieval plus, in
cross-lingual mode, the query-language one whose best hits are carried across the alignment.
Candidates carry ids and scores; their chunks are read only when they make the cut
(:mod:`reportrag.search.reading`).
"""

from __future__ import annotations

from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from reportrag import telemetry, tracing
from reportrag.search.crosslingual import fuse_with_pivot, matches, pivot_ranking
from reportrag.search.fusion import rrf
from reportrag.search.results import Hit
from reportrag.search.tuning import Tuning
from reportrag.types import Chunk, Counterpart, Filters, Ranked

if TYPE_CHECKING:
    from reportrag.store.protocols import ReadStore


@dataclass
class Candidate:
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
        """The search hit of a candidate whose chunk was read."""
        assert self.chunk is not None, "read the chunk first"
        return Hit(self.chunk, self.score, dense_score=self.dense_score,
                   keyword_score=self.keyword_score, found_via=self.found_via)


def ranked(by_id: dict[str, Candidate]) -> list[Candidate]:
    """Best first; ties (common under RRF) broken by the dense score.

    A candidate without a dense score was not among the dense hits of its search, so its
    cosine is below theirs: it ranks after any candidate that has one.
    """
    return sorted(by_id.values(), key=lambda c: (
        -c.score, 1.0 if c.dense_score is None else -c.dense_score))


def merge(dense: list[Ranked], keyword: list[Ranked], *, hybrid: bool,
          keyword_weight: float) -> dict[str, Candidate]:
    """One retrieval's candidates by id, scored by weighted RRF when hybrid (the dense
    ranking weighs 1, the keyword one ``keyword_weight``), by the dense score else."""
    by_id: dict[str, Candidate] = {}
    for h in dense:
        by_id[h.chunk_id] = Candidate(h.chunk_id, h.score, dense_score=h.score,
                                      found_via=["dense"], counterparts=h.counterparts,
                                      chunk=h.chunk)
    for h in keyword:
        cand = by_id.get(h.chunk_id)
        if cand is None:
            cand = by_id[h.chunk_id] = Candidate(h.chunk_id, 0.0, counterparts=h.counterparts,
                                                 chunk=h.chunk)
        cand.keyword_score = h.score
        cand.found_via.append("keyword")
    if hybrid:
        fused = rrf([[h.chunk_id for h in dense], [h.chunk_id for h in keyword]],
                    weights=[1.0, keyword_weight])
        for i, cand in by_id.items():
            cand.score = fused.get(i, 0.0)
    return by_id


class Retrieval:
    """One filtered retrieval in flight: keyword search started, dense search once asked."""

    def __init__(self, store: ReadStore, pool: Executor, query: str, filters: Filters, *,
                 hybrid: bool, k: int, keyword_weight: float, counterparts: bool = False,
                 rows: bool = False) -> None:
        self.store = store
        self.pool = pool
        self.filters = filters
        self.hybrid = hybrid
        self.k = k
        self.keyword_weight = keyword_weight
        self.counterparts = counterparts
        self.rows = rows
        self.keyword: Future[list[Ranked]] | None = (
            pool.submit(tracing.bind(store.rank_text), query, filters, k,
                        counterparts=counterparts, rows=rows) if hybrid else None)
        self.dense: Future[list[Ranked]] | None = None

    def start_dense(self, qvec: np.ndarray) -> None:
        """Start the dense search (once)."""
        if self.dense is None:
            self.dense = self.pool.submit(
                tracing.bind(self.store.rank_dense), qvec, self.filters, self.k,
                counterparts=self.counterparts, rows=self.rows)

    def merged(self) -> dict[str, Candidate]:
        """Both searches' hits as candidates (waits for them)."""
        dense, keyword = self.rankings()
        with telemetry.stage("fusion", step="merge"):
            return merge(dense, keyword, hybrid=self.hybrid, keyword_weight=self.keyword_weight)

    def rankings(self) -> tuple[list[Ranked], list[Ranked]]:
        """The dense and the keyword hits, best first (waits for them; no keyword search:
        empty)."""
        assert self.dense is not None, "start_dense first"
        dense = self.dense.result()
        keyword = self.keyword.result() if self.keyword is not None else []
        return dense, keyword


@dataclass
class RankingPlan:
    """The retrievals behind one ranking: direct, plus the query-language one to pivot from."""

    direct: Retrieval
    source: Retrieval | None = None

    def start_dense(self, qvec: np.ndarray) -> None:
        """Start the dense search of every retrieval."""
        self.direct.start_dense(qvec)
        if self.source is not None:
            self.source.start_dense(qvec)


def assemble(plan: RankingPlan, qvec: np.ndarray, store: ReadStore,
             tuning: Tuning) -> list[Candidate]:
    """The plan's ranking, best first: the direct one, fused with the pivoted one if any.

    The pivot carries the best ``tuning.pivot_hits`` source hits to their counterparts;
    those the direct ranking lacks are read (with their vectors, for their dense score) and
    kept only when they satisfy the direct ranking's filters. The pivoted list is fused as a
    third ranking beside the direct dense and keyword ones (weights 1, ``keyword_weight``,
    ``pivot_weight``), not against their fusion: a passage both direct rankings put first
    is not outvoted by the pivot alone (docs/evaluation.md#cross-lingual-fusion).
    """
    direct = plan.direct.merged()
    if plan.source is None:
        return ranked(direct)
    source = plan.source.merged()
    filters = plan.direct.filters
    pivot = pivot_ranking(ranked(source), filters, limit=tuning.pivot_hits)
    dense_hits, keyword_hits = plan.direct.rankings()
    by_id = dict(direct)
    missing = [cid for cid, _, _ in pivot if cid not in by_id]
    fetched: dict[str, tuple[Chunk, np.ndarray]] = {}
    if missing:
        chunks, vectors = store.get_with_vectors(missing)
        fetched = {c.chunk_id: (c, v) for c, v in zip(chunks, vectors, strict=True)}
    pivot_ids: list[str] = []
    for cid, _conf, _src in pivot:
        cand = by_id.get(cid)
        if cand is None:
            got = fetched.get(cid)
            if got is None or not matches(got[0], filters):
                continue
            chunk, vector = got
            cand = by_id[cid] = Candidate(cid, 0.0, dense_score=float(vector @ qvec),
                                          chunk=chunk, vector=vector)
        if "pivot" not in cand.found_via:
            cand.found_via.append("pivot")
        pivot_ids.append(cid)
    with telemetry.stage("fusion", step="pivot"):
        fused = fuse_with_pivot(
            [h.chunk_id for h in dense_hits],
            [h.chunk_id for h in keyword_hits], pivot_ids,
            keyword_weight=tuning.keyword_weight, pivot_weight=tuning.pivot_weight)
    for cid, cand in by_id.items():
        cand.score = fused.get(cid, 0.0)
    return ranked(by_id)
