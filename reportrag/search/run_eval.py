"""Run an evaluation query set through the search service, mode by mode."""

from __future__ import annotations

from typing import Any

from reportrag.search.evaluate import Query, QueryResult, first_relevant_rank, summarize
from reportrag.search.filters import build_filters
from reportrag.search.service import SearchService
from reportrag.types import Chunk


def evaluate_modes(
    service: SearchService, queries: list[Query], modes: list[str], *, k: int = 10
) -> dict[str, Any]:
    """Per mode: the summary table, per-query ranks and the misses."""
    cache: dict[str, Chunk] = {}

    def neighbours(c: Chunk) -> tuple[str, str]:
        ids = [i for i in (c.prev_id, c.next_id) if i and i not in cache]
        for got in service.store.get(ids) if ids else []:
            cache[got.chunk_id] = got
        prev = cache.get(c.prev_id)
        nxt = cache.get(c.next_id)
        return (prev.text if prev else "", nxt.text if nxt else "")

    summary: dict[str, Any] = {}
    per_query: dict[str, list[dict[str, Any]]] = {}
    misses: dict[str, list[dict[str, Any]]] = {}
    for mode in modes:
        results = []
        for q in queries:
            res = service.search(
                q.q, top_k=k, filters=build_filters(lang=list(q.lang) or None), mode=mode
            )
            chunks = [h.chunk for h in res.hits]
            results.append(
                QueryResult(
                    q, first_relevant_rank(q, chunks, neighbours), [c.chunk_id for c in chunks]
                )
            )
        summary[mode] = summarize(results, k)
        per_query[mode] = [{"id": r.query.id, "cat": r.query.cat, "rank": r.rank} for r in results]
        misses[mode] = [
            {"id": r.query.id, "cat": r.query.cat, "q": r.query.q}
            for r in results
            if r.rank is None
        ]
    return {"summary": summary, "per_query": per_query, "misses": misses}
