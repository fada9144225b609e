"""CORS (on when REPORTRAG_CORS_ORIGINS is set), with refusals in the API's error shape.

Starlette answers a preflight it refuses (origin, method or headers not allowed) with a
text/plain 400 "Disallowed CORS origin"; every other error of the API is JSON. Same status
and headers here, JSON body: code ``cors_rejected``, ``details.rejected`` naming what was
refused.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response

from reportrag.api.errors import CORS_REJECTED, error_response

_PREFIX = "Disallowed CORS "
# Starlette's own body headers; the JSON response sets its own.
_BODY_HEADERS = {"content-length", "content-type"}


class JsonCORSMiddleware(CORSMiddleware):
    """Starlette's CORS middleware; a refused preflight answers the documented JSON error."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code != 400:
            return response
        text = bytes(response.body).decode("utf-8", "replace")
        rejected = text.removeprefix(_PREFIX).split(", ") if text.startswith(_PREFIX) else []
        headers = {k: v for k, v in response.headers.items() if k.lower() not in _BODY_HEADERS}
        return error_response(
            400,
            CORS_REJECTED,
            f"CORS preflight refused: {', '.join(rejected) or 'not allowed'} not allowed",
            {"rejected": rejected},
            headers=headers,
        )
