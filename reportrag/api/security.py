"""Security headers on every response, and the interactive docs page with a policy of its own.

JSON answers get a Content-Security-Policy that allows nothing (a JSON body opened in a
browser must not run or load anything), no MIME sniffing, no framing and no Referer. A route
that sets its own policy keeps it (the search page, ``/docs``): these are defaults only.

``/docs`` is FastAPI's Swagger UI page, which loads Swagger UI's script and stylesheet from
the jsDelivr CDN and starts it with one inline script. Its policy allows exactly that: the
CDN for scripts and styles, that inline script by its SHA-256 hash (computed from the page
served, so it cannot drift from FastAPI's template), the favicon's host, and requests to
this origin only (``/openapi.json`` and "Try it out"). ReDoc and the OAuth2 redirect page are
off: ReDoc needs Google Fonts and blob workers as well, and no endpoint uses OAuth2.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# For every response (JSON, errors, 404s): nothing may load, run or frame it.
DEFAULT_HEADERS: dict[str, str] = {
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}

DOCS_PATH = "/docs"
SWAGGER_CDN = "https://cdn.jsdelivr.net"
FAVICON_HOST = "https://fastapi.tiangolo.com"  # FastAPI's default favicon for the page
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def _script_hashes(html: str) -> list[str]:
    """CSP source expressions for every inline ``<script>`` of ``html``."""
    return [
        "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"
        for body in _INLINE_SCRIPT.findall(html)
    ]


def docs_csp(html: str) -> str:
    """The Content-Security-Policy of the Swagger UI page ``html``."""
    return "; ".join(
        (
            "default-src 'none'",
            f"script-src {SWAGGER_CDN} " + " ".join(_script_hashes(html)),
            f"style-src {SWAGGER_CDN}",
            f"img-src 'self' data: {FAVICON_HOST}",
            "connect-src 'self'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        )
    )


def docs_router(app: FastAPI) -> APIRouter:
    """``GET /docs``: Swagger UI for ``app``'s schema, with the policy that page needs."""
    page = get_swagger_ui_html(openapi_url=app.openapi_url or "/openapi.json",
                               title=f"{app.title} - Swagger UI")
    html = bytes(page.body).decode()
    headers = {"Content-Security-Policy": docs_csp(html), "Cache-Control": "no-cache"}
    router = APIRouter(include_in_schema=False)

    @router.get(DOCS_PATH)
    def docs() -> HTMLResponse:
        return HTMLResponse(html, headers=headers)

    return router


class SecurityHeaders:
    """ASGI middleware: add :data:`DEFAULT_HEADERS` a response does not already carry."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._defaults = [(k.lower().encode(), v.encode()) for k, v in DEFAULT_HEADERS.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(k, v) for k, v in self._defaults if k not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install(app: FastAPI) -> None:
    """Serve ``/docs`` with its policy and put the headers on every response, 500s included.

    Starlette answers unhandled errors in its outermost middleware, outside anything
    ``add_middleware`` adds, so the headers wrap the whole stack instead.
    """
    app.include_router(docs_router(app))
    build = app.build_middleware_stack

    def build_with_headers() -> ASGIApp:
        return SecurityHeaders(build())

    app.build_middleware_stack = build_with_headers  # type: ignore[method-assign]
