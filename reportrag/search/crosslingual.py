"""Cross-lingual retrieval through the passage alignment (pivot) and language balancing.

When a query is written in one language and asks for others, the same question is also
answered in the query's own language — where retrieval is strongest — and those hits are
carried across the alignment to their counterparts in the target language. The pivoted
ranking is fused with the direct cross-lingual ranking by reciprocal rank, so documents
without a translation are still found directly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Protocol

from reportrag.metadata import evaluate
from reportrag.search.fusion import rrf
from reportrag.types import Chunk, Counterpart, Filters

PIVOT_MIN_CONFIDENCE = 0.5
# Only the strongest source hits are carried across (sweep: docs/evaluation.md).
PIVOT_SOURCE_HITS = 2
# The pivoted ranking's RRF weight beside the direct dense (1) and keyword rankings.
PIVOT_WEIGHT = 1.5
# Candidates per list of the query-language (source) ranking that picks them. Measured
# (docs/evaluation.md): 10 gives the dev set's numbers of 40 and a better extended set
# (cross-lingual R@5 0.914 -> 0.948); 5 loses dev R@1; 20 equals 40. A quarter of the reads.
PIVOT_SOURCE_CANDIDATES = 10


class Aligned(Protocol):
    """Anything with an id and its aligned passages (a Chunk, a ranked search hit)."""

    @property
    def chunk_id(self) -> str: ...

    @property
    def counterparts(self) -> Sequence[Counterpart] | None: ...


def source_filters(filters: Filters, query_lang: str) -> Filters:
    """Filters for the query-language search: same constraints, the query's language, any doc
    and any user metadata (the other edition need not carry it: pivoted passages are
    checked against it, :func:`matches`)."""
    return replace(filters, lang=(query_lang,), doc_id=(), metadata=None)


def matches(chunk: Chunk, filters: Filters) -> bool:
    """Whether a chunk satisfies ``filters`` (used only on pivoted candidates)."""
    if filters.lang and chunk.lang not in filters.lang:
        return False
    if filters.doc_id and chunk.doc_id not in filters.doc_id:
        return False
    if filters.kind and chunk.kind not in filters.kind:
        return False
    if filters.section and not chunk.section.startswith(filters.section):
        return False
    if filters.date_from and not (chunk.date and chunk.date >= filters.date_from):
        return False
    if filters.metadata is not None and not evaluate(filters.metadata, chunk.metadata):
        return False
    return not (filters.date_to and not (chunk.date and chunk.date <= filters.date_to))


def pivot_ranking(source_hits: Sequence[Aligned], filters: Filters, *,
                  min_confidence: float = PIVOT_MIN_CONFIDENCE,
                  limit: int = PIVOT_SOURCE_HITS) -> list[tuple[str, float, str]]:
    """Counterpart ids of the best source hits, in source-rank order: (id, confidence, via)."""
    out: list[tuple[str, float, str]] = []
    seen: set[str] = set()
    for hit in source_hits[:limit]:
        for cp in sorted(hit.counterparts or (), key=lambda c: -c.confidence):
            if cp.confidence < min_confidence or cp.chunk_id in seen:
                continue
            if filters.lang and cp.lang not in filters.lang:
                continue
            seen.add(cp.chunk_id)
            out.append((cp.chunk_id, cp.confidence, hit.chunk_id))
    return out


def fuse_with_pivot(dense: Sequence[str], keyword: Sequence[str], pivot: Sequence[str], *,
                    keyword_weight: float = 1.0, pivot_weight: float = 1.0,
                    ) -> dict[str, float]:
    """RRF of the direct target-language rankings (dense weighs 1, keyword
    ``keyword_weight``; an empty keyword ranking when the mode has none) and the pivoted
    one (``pivot_weight``)."""
    return rrf([list(dense), list(keyword), list(pivot)],
               weights=[1.0, keyword_weight, pivot_weight])


def interleave(rankings: dict[str, list[str]], top_k: int) -> list[str]:
    """Round-robin over per-language rankings so no language crowds out the others."""
    out: list[str] = []
    iters = {lang: iter(ids) for lang, ids in sorted(rankings.items())}
    while iters and len(out) < top_k:
        for lang in list(iters):
            nxt = next(iters[lang], None)
            if nxt is None:
                del iters[lang]
            elif nxt not in out:
                out.append(nxt)
                if len(out) == top_k:
                    break
    return out


def detect_query_lang(detect: Callable[[str], str], query: str) -> str:
    """The query's language code, or '' when unsure."""
    lang = detect(query)
    return "" if lang in ("", "und") else lang
