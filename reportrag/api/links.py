"""OpenAPI links: which response values feed which other operations.

A search hit's ``chunk_id`` is what ``GET /v1/chunks/{chunk_id}`` takes, a listed document's
``doc_id`` what ``GET``/``DELETE /v1/documents/{doc_id}`` take, and so on. Declared in the
schema, they tell clients how the operations connect, and they let schemathesis' stateful
phase chain real calls (search, then open a hit, then delete its document, then see it gone)
instead of only sending each operation made-up ids (tests/test_live_api.py).

The links name their target by ``operationId``, which FastAPI derives from the route; they
are looked up here by method and path, so a renamed route function cannot leave a dangling
link (and a removed operation fails loudly when the schema is built).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

# (source method, source path) -> [(link name, target method, target path, parameters)]
# Parameter values are OpenAPI runtime expressions.
LINKS: dict[tuple[str, str], list[tuple[str, str, str, dict[str, str]]]] = {
    ("post", "/v1/search"): [
        ("OpenFirstHit", "get", "/v1/chunks/{chunk_id}",
         {"chunk_id": "$response.body#/hits/0/chunk_id"}),
        ("FirstHitCounterparts", "get", "/v1/chunks/{chunk_id}/counterparts",
         {"chunk_id": "$response.body#/hits/0/chunk_id"}),
        ("FirstHitDocument", "get", "/v1/documents/{doc_id}",
         {"doc_id": "$response.body#/hits/0/doc_id"}),
    ],
    ("post", "/v1/context"): [
        ("FirstCitedChunk", "get", "/v1/chunks/{chunk_id}",
         {"chunk_id": "$response.body#/citations/0/chunk_ids/0"}),
        ("FirstCitedDocument", "get", "/v1/documents/{doc_id}",
         {"doc_id": "$response.body#/citations/0/doc_id"}),
    ],
    ("get", "/v1/documents"): [
        ("FirstDocument", "get", "/v1/documents/{doc_id}",
         {"doc_id": "$response.body#/documents/0/doc_id"}),
        ("DeleteFirstDocument", "delete", "/v1/documents/{doc_id}",
         {"doc_id": "$response.body#/documents/0/doc_id"}),
    ],
    ("get", "/v1/documents/{doc_id}"): [
        ("DeleteDocument", "delete", "/v1/documents/{doc_id}",
         {"doc_id": "$response.body#/doc_id"}),
    ],
    ("delete", "/v1/documents/{doc_id}"): [
        ("DeletedDocument", "get", "/v1/documents/{doc_id}",
         {"doc_id": "$response.body#/doc_id"}),
    ],
    ("get", "/v1/chunks/{chunk_id}"): [
        ("Counterparts", "get", "/v1/chunks/{chunk_id}/counterparts",
         {"chunk_id": "$response.body#/chunk/chunk_id"}),
        ("ChunkDocument", "get", "/v1/documents/{doc_id}",
         {"doc_id": "$response.body#/chunk/doc_id"}),
    ],
    ("get", "/v1/jobs"): [
        ("FirstJob", "get", "/v1/jobs/{job_id}", {"job_id": "$response.body#/jobs/0/job_id"}),
    ],
    ("get", "/v1/chunks/{chunk_id}/counterparts"): [
        ("OpenCounterpart", "get", "/v1/chunks/{chunk_id}",
         {"chunk_id": "$response.body#/counterparts/0/chunk_id"}),
    ],
}


def _add_links(schema: dict[str, Any]) -> None:
    paths = schema.get("paths", {})
    for (method, path), links in LINKS.items():
        ok = paths[path][method]["responses"]["200"]
        ok["links"] = {
            name: {"operationId": paths[target_path][target_method]["operationId"],
                   "parameters": parameters}
            for name, target_method, target_path, parameters in links
        }


def publish_links(app: FastAPI) -> None:
    """Make ``app``'s OpenAPI schema carry :data:`LINKS` on each source's 200 response."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        schema = build()  # FastAPI caches it; setting the same links again is harmless
        _add_links(schema)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
