"""Request dependencies as ``Annotated`` aliases: the runtime, the search service, API keys.

They are ``async def`` because none of them waits on anything in the common case: FastAPI
runs a plain ``def`` dependency on its thread pool, one thread hop (and GIL hand-over) per
dependency per request, which under load cost more event-loop time than the route itself
(docs/benchmarks-history.md#the-http-rounds-newest-first). Only a reconnect to Milvus
blocks; that one goes to a thread. The service is leased for the request (api/runtime.py):
a connection that another request found broken is closed only once this one is done with it.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request, Security
from fastapi.security import APIKeyHeader
from starlette.concurrency import run_in_threadpool

from reportrag.api.runtime import Connection, Runtime, Writer
from reportrag.search.service import SearchService
from reportrag.settings import Settings
from reportrag.store.protocols import WriteStore


async def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_settings_dep(runtime: RuntimeDep) -> Settings:
    return runtime.settings


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]


@asynccontextmanager
async def _leased(runtime: Runtime) -> AsyncIterator[Connection]:
    """The runtime's connection for one request, released after it."""
    conn = runtime.lease_open()
    if conn is None:
        # Not connected (or the model failed): reconnecting blocks up to the Milvus timeout.
        conn = await run_in_threadpool(runtime.lease_ready)
    try:
        yield conn
    finally:
        runtime.release(conn)


async def get_service(runtime: RuntimeDep) -> AsyncIterator[SearchService]:
    async with _leased(runtime) as conn:
        yield conn.service


ServiceDep = Annotated[SearchService, Depends(get_service)]


async def get_store(runtime: RuntimeDep) -> AsyncIterator[WriteStore]:
    """The store of the search service's connection, leased the same way, for the admin
    routes that write to it (the service itself only reads)."""
    async with _leased(runtime) as conn:
        yield conn.store


StoreDep = Annotated[WriteStore, Depends(get_store)]


async def get_writer(runtime: RuntimeDep) -> AsyncIterator[Writer]:
    """The embedder and a Milvus connection of the ingestion's own; no collection needed."""
    writer = await run_in_threadpool(runtime.open_writer)
    try:
        yield writer
    finally:
        await run_in_threadpool(writer.close)


WriterDep = Annotated[Writer, Depends(get_writer)]


def _key_matches(given: str | None, expected: str) -> bool:
    # Constant-time comparison; the key itself is never logged.
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def read_key_required(settings: Settings) -> bool:
    """Whether reads need a key: REPORTRAG_READ_API_KEY is set (and not empty)."""
    return settings.read_api_key is not None and bool(settings.read_api_key.get_secret_value())


def read_key_accepts(settings: Settings, given: str | None) -> bool:
    """Whether ``given`` is the read key or the admin key (which may read too)."""
    read = settings.read_api_key.get_secret_value() if settings.read_api_key else ""
    admin = settings.admin_key()
    return (bool(read) and _key_matches(given, read)) or (
        admin is not None and _key_matches(given, admin))


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer TOKEN`` header (None for any other)."""
    if authorization is None:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


async def require_read_key(
    settings: SettingsDep,
    x_api_key: Annotated[str | None, Header()] = None,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> None:
    """Read endpoints need a key only when REPORTRAG_READ_API_KEY is set (admin key works too),
    in ``X-API-Key`` or as ``Authorization: Bearer KEY`` (how Prometheus and OpenAI-style
    clients send one)."""
    if not read_key_required(settings):
        return
    if any(read_key_accepts(settings, given) for given in (x_api_key, bearer_token(authorization))):
        return
    raise HTTPException(401, "missing or wrong X-API-Key", headers={"WWW-Authenticate": "ApiKey"})


# Declared as a security scheme, so the OpenAPI schema (and clients generated from it) say
# that admin endpoints need X-API-Key; the 401/403 bodies stay ours (auto_error=False).
_ADMIN_KEY = APIKeyHeader(
    name="X-API-Key",
    scheme_name="AdminKey",
    description="the admin key (REPORTRAG_API_KEY or REPORTRAG_API_KEY_FILE)",
    auto_error=False,
)


async def require_admin_key(
    settings: SettingsDep, x_api_key: Annotated[str | None, Security(_ADMIN_KEY)] = None
) -> None:
    """Admin endpoints are off without REPORTRAG_API_KEY, and need that key in X-API-Key."""
    admin = settings.admin_key()
    if admin is None:
        raise HTTPException(403, "admin endpoints are disabled: set REPORTRAG_API_KEY to enable")
    if not _key_matches(x_api_key, admin):
        raise HTTPException(
            401, "missing or wrong X-API-Key", headers={"WWW-Authenticate": "ApiKey"}
        )


ReadAuth = Depends(require_read_key)
AdminAuth = Depends(require_admin_key)
