"""The search page: ``/`` (index.html) and its static assets under ``/static/``.

The page is plain HTML/CSS/JS from ``api/static`` with no build step and nothing fetched from
elsewhere; it talks to the same ``/v1`` endpoints as any client. Every response carries a
Content-Security-Policy that allows only this origin's scripts and styles, so passage text
(untrusted) can never run as code even if it reached the DOM as markup.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

STATIC = Path(__file__).resolve().parent.parent / "static"
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
CSP = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "font-src 'self'",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    # The page is small and changes with the code: revalidate rather than serve a stale copy.
    "Cache-Control": "no-cache",
}

router = APIRouter(tags=["page"], include_in_schema=False)


def _file(name: str) -> FileResponse:
    path = STATIC / name
    media = _TYPES.get(path.suffix)
    # Only the files shipped in reportrag/api/static, by plain name: no paths, no dotfiles.
    if media is None or "/" in name or name.startswith(".") or not path.is_file():
        raise HTTPException(404, f"no static file {name!r}")
    return FileResponse(path, media_type=media, headers=SECURITY_HEADERS)


@router.api_route("/", methods=["GET", "HEAD"], summary="The search page")
def index() -> FileResponse:
    return _file("index.html")


@router.api_route(
    "/static/{name}", methods=["GET", "HEAD"], summary="The search page's scripts, styles and icon"
)
def static(name: str) -> FileResponse:
    return _file(name)
