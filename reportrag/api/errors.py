"""Every 4xx/5xx has one JSON shape: ``{"error": {"code", "message", "details"}}``."""

from __future__ import annotations

import logging
import re

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from reportrag import errors as E
from reportrag.api.redact import Redactor
from reportrag.logs import request_id

logger = logging.getLogger(__name__)

# The codes of HTTP errors raised by the framework or our routes (HTTPException), by status;
# any other status answers OTHER_HTTP_CODE. docs/api.md lists every code
# (tests/test_error_codes.py compares it with these, the error tree and the edge's literals).
HTTP_CODES: dict[int, str] = {
    400: "bad_request",  # e.g. a body that is not UTF-8 / too deeply nested JSON
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
}
OTHER_HTTP_CODE = "http_error"
INVALID_REQUEST = "invalid_request"  # the body or a parameter fails validation
INTERNAL_ERROR = "internal_error"  # a bug; the traceback goes to the log only
CORS_REJECTED = "cors_rejected"  # a CORS preflight that REPORTRAG_CORS_ORIGINS refuses
REQUEST_TIMEOUT = "request_timeout"  # the request head was too slow (api/http_protocol.py)
NOT_READY = "not_ready"  # /readyz
UNHEALTHY = "unhealthy"  # /healthz: the Milvus Lite process will not come back
# Every code the edge answers with itself, with its status (the error tree's come from
# status_for; OTHER_HTTP_CODE takes the status of whatever raised it).
EDGE_CODES: dict[str, int] = {
    **{code: status for status, code in HTTP_CODES.items()},
    INVALID_REQUEST: 422,
    INTERNAL_ERROR: 500,
    CORS_REJECTED: 400,
    REQUEST_TIMEOUT: 408,
    NOT_READY: 503,
    UNHEALTHY: 503,
}

_STATUS: list[tuple[type[E.ReportragError], int]] = [
    (E.IngestIncompleteError, 500),  # written, then failed: not the 503 of "nothing happened"
    (E.StoreUnavailableError, 503),
    (E.FingerprintMismatchError, 409),
    (E.CapabilityError, 400),
    (E.TokenLimitError, 422),
    (E.UnsupportedTypeError, 415),
    (E.TooLargeError, 413),
    (E.QueueFullError, 429),
    (E.FilterError, 422),
    (E.InputError, 422),
    (E.NotFoundError, 404),
    (E.ConflictError, 409),
    (E.ModelError, 503),
    (E.StoreError, 503),
    (E.ConfigError, 500),
]


def error_response(
    status: int,
    code: str,
    message: str,
    details: dict | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """A JSON error in the documented shape, with the request's id (api/observability.py)."""
    body: dict[str, object] = {"code": code, "message": message, "details": details or {}}
    rid = request_id.get()
    if rid:
        body["request_id"] = rid
    return JSONResponse(status_code=status, headers=headers, content={"error": body})


def status_for(exc: E.ReportragError) -> int:
    for cls, status in _STATUS:
        if isinstance(exc, cls):
            return status
    return 500


def redactor(request: Request) -> Redactor:
    """The rewriting of error text for this app's clients (corpus names stay readable)."""
    runtime = getattr(request.app.state, "runtime", None)
    settings = getattr(runtime, "settings", None)
    return Redactor(getattr(settings, "corpus_dir", None))


_HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def _allowed_methods(request: Request) -> str | None:
    # Starlette names only the first route whose path matched; a path served by two routers
    # (GET and DELETE /v1/documents/{id}) must list both: take them from the OpenAPI paths.
    methods: set[str] = set()
    for template, ops in request.app.openapi().get("paths", {}).items():
        pattern = re.sub(r"\\\{[^/]*?\\\}", "[^/]+", re.escape(template))
        if re.fullmatch(pattern, request.url.path):
            methods |= {m.upper() for m in ops if m in _HTTP_METHODS}
    return ", ".join(sorted(methods)) or None


def install(app: FastAPI) -> None:
    """Register the handlers that translate errors at the HTTP edge."""

    @app.exception_handler(E.ReportragError)
    async def _ours(request: Request, exc: E.ReportragError) -> JSONResponse:
        status = status_for(exc)
        if status == 503 and isinstance(exc, E.StoreError):
            runtime = getattr(request.app.state, "runtime", None)
            if runtime is not None:
                runtime.mark_store_down(exc.message)
        details = dict(exc.details)
        if status in (429, 503):
            details.setdefault("retry_after_s", 5)  # set: the real wait (a Lite restart's)
        headers = (
            {"Retry-After": str(details["retry_after_s"])} if status in (429, 503) else None
        )
        # The message was written for the operator: paths and addresses stay server-side.
        public = redactor(request)
        return error_response(
            status, exc.code, public.text(exc.message), public.value(details), headers
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {
                "loc": [str(p) for p in e.get("loc", ())],
                "msg": e.get("msg", ""),
                "type": e.get("type", ""),
            }
            for e in exc.errors()[:20]
        ]
        first = problems[0] if problems else {"loc": [], "msg": "invalid request"}
        where = ".".join(p for p in first["loc"] if p != "body") or "body"
        return error_response(
            422, INVALID_REQUEST, f"{where}: {first['msg']}", {"errors": problems}
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = HTTP_CODES.get(exc.status_code, OTHER_HTTP_CODE)
        headers = getattr(exc, "headers", None)
        allowed = _allowed_methods(request) if exc.status_code == 405 else None
        if allowed:
            headers = {**(headers or {}), "Allow": allowed}
        message = redactor(request).text(str(exc.detail))
        return error_response(exc.status_code, code, message, headers=headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # The one place a bare Exception is caught: the HTTP edge; never leak internals.
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, INTERNAL_ERROR, "internal server error")
