"""OpenAI-compatible vector-store search: ``POST /v1/vector_stores/{id}/search``, and the
list / retrieve endpoints a client uses to find the store.

One store is served: the collection (``REPORTRAG_COLLECTION``, default
``reportrag_chunks``); its "files" are the documents (``file_id`` is the doc id). The
official ``openai`` client works with ``base_url=http://HOST:8000/v1`` and the read key as
``api_key`` (it sends ``Authorization: Bearer KEY``; any key while no read key is set).

- ``query``: a string or a list of up to 10 (each searched; a passage keeps its best rank);
- ``max_num_results``: 1-50 (default 10);
- ``filters``: a comparison ``{"key", "type", "value"}`` (eq, in, gt, gte, lt, lte on the
  attributes lang, doc_id, kind, section, date) or a compound ``{"type": "and"|"or",
  "filters": [...]}``; what our filters cannot express (``ne``, ``nin``, another attribute,
  an ``or`` across attributes) is a 400, never ignored;
- ``ranking_options.score_threshold``: drops results under that 0-1 score (the cosine of
  passage and query, clipped); ``ranker: "none"`` runs the dense ranking alone, any other
  the default (``auto``: hybrid, cross-lingual when the language filter asks for it);
- ``rewrite_query``: accepted, and a no-op: the query is searched as given.

Errors answer in OpenAI's form ``{"error": {"message", "type", "param", "code"}}``.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Path
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, WithJsonSchema

from reportrag.api.deps import RuntimeDep
from reportrag.api.integrations.common import (
    MAX_QUERIES,
    DocIdValues,
    KindValues,
    LangValues,
    ProtocolError,
    key_problem,
    protocol_route,
    retrieve,
)
from reportrag.api.integrations.conditions import Condition, NoMatch, all_of, any_of
from reportrag.api.runtime import Runtime
from reportrag.api.schemas import NON_BLANK, DayValue, Int
from reportrag.rules import MAX_SECTION_CHARS, NO_CONTROL_PATTERN

STARTED = int(time.time())  # the store's created_at: when this process started serving it


def openai_error(status: int, message: str, *, kind: str = "invalid_request_error",
                 param: str | None = None, code: str | None = None) -> JSONResponse:
    return JSONResponse(status_code=status, content={
        "error": {"message": message, "type": kind, "param": param, "code": code}})


_KINDS = {401: "authentication_error", 403: "permission_error", 404: "invalid_request_error",
          503: "server_error", 500: "server_error"}


def _render(status: int, message: str, code: str | None, param: str | None) -> JSONResponse:
    return openai_error(status, message, kind=_KINDS.get(status, "invalid_request_error"),
                        param=param, code=code)


def _no_store(store_id: str) -> ProtocolError:
    return ProtocolError(openai_error(404, f"No vector store found with id {store_id[:100]!r}",
                                      param="vector_store_id", code="not_found"))


async def bearer_key(
    runtime: RuntimeDep,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> None:
    problem = key_problem(runtime.settings, authorization)
    if problem is not None:
        raise ProtocolError(openai_error(
            401, "missing or wrong API key (Authorization: Bearer KEY)",
            kind="authentication_error", code="invalid_api_key"))


router = APIRouter(prefix="/v1/vector_stores", tags=["integrations"],
                   route_class=protocol_route(_render), dependencies=[Depends(bearer_key)])

StoreId = Annotated[str, Path(max_length=255, description="the collection name")]


class _Comparison(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    def condition(self) -> Condition:
        return Condition(self.key, self.type, self.value)  # type: ignore[attr-defined]


# One comparison model per attribute: the schema states what each one can be compared with
# (ne and nin, and other attributes, are not in it: 400).
class LangFilter(_Comparison):
    key: Literal["lang"]
    type: Literal["eq", "in"]
    value: LangValues = Field(union_mode="left_to_right")


class DocFilter(_Comparison):
    key: Literal["doc_id"]
    type: Literal["eq", "in"]
    value: DocIdValues = Field(union_mode="left_to_right")


class KindFilter(_Comparison):
    key: Literal["kind"]
    type: Literal["eq", "in"]
    value: KindValues = Field(union_mode="left_to_right")


class SectionFilter(_Comparison):
    key: Literal["section"]
    type: Literal["eq"]
    value: str = Field(max_length=MAX_SECTION_CHARS, pattern=NO_CONTROL_PATTERN)


class DateFilter(_Comparison):
    key: Literal["date"]
    type: Literal["eq", "gt", "gte", "lt", "lte"]
    value: DayValue


ComparisonFilter = LangFilter | DocFilter | KindFilter | SectionFilter | DateFilter


class CompoundFilter(BaseModel):
    """``and`` of anything; ``or`` of equalities on one of lang, doc_id, kind (else 400)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    type: Literal["and", "or"]
    filters: list[ComparisonFilter | CompoundFilter] = Field(min_length=1, max_length=50)


class RankingOptions(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)
    ranker: Literal["none", "auto", "default-2024-11-15"] = "auto"
    score_threshold: float = Field(default=0.0, ge=0.0, le=1.0)


Query = Annotated[str, StringConstraints(min_length=1, max_length=100_000),
                  WithJsonSchema({"type": "string", "minLength": 1, "pattern": NON_BLANK})]


class VectorStoreSearchIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    query: Query | Annotated[list[Query], Field(min_length=1, max_length=MAX_QUERIES)] = Field(
        union_mode="left_to_right")
    max_num_results: Int = Field(default=10, ge=1, le=50)
    filters: ComparisonFilter | CompoundFilter | None = None
    ranking_options: RankingOptions | None = None
    rewrite_query: bool = False


class ContentOut(BaseModel):
    type: Literal["text"] = "text"
    text: str


class ResultOut(BaseModel):
    file_id: str
    filename: str
    score: float
    attributes: dict[str, str | float | bool]
    content: list[ContentOut]


class SearchPageOut(BaseModel):
    object: Literal["vector_store.search_results.page"] = "vector_store.search_results.page"
    search_query: list[str]
    data: list[ResultOut]
    has_more: bool = False
    next_page: str | None = None


class FileCountsOut(BaseModel):
    in_progress: int
    completed: int
    failed: int
    cancelled: int
    total: int


class VectorStoreOut(BaseModel):
    id: str
    object: Literal["vector_store"] = "vector_store"
    created_at: int
    name: str
    usage_bytes: int
    file_counts: FileCountsOut
    status: Literal["completed", "in_progress", "expired"]
    last_active_at: int | None
    metadata: dict[str, str]
    expires_after: None = None
    expires_at: None = None


class StoreListOut(BaseModel):
    object: Literal["list"] = "list"
    data: list[VectorStoreOut]
    first_id: str | None
    last_id: str | None
    has_more: bool = False


class OpenAIErrorBody(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class OpenAIErrorOut(BaseModel):
    error: OpenAIErrorBody


_ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"model": OpenAIErrorOut} for s in (400, 401, 404, 500, 503)}


def conditions(node: ComparisonFilter | CompoundFilter) -> list[Condition]:
    """The filter tree as conditions that all hold (an ``or`` folds into one, if it can)."""
    if not isinstance(node, CompoundFilter):
        return [node.condition()]
    parts = [c for child in node.filters for c in conditions(child)]
    if node.type == "and":
        return parts
    return [any_of(parts)] if len(parts) > 1 else parts


def _store(runtime: Runtime, store_id: str) -> VectorStoreOut:
    settings = runtime.settings
    if store_id != settings.collection:
        raise _no_store(store_id)
    conn = runtime.lease_ready()
    try:
        documents = len(conn.store.all_doc_ids())
        rows = conn.store.count()
    finally:
        runtime.release(conn)
    return VectorStoreOut(
        id=settings.collection, created_at=STARTED, name=settings.collection, usage_bytes=0,
        file_counts=FileCountsOut(in_progress=0, completed=documents, failed=0, cancelled=0,
                                  total=documents),
        status="completed", last_active_at=int(time.time()),
        metadata={"chunks": str(rows), "served_by": "reportrag"})


@router.get("", response_model=StoreListOut, responses=_ERRORS,
            summary="OpenAI-compatible: the vector stores (this service's collection)")
async def list_stores(runtime: RuntimeDep) -> dict[str, Any]:
    store = await run_in_threadpool(_store, runtime, runtime.settings.collection)
    return {"object": "list", "data": [store.model_dump()], "first_id": store.id,
            "last_id": store.id, "has_more": False}


@router.get("/{vector_store_id}", response_model=VectorStoreOut, responses=_ERRORS,
            summary="OpenAI-compatible: one vector store")
async def get_store(runtime: RuntimeDep, vector_store_id: StoreId) -> VectorStoreOut:
    return await run_in_threadpool(_store, runtime, vector_store_id)


@router.post("/{vector_store_id}/search", response_model=SearchPageOut, responses=_ERRORS,
             summary="OpenAI-compatible vector-store search")
async def search_store(runtime: RuntimeDep, vector_store_id: StoreId,
                       body: VectorStoreSearchIn) -> dict[str, Any]:
    if vector_store_id != runtime.settings.collection:
        raise _no_store(vector_store_id)
    queries = [body.query] if isinstance(body.query, str) else list(body.query)
    if not queries or len(queries) > MAX_QUERIES:
        raise ProtocolError(openai_error(400, f"query takes 1 to {MAX_QUERIES} strings",
                                         param="query"))
    try:
        filters = all_of(conditions(body.filters)) if body.filters is not None else all_of([])
    except NoMatch:
        return {"search_query": queries, "data": [], "has_more": False, "next_page": None,
                "object": "vector_store.search_results.page"}
    ranking = body.ranking_options or RankingOptions()
    found, _ = await run_in_threadpool(
        retrieve, runtime, queries, top_k=body.max_num_results, filters=filters,
        min_score=ranking.score_threshold or None,
        mode="dense" if ranking.ranker == "none" else "auto")
    return {"object": "vector_store.search_results.page", "search_query": queries,
            "data": [_result(f.hit, f.score) for f in found], "has_more": False,
            "next_page": None}


def _result(hit: Any, score: float) -> dict[str, Any]:
    c = hit.chunk
    attributes: dict[str, str | float | bool] = {
        "chunk_id": c.chunk_id, "doc_id": c.doc_id, "title": c.title, "lang": c.lang,
        "doc_lang": c.doc_lang or c.lang, "section": c.section[:512], "kind": c.kind,
        "date": c.date, "char_start": c.char_start, "char_end": c.char_end,
        "ordinal": c.ordinal,
    }
    if c.page:
        attributes["page"] = c.page
    if hit.counterparts:
        best = hit.counterparts[0]
        attributes.update(counterpart_chunk_id=best["chunk_id"], counterpart_lang=best["lang"],
                          counterpart_text=best["text"][:512])
    return {"file_id": c.doc_id, "filename": c.title or c.doc_id, "score": score,
            "attributes": attributes, "content": [{"type": "text", "text": c.text}]}
