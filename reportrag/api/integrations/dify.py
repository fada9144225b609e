"""Dify's external knowledge API: ``POST /retrieval`` (Dify appends it to the endpoint URL).

The endpoint to register in Dify is the service's base URL; the "External Knowledge ID" is
the collection name (``REPORTRAG_COLLECTION``, default ``reportrag_chunks``). Dify sends its
API key as ``Authorization: Bearer KEY``: with ``REPORTRAG_READ_API_KEY`` set, that key (or
the admin key) is required; without one, reads are open as on /v1/search.

Errors answer in Dify's form ``{"error_code", "error_msg"}``: 1001 (401) no or a malformed
bearer header, 1002 (403) a wrong key, 2001 (404) an unknown knowledge id; other failures
carry their HTTP status as the code (400 a bad body or a filter we cannot honour, 503 Milvus
or the model unavailable, 500 a bug). ``score`` is the passage's cosine with the query,
clipped to 0-1; ``score_threshold`` drops passages below it (0 turns it off).
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from reportrag.api.deps import RuntimeDep
from reportrag.api.integrations.common import (
    DocIdValues,
    KindValues,
    LangValues,
    ProtocolError,
    key_problem,
    protocol_route,
    retrieve,
)
from reportrag.api.integrations.conditions import Condition, NoMatch, all_of, any_of
from reportrag.api.schemas import NON_BLANK, DayValue, Int
from reportrag.errors import FilterError
from reportrag.rules import MAX_TOP_K

log = logging.getLogger(__name__)

# Dify's comparison operators that our filters can honour, as ours.
OPERATORS = {"is": "eq", "=": "eq", "in": "in", "before": "lt", "after": "gt", ">": "gt",
             "<": "lt", "≥": "gte", ">=": "gte", "≤": "lte", "<=": "lte"}


class RetrievalSetting(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)
    top_k: Int = Field(ge=1, le=MAX_TOP_K)
    score_threshold: float = Field(default=0.0, ge=0.0, le=1.0)


class _DifyCondition(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    def conditions(self) -> list[Condition]:
        op = OPERATORS[self.comparison_operator]  # type: ignore[attr-defined]
        value: Any = self.value  # type: ignore[attr-defined]
        if op == "eq" and isinstance(value, list):
            op = "in"
        names = self.name if isinstance(self.name, list) else [self.name]  # type: ignore[attr-defined]
        return [Condition(n, op, value) for n in names]


# One model per metadata name: the schema states the operators and values each can take.
# Dify's other operators (contains, not contains, start with, end with, is not, not in,
# empty, not empty, ≠) cannot be honoured by our filters: 400, never ignored.
class LangCondition(_DifyCondition):
    name: Literal["lang"] | list[Literal["lang"]]
    comparison_operator: Literal["is", "=", "in"]
    value: LangValues = Field(union_mode="left_to_right")


class DocCondition(_DifyCondition):
    name: Literal["doc_id"] | list[Literal["doc_id"]]
    comparison_operator: Literal["is", "=", "in"]
    value: DocIdValues = Field(union_mode="left_to_right")


class KindCondition(_DifyCondition):
    name: Literal["kind"] | list[Literal["kind"]]
    comparison_operator: Literal["is", "=", "in"]
    value: KindValues = Field(union_mode="left_to_right")


class SectionCondition(_DifyCondition):
    name: Literal["section"] | list[Literal["section"]]
    comparison_operator: Literal["is", "="]
    value: str = Field(max_length=500, pattern=r"^[^\x00-\x1f\x7f-\x9f]*$")


class DateCondition(_DifyCondition):
    name: Literal["date"] | list[Literal["date"]]
    comparison_operator: Literal["is", "=", "before", "after", ">", "<", "≥", ">=", "≤", "<="]
    value: DayValue


DifyCondition = LangCondition | DocCondition | KindCondition | SectionCondition | DateCondition


class MetadataCondition(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)
    logical_operator: Literal["and", "or"] = "and"
    conditions: list[DifyCondition] = Field(default_factory=list, max_length=50)


class RetrievalIn(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)
    knowledge_id: str = Field(max_length=255)
    query: str = Field(min_length=1, max_length=100_000, json_schema_extra={"pattern": NON_BLANK})
    retrieval_setting: RetrievalSetting
    metadata_condition: MetadataCondition | None = None


def dify_error(status: int, code: int, message: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error_code": code, "error_msg": message})


def _render(status: int, message: str, code: str | None, param: str | None) -> JSONResponse:
    return dify_error(status, status, message)  # other failures: the HTTP status as the code


router = APIRouter(tags=["integrations"], route_class=protocol_route(_render))


async def dify_key(
    runtime: RuntimeDep,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> None:
    problem = key_problem(runtime.settings, authorization)
    if problem == "missing":
        raise ProtocolError(dify_error(
            401, 1001, "Invalid Authorization header format. Expected 'Bearer <api-key>'."))
    if problem == "wrong":
        raise ProtocolError(dify_error(403, 1002, "Authorization failed"))


def _conditions(mc: MetadataCondition | None) -> list[Condition]:
    if mc is None or not mc.conditions:
        return []
    out = [cond for c in mc.conditions for cond in c.conditions()]
    return [any_of(out)] if mc.logical_operator == "or" and len(out) > 1 else out


class RecordOut(BaseModel):
    content: str
    score: float
    title: str
    metadata: dict[str, Any]


class RetrievalOut(BaseModel):
    records: list[RecordOut]


class DifyErrorOut(BaseModel):
    error_code: int
    error_msg: str


@router.post(
    "/retrieval",
    summary="Dify external knowledge API: passages for a query",
    response_model=RetrievalOut,
    responses={s: {"model": DifyErrorOut} for s in (400, 401, 403, 404, 500, 503)},
    dependencies=[Depends(dify_key)],
)
async def retrieval(runtime: RuntimeDep, req: RetrievalIn) -> JSONResponse:
    if req.knowledge_id != runtime.settings.collection:
        raise ProtocolError(dify_error(
            404, 2001, f"The knowledge {req.knowledge_id[:100]!r} does not exist"))
    try:
        filters = all_of(_conditions(req.metadata_condition))
    except NoMatch:
        return JSONResponse({"records": []})
    except FilterError as exc:
        raise ProtocolError(dify_error(400, 400, exc.message)) from exc
    threshold = req.retrieval_setting.score_threshold
    found, _mode = await run_in_threadpool(
        retrieve, runtime, [req.query], top_k=req.retrieval_setting.top_k, filters=filters,
        min_score=threshold if threshold > 0 else None)
    return JSONResponse({"records": [_record(f.hit, f.score) for f in found]})


def _record(hit: Any, score: float) -> dict[str, Any]:
    c = hit.chunk
    metadata: dict[str, Any] = {
        "doc_id": c.doc_id, "chunk_id": c.chunk_id, "lang": c.lang,
        "doc_lang": c.doc_lang or c.lang, "section": c.section, "kind": c.kind, "date": c.date,
        "char_start": c.char_start, "char_end": c.char_end, "page": c.page or None,
        "metadata": c.metadata, "found_via": list(hit.found_via),
        "counterparts": [{k: v for k, v in cp.items() if k in ("chunk_id", "doc_id", "lang",
                                                                 "confidence", "text")}
                         for cp in hit.counterparts or []],
    }
    return {"content": c.text, "score": score, "title": c.title or c.doc_id,
            "metadata": metadata}
