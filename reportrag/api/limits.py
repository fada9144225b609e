"""Request limits at the HTTP edge: the body size (with or without Content-Length) and the
configured query length, published in the OpenAPI schema so that clients see the real rules.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import FastAPI
from starlette.datastructures import Headers

from reportrag.api import errors

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
UPLOAD_PATH = "/v1/documents"
UPLOAD_OVERHEAD = 256 * 1024  # multipart boundaries, part headers, the metadata field


class BodyLimit:
    """ASGI middleware: a body over ``max_bytes`` gets 413 before any route reads it.

    A declared Content-Length is checked up front; a chunked body (no Content-Length) is read
    up to the limit here, then handed to the app in one piece. Either way the app never
    buffers more than ``max_bytes``.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, upload_bytes: int = 0) -> None:
        self.app = app
        self.max_bytes = max_bytes
        # Document uploads (POST /v1/documents, PUT /v1/documents/{id}) may be this large,
        # plus room for the multipart framing and the metadata field.
        self.upload_bytes = max(max_bytes, upload_bytes + UPLOAD_OVERHEAD if upload_bytes else 0)

    def _limit(self, scope: Scope) -> int:
        path = scope.get("path", "")
        if scope.get("method") in ("POST", "PUT") and (
            path == UPLOAD_PATH or path.startswith(UPLOAD_PATH + "/")
        ):
            return self.upload_bytes
        return self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope)
        length = Headers(scope=scope).get("content-length")
        if length is not None:
            if not length.isdigit() or int(length) > limit:
                await self._too_large(scope, receive, send, limit)
                return
            await self.app(scope, receive, send)  # the server enforces the declared framing
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client left before finishing its body: nothing to answer
            body = message.get("body", b"")
            size += len(body)
            if size > limit:
                await self._too_large(scope, receive, send, limit)
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()  # later calls: wait for the disconnect, as usual

        await self.app(scope, replay, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        # Connection: close, because the rest of the body is never read.
        response = errors.error_response(
            413,
            "payload_too_large",
            f"request body larger than {limit} bytes",
            {"max_bytes": limit},
            headers={"Connection": "close"},
        )
        await response(scope, receive, send)


def publish_query_limit(app: FastAPI, max_query_chars: int, models: tuple[str, ...]) -> None:
    """Make the OpenAPI schema state the configured ``query`` length of these body models."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        schema = build()  # FastAPI caches it; patching the cached dict again is harmless
        components = schema.get("components", {}).get("schemas", {})
        for name in models:
            prop = components.get(name, {}).get("properties", {}).get("query")
            if prop is not None:
                _limit(prop, max_query_chars)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _limit(prop: dict[str, Any], max_chars: int) -> None:
    """Set ``maxLength`` on a string schema, on each string of a union, on an array's items."""
    if prop.get("type") == "string":
        prop["maxLength"] = max_chars
    for member in prop.get("anyOf", []):
        _limit(member, max_chars)
    if isinstance(prop.get("items"), dict):
        _limit(prop["items"], max_chars)
