"""A small Python client for the reportrag HTTP API.

    from reportrag.api.client import ReportragClient
    rr = ReportragClient("http://127.0.0.1:8000")
    hits = rr.search("How many A100 GPUs does ChatGPT need?", lang=["zh"], top_k=3)

Errors come back as :class:`ReportragAPIError` carrying the API's error code, message and
HTTP status; ``retryable`` is true for 503s.
"""

from __future__ import annotations

from typing import Any

import httpx


class ReportragAPIError(Exception):
    """An error answer from the API (its ``{"error": {...}}`` body)."""

    def __init__(self, status: int, code: str, message: str, details: dict[str, Any]) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message, self.details = status, code, message, details

    @property
    def retryable(self) -> bool:
        return self.status == 503


class ReportragClient:
    """Thin, typed access to every read endpoint (and the admin ones with a key)."""

    def __init__(self, base_url: str = "http://127.0.0.1:8000", *, api_key: str | None = None,
                 timeout: float = 30.0, http: httpx.Client | None = None) -> None:
        headers = {"X-API-Key": api_key} if api_key else {}
        self._http = http or httpx.Client(base_url=base_url, timeout=timeout)
        self._headers = headers

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ReportragClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, **kw: Any) -> Any:
        r = self._http.request(method, path, headers=self._headers, **kw)
        if r.status_code >= 400:
            try:
                err = r.json()["error"]
            except (ValueError, KeyError, TypeError):
                err = {"code": "http_error", "message": r.text[:200], "details": {}}
            raise ReportragAPIError(r.status_code, err.get("code", ""), err.get("message", ""),
                                    err.get("details") or {})
        return r.json()

    @staticmethod
    def _filters(lang: list[str] | None, doc_id: list[str] | None, section: str | None,
                 kind: list[str] | None) -> dict[str, Any]:
        f: dict[str, Any] = {"lang": lang, "doc_id": doc_id, "section": section, "kind": kind}
        return {k: v for k, v in f.items() if v}

    def search(self, query: str, *, top_k: int = 5, lang: list[str] | None = None,
               doc_id: list[str] | None = None, section: str | None = None,
               kind: list[str] | None = None, mode: str = "auto",
               with_counterparts: bool = False) -> dict[str, Any]:
        """``POST /v1/search``; returns the response body (``hits``, ``mode``, ``took_ms``)."""
        body = {"query": query, "top_k": top_k, "mode": mode,
                "filters": self._filters(lang, doc_id, section, kind),
                "with_counterparts": with_counterparts}
        return self._call("POST", "/v1/search", json=body)

    def context(self, query: str, *, max_tokens: int = 1500, top_k: int = 5, neighbors: int = 0,
                lang: list[str] | None = None, doc_id: list[str] | None = None) -> dict[str, Any]:
        """``POST /v1/context``: prompt-ready passages and their citations."""
        body = {"query": query, "max_tokens": max_tokens, "top_k": top_k,
                "neighbors": neighbors, "filters": self._filters(lang, doc_id, None, None)}
        return self._call("POST", "/v1/context", json=body)

    def documents(self) -> list[dict[str, Any]]:
        return self._call("GET", "/v1/documents")["documents"]

    def chunk(self, chunk_id: str, *, neighbors: int = 0) -> dict[str, Any]:
        return self._call("GET", f"/v1/chunks/{chunk_id}", params={"neighbors": neighbors})

    def counterparts(self, chunk_id: str) -> list[dict[str, Any]]:
        return self._call("GET", f"/v1/chunks/{chunk_id}/counterparts")["counterparts"]

    def ingest(self, *, paths: list[str] | None = None, dry_run: bool = False) -> dict[str, Any]:
        """``POST /v1/ingest`` (needs the admin key)."""
        return self._call("POST", "/v1/ingest", json={"paths": paths, "dry_run": dry_run})
