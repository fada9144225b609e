"""What the integrations share: the bearer key check, a leased search, a 0-1 score."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field

from api.deps import _key_matches, bearer_token
from api.routes.search import check_query
from api.runtime import Runtime
from api.schemas import DocIdValue, KindValue, LangCode

if TYPE_CHECKING:
    from fastapi import FastAPI
from reportrag.settings import Settings
from reportrag.types import Filters
from search.service import Hit

# Their scores are "similarity, 0 to 1": the cosine of the passage and the query (dense
# score), clipped. The multilingual-e5 model puts related passages at about 0.8-0.9.
MAX_QUERIES = 10
# One value, or a non-empty list of them (filters in both contracts).
LangValues = LangCode | Annotated[list[LangCode], Field(min_length=1, max_length=50)]
DocIdValues = DocIdValue | Annotated[list[DocIdValue], Field(min_length=1, max_length=50)]
KindValues = KindValue | Annotated[list[KindValue], Field(min_length=1, max_length=50)]


def relevance(hit: Hit) -> float:
    return round(min(1.0, max(0.0, hit.dense_score or 0.0)), 6)


def key_problem(settings: Settings, authorization: str | None) -> str | None:
    """None when the request may read; ``missing`` (no or a malformed bearer header) or
    ``wrong`` (a key that is neither the read nor the admin key). Open without a read key."""
    read = settings.read_api_key.get_secret_value() if settings.read_api_key else ""
    if not read:
        return None
    token = bearer_token(authorization)
    if token is None:
        return "missing"
    admin = settings.admin_key()
    if _key_matches(token, read) or (admin is not None and _key_matches(token, admin)):
        return None
    return "wrong"


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
    conn = runtime.lease_ready()
    try:
        best: dict[str, Found] = {}
        ran = mode
        for q in queries:
            result = conn.service.search(q, top_k=top_k, filters=filters, mode=mode,
                                         min_score=min_score, with_counterparts=True)
            ran = result.mode
            for rank, h in enumerate(result.hits):
                old = best.get(h.chunk.chunk_id)
                if old is None or rank < old.rank:
                    best[h.chunk.chunk_id] = Found(h, relevance(h), rank)
    finally:
        runtime.release(conn)
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
