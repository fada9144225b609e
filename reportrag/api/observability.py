"""Request ids, the access log, request metrics and ``GET /metrics``.

Every request gets an id: the client's ``X-Request-ID`` when it is a sane token (1-128
characters of ``A-Z a-z 0-9 . _ : -``), else a new one; a malformed one (huge, control
characters) is replaced, never echoed. The id is returned in ``X-Request-ID``, stamped on
every log line written while the request runs and put in error bodies (reportrag/api/errors.py).

Metrics (reportrag/metrics.py) are labelled by the route's template (``/v1/documents/
{doc_id}``, never the path a client sent), method, search mode and status. With several
worker processes (``PROMETHEUS_MULTIPROC_DIR``, set by ``reportrag serve --workers N``)
``/metrics`` adds up the files every worker writes, so each scrape sees all of them.
"""

from __future__ import annotations

import logging
import os
import re
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response

from reportrag import __version__
from reportrag import metrics as m
from reportrag.api.deps import ReadAuth
from reportrag.errors import ReportragError
from reportrag.logs import request_id

if TYPE_CHECKING:
    from collections.abc import Iterator

    from prometheus_client.metrics_core import Metric
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

access_log = logging.getLogger("reportrag.access")

HEADER = "x-request-id"
_SANE_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
UNMATCHED = "<unmatched>"  # the route label of a path no route serves (404s)


def accept_request_id(given: str | None) -> str:
    """The client's id when it is a sane token, else a fresh one (32 hex digits)."""
    if given is not None and _SANE_ID.fullmatch(given):
        return given
    return uuid.uuid4().hex


@dataclass
class RequestInfo:
    """What a route tells the request's metrics and access line (the mode it ran)."""

    mode: str = ""


def note_mode(request: Request, mode: str) -> None:
    """Label this request's metrics and access line with the search mode that ran."""
    info = request.scope.get("state", {}).get("reportrag_info")
    if isinstance(info, RequestInfo):
        info.mode = mode


class RequestContext:
    """ASGI middleware, outermost: request id, in-flight gauge, metrics, access log line."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = None
        for name, value in scope.get("headers", ()):
            if name == HEADER.encode():
                given = value.decode("latin-1")
                break
        rid = accept_request_id(given)
        request_id.set(rid)  # each request runs in a task (a context) of its own
        info = RequestInfo()
        scope.setdefault("state", {})["reportrag_info"] = info
        status = 500
        start = time.perf_counter()
        record = m.enabled()
        if record:
            m.metrics().http_in_flight.inc()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.lower() != b"x-request-id"]
                headers.append((b"x-request-id", rid.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            took = time.perf_counter() - start
            route = getattr(scope.get("route"), "path", None) or UNMATCHED
            method = scope.get("method", "")
            if record:
                mm = m.metrics()
                mm.http_in_flight.dec()
                mm.http_requests.labels(route, method, info.mode, str(status)).inc()
                mm.http_duration.labels(route, method, info.mode).observe(took)
            if access_log.isEnabledFor(logging.INFO):
                mode = f" (mode {info.mode})" if info.mode else ""
                access_log.info(
                    "%s %s -> %d in %.1f ms%s", method, route, status, took * 1000, mode,
                    extra={"route": route, "method": method, "status": status,
                           "duration_ms": round(took * 1000, 2), "mode": info.mode or None},
                )


# -- /metrics -------------------------------------------------------------------------------

class BuildInfo:
    """A collector of ``reportrag_build_info``: model, dimension, index and store as labels."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import GaugeMetricFamily

        runtime = getattr(self.app.state, "runtime", None)
        settings = getattr(runtime, "settings", None)
        emb = getattr(runtime, "embedder", None)
        store = getattr(runtime, "store", None)
        spec = getattr(emb, "spec", None)
        try:  # a connection closed under the scrape: its labels go blank, the scrape answers
            caps = store.capabilities if store is not None else None
            index = store.vector_index if store is not None else ""
        except ReportragError:
            caps, index = None, ""
        labels = {
            "version": __version__,
            "model": str(getattr(spec, "name", "") or ""),
            "dim": str(getattr(emb, "dim", "") or ""),
            "precision": str(getattr(settings, "precision", "") or ""),
            "index": str(index or getattr(settings, "index_kind", "") or ""),
            "store": str(getattr(caps, "kind", "") or ""),
            "collection": str(getattr(settings, "collection", "") or ""),
        }
        family = GaugeMetricFamily("reportrag_build_info",
                                   "The running version, model, index and store (value 1)",
                                   labels=list(labels))
        family.add_metric(list(labels.values()), 1)
        yield family


def exposition(app: FastAPI) -> tuple[bytes, str]:
    """The Prometheus text of this process (or of every worker, in multiprocess mode)."""
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

    m.metrics()  # every family is listed from the first scrape on, even before any request
    extra = CollectorRegistry(auto_describe=False)
    extra.register(BuildInfo(app))
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        body = generate_latest(registry)
    else:
        body = generate_latest(REGISTRY)
    return body + generate_latest(extra), CONTENT_TYPE_LATEST


def metrics_router() -> APIRouter:
    router = APIRouter(dependencies=[ReadAuth])

    @router.get("/metrics", include_in_schema=False)
    def prometheus_metrics(request: Request) -> Response:
        body, content_type = exposition(request.app)
        return Response(body, media_type=content_type)

    return router


def install(app: FastAPI, *, metrics: bool) -> None:
    """Serve /metrics (when on) and wrap the whole stack, 500s included, in RequestContext.

    Like reportrag/api/security.py, around Starlette's outermost middleware, so an unhandled error's
    500 carries the request id and is counted.
    """
    m.set_enabled(metrics)
    if metrics:
        app.include_router(metrics_router())
    build = app.build_middleware_stack

    def build_with_context() -> ASGIApp:
        return RequestContext(build())

    app.build_middleware_stack = build_with_context  # type: ignore[method-assign]
