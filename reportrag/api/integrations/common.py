"""What the integrations share: the bearer key check, their error routes, a leased search,
a 0-1 score."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import Field
from starlette.exceptions import HTTPException

from reportrag.api.deps import bearer_token, read_key_accepts, read_key_required
from reportrag.api.errors import status_for
from reportrag.api.routes.search import check_query
from reportrag.api.runtime import Runtime
from reportrag.api.schemas import DocIdValue, KindValue, LangCode
from reportrag.errors import ReportragError
from reportrag.rules import MAX_FILTER_VALUES
from reportrag.search.results import Hit
from reportrag.settings import Settings
from reportrag.types import Filters

if TYPE_CHECKING:
    from fastapi import FastAPI

# Their scores are "similarity, 0 to 1": the cosine of the passage and the query (dense
# score), clipped. The multilingual-e5 model puts related passages at about 0.8-0.9.
MAX_QUERIES = 10
# One value, or a non-empty list of them (filters in both contracts).
_MAX = MAX_FILTER_VALUES
LangValues = LangCode | Annotated[list[LangCode], Field(min_length=1, max_length=_MAX)]
DocIdValues = DocIdValue | Annotated[list[DocIdValue], Field(min_length=1, max_length=_MAX)]
KindValues = KindValue | Annotated[list[KindValue], Field(min_length=1, max_length=_MAX)]


class ProtocolError(Exception):
    """A failure already answered in the protocol's own form."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


# How a protocol writes an error: (HTTP status, message, reportrag's code, offending field).
Render = Callable[[int, str, str | None, str | None], Response]


def protocol_route(render: Render) -> type[APIRoute]:
    """A route class whose failures, a malformed body included, answer in the protocol's
    form: its own (ProtocolError) as raised, the others through ``render``; a bad value is
    400 (as both Dify and OpenAI answer it), not our 422."""

    class ProtocolRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()

            async def answer(request: Request) -> Response:
                try:
                    return await handler(request)
                except ProtocolError as exc:
                    return exc.response
                except RequestValidationError as exc:
                    first = exc.errors()[0]
                    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
                    return render(400, f"invalid request: {where}: {first['msg']}", None,
                                  where or None)
                except HTTPException as exc:  # e.g. a body that is not JSON at all
                    return render(exc.status_code, str(exc.detail), None, None)
                except ReportragError as exc:
                    status = status_for(exc)
                    return render(400 if status == 422 else status, exc.message, exc.code, None)

            return answer

    return ProtocolRoute


def relevance(hit: Hit) -> float:
    return round(min(1.0, max(0.0, hit.dense_score or 0.0)), 6)


def key_problem(settings: Settings, authorization: str | None) -> str | None:
    """None when the request may read; ``missing`` (no or a malformed bearer header) or
    ``wrong`` (a key that is neither the read nor the admin key). Open without a read key."""
    if not read_key_required(settings):
        return None
    token = bearer_token(authorization)
    if token is None:
        return "missing"
    return None if read_key_accepts(settings, token) else "wrong"


@dataclass
class Found:
    hit: Hit
    score: float
    rank: int  # its best rank in the fused ranking of any query


def retrieve(runtime: Runtime, queries: list[str], *, top_k: int, filters: Filters,
             min_score: float | None, mode: str = "auto") -> tuple[list[Found], str]:
    """The best ``top_k`` passages for any of ``queries``, and the mode that ran.

    The order is the search's own (fused, cross-lingual pivot included), not the 0-1 score:
    several queries are merged by each passage's best rank. Blocking: call from a thread."""
    settings = runtime.settings
    for q in queries:
        check_query(q, settings)
    best: dict[str, Found] = {}
    ran = mode
    with runtime.leased() as service:
        for q in queries:
            result = service.search(q, top_k=top_k, filters=filters, mode=mode,
                                    min_score=min_score, with_counterparts=True)
            ran = result.mode
            for rank, h in enumerate(result.hits):
                old = best.get(h.chunk.chunk_id)
                if old is None or rank < old.rank:
                    best[h.chunk.chunk_id] = Found(h, relevance(h), rank)
    ranked = sorted(best.values(), key=lambda f: (f.rank, -f.score))
    return ranked[:top_k], ran


def publish_store_id(app: FastAPI, collection: str) -> None:
    """State in the OpenAPI schema that the one knowledge / vector store id is the collection."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        schema = build()  # cached by FastAPI; patching it again is harmless
        body = schema.get("components", {}).get("schemas", {}).get("RetrievalIn", {})
        prop = body.get("properties", {}).get("knowledge_id")
        if prop is not None:
            prop["enum"] = [collection]
        for path, ops in schema.get("paths", {}).items():
            if "{vector_store_id}" in path:
                for op in ops.values():
                    for param in op.get("parameters", []):
                        if param.get("name") == "vector_store_id":
                            param["schema"]["enum"] = [collection]
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
