"""``POST /v1/search`` and ``POST /v1/context``."""

from __future__ import annotations

import re
import time

from fastapi import APIRouter, Request

from api.deps import ReadAuth, ServiceDep, SettingsDep
from api.observability import note_mode
from api.schemas import (
    NON_BLANK,
    ContextIn,
    ContextOut,
    ErrorOut,
    FiltersIn,
    SearchIn,
    SearchOut,
)
from reportrag import telemetry, tracing
from reportrag.errors import InputError
from reportrag.settings import Settings
from reportrag.types import Filters
from search.context import Passage, expand_neighbors, merge_adjacent, render
from search.filters import build_filters
from search.service import Hit, SearchService

router = APIRouter(prefix="/v1", tags=["search"], dependencies=[ReadAuth])
_ERRORS = {
    s: {"model": ErrorOut} for s in (400, 401, 413, 422, 503)
}  # 401 only when REPORTRAG_READ_API_KEY is set


def _filters(f: FiltersIn) -> Filters:
    return build_filters(
        lang=f.lang,
        doc_id=f.doc_id,
        section=f.section,
        kind=f.kind,
        date_from=f.date_from,
        date_to=f.date_to,
    )


_NON_BLANK = re.compile(NON_BLANK)


def check_query(query: str, settings: Settings) -> str:
    if not _NON_BLANK.search(query):
        raise InputError("query is empty or only whitespace", details={"field": "query"})
    if len(query) > settings.max_query_chars:
        raise InputError(
            f"query is longer than {settings.max_query_chars} characters",
            details={"field": "query", "max_chars": settings.max_query_chars},
        )
    return query


@router.post(
    "/search",
    response_model=SearchOut,
    responses=_ERRORS,
    summary="Semantic / hybrid search with metadata filters",
)
def search(body: SearchIn, service: ServiceDep, settings: SettingsDep, request: Request) -> dict:
    query = check_query(body.query, settings)
    result = service.search(
        query,
        top_k=body.top_k,
        filters=_filters(body.filters),
        mode=body.mode,
        min_score=body.min_score,
        dedupe=body.dedupe,
        diversify=body.diversify,
        balance=body.balance,
        with_counterparts=body.with_counterparts,
    )
    note_mode(request, result.mode)
    return result.to_dict()


@router.post(
    "/context",
    response_model=ContextOut,
    responses=_ERRORS,
    summary="Prompt-ready context with numbered citations, within a token budget",
)
def context(body: ContextIn, service: ServiceDep, settings: SettingsDep,
            request: Request) -> dict:
    t0 = time.perf_counter()
    query = check_query(body.query, settings)
    result = service.search(query, top_k=body.top_k, filters=_filters(body.filters), mode=body.mode)
    note_mode(request, result.mode)
    with telemetry.stage("context_render") as current:
        text, citations, used = _render(body, service, result.hits)
        tracing.set_attributes(current, passages=len(citations), tokens=used)
    return {
        "context": text,
        "citations": citations,
        "tokens": used,
        "max_tokens": body.max_tokens,
        "mode": result.mode,
        "took_ms": round((time.perf_counter() - t0) * 1000, 2),
    }


def _render(body: ContextIn, service: SearchService, hits: list[Hit],
            ) -> tuple[str, list[dict], int]:
    """The hits with their neighbours, adjacent ones merged, rendered within the budget."""
    groups = [
        Passage(
            expand_neighbors(h, service.store, body.neighbors),
            h.score,
            list(h.found_via),
            [h.chunk.chunk_id],
        )
        for h in hits
    ]
    passages = merge_adjacent(groups)
    emb = service.embedder
    overhead = emb.count_tokens("")  # prompt prefix + special tokens the counter adds

    def count(text: str) -> int:
        return emb.count_tokens(text) - overhead

    return render(passages, count_tokens=count, max_tokens=body.max_tokens)
