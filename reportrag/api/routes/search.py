"""``POST /v1/search`` and ``POST /v1/context``."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request

from reportrag.api.deps import ReadAuth, ServiceDep, SettingsDep
from reportrag.api.observability import note_mode
from reportrag.api.schemas import (
    NON_BLANK,
    ContextIn,
    ContextOut,
    ErrorOut,
    SearchIn,
    SearchOut,
)
from reportrag.errors import InputError
from reportrag.search.context import build_context
from reportrag.search.service import SearchService
from reportrag.settings import Settings

router = APIRouter(prefix="/v1", tags=["search"], dependencies=[ReadAuth])
_ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"model": ErrorOut} for s in (400, 401, 413, 422, 503)
}  # 401 only when REPORTRAG_READ_API_KEY is set


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


def run_search(service: SearchService, settings: Settings, body: SearchIn) -> dict[str, Any]:
    """A ``POST /v1/search`` body answered (also the MCP ``search`` tool)."""
    query = check_query(body.query, settings)
    filters = body.filters.to_filters()
    out = service.search(  # checks the metadata filter against the collection's keys
        query, top_k=body.top_k, filters=filters, mode=body.mode,
        min_score=body.min_score, dedupe=body.dedupe, diversify=body.diversify,
        balance=body.balance, with_counterparts=body.with_counterparts,
    ).to_dict()
    if body.facets:
        from reportrag.search.facets import facet_counts

        out["facets"] = facet_counts(service.store, service.resolve_metadata(filters),
                                     body.facets)
    return out


def run_context(service: SearchService, settings: Settings, body: ContextIn) -> dict[str, Any]:
    """A ``POST /v1/context`` body answered (also the MCP ``context`` tool)."""
    query = check_query(body.query, settings)
    return build_context(service, query, filters=body.filters.to_filters(), top_k=body.top_k,
                         neighbors=body.neighbors, max_tokens=body.max_tokens, mode=body.mode)


@router.post(
    "/search",
    response_model=SearchOut,
    responses=_ERRORS,
    summary="Semantic / hybrid search with metadata filters",
)
def search(body: SearchIn, service: ServiceDep, settings: SettingsDep, request: Request) -> dict:
    out = run_search(service, settings, body)
    note_mode(request, out["mode"])
    return out


@router.post(
    "/context",
    response_model=ContextOut,
    responses=_ERRORS,
    summary="Prompt-ready context with numbered citations, within a token budget",
)
def context(body: ContextIn, service: ServiceDep, settings: SettingsDep,
            request: Request) -> dict:
    out = run_context(service, settings, body)
    note_mode(request, out["mode"])
    return out
