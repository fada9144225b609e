"""The HTTP contract at the edge: security headers on every response, the /docs policy, CORS
refusals in the error shape, and error messages without server paths or internal addresses.

The real app from create_app, without a model (routes that need one answer 503), in-process.
Routes that raise our own errors with operator-style messages are added to it here: the
exception tree is our seam, and what matters is what the edge makes of those messages.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from reportrag import errors as E
from reportrag.api.app import create_app
from reportrag.api.runtime import Runtime
from reportrag.settings import Settings

ALLOWED_ORIGIN = "https://app.example"
SECURITY = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("srv") / "deep" / "corpus"


@pytest.fixture(scope="module")
def client(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    data = tmp_path_factory.mktemp("data")
    cfg = Settings(_env_file=None, data_dir=data, corpus_dir=corpus, model=str(data / "none"),
                   cors_origins=ALLOWED_ORIGIN, lite_process=False)
    app = create_app(cfg, runtime=Runtime(cfg))
    lite = "http://127.0.0.1:40123"
    raising = {
        "document": E.DocumentError(
            f"{corpus}/latin.txt: not valid UTF-8 (Latin-1/Windows-1252?) at byte 3",
            details={"path": str(corpus / "latin.txt"), "reason": "not valid UTF-8"},
        ),
        "manifest": E.ManifestError(f"{corpus}/manifest.toml: duplicate doc_id"),
        "unavailable": E.StoreUnavailableError(
            f"Milvus at {lite} is unavailable (search): connection refused",
            details={"op": "search", "uri": lite, "collection": "reportrag_chunks"},
        ),
        "store": E.StoreError(f"cannot connect to Milvus at {data}/milvus.db: locked"),
        "conflict": E.ConflictError(f"another ingestion is running (lock {data}/ingest.lock)"),
        "config": E.ConfigError("cannot read the API key file /etc/reportrag/admin.key: gone"),
        "bug": RuntimeError(f"unexpected at {data}"),
    }

    def boom(kind: str) -> None:
        raise raising[kind]

    app.add_api_route("/test-raise/{kind}", boom, methods=["GET"])
    with TestClient(app, raise_server_exceptions=False) as http:
        yield http


# --- security headers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("GET", "/healthz", {}, 200),
        ("GET", "/openapi.json", {}, 200),
        ("GET", "/readyz", {}, 503),
        ("GET", "/v1/nothing-here", {}, 404),
        ("PUT", "/v1/search", {}, 405),
        ("POST", "/v1/search", {"json": {"query": "x"}}, 503),
        ("POST", "/v1/search", {"content": b"x" * 70_000}, 413),
        ("GET", "/test-raise/bug", {}, 500),
    ],
)
def test_every_response_carries_the_security_headers(
    client: TestClient, method: str, path: str, kwargs: dict, status: int
) -> None:
    r = client.request(method, path, **kwargs)
    assert r.status_code == status, r.text
    assert {k: r.headers.get(k) for k in SECURITY} == SECURITY
    csp = r.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp


def test_the_search_page_keeps_its_own_policy(client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 200
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert {k: r.headers.get(k) for k in SECURITY} == SECURITY


class _Assets(HTMLParser):
    """The external scripts, stylesheets and icons of a page, and its inline scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[str] = []
        self.styles: list[str] = []
        self.images: list[str] = []
        self.inline: list[str] = []
        self._in_inline = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "script":
            if a.get("src"):
                self.scripts.append(a["src"] or "")
            else:
                self._in_inline = True
                self.inline.append("")
        elif tag == "link" and a.get("rel") == "stylesheet":
            self.styles.append(a.get("href") or "")
        elif tag == "link" and "icon" in (a.get("rel") or ""):
            self.images.append(a.get("href") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_inline = False

    def handle_data(self, data: str) -> None:
        if self._in_inline:
            self.inline[-1] += data


def _directives(csp: str) -> dict[str, list[str]]:
    out = {}
    for part in csp.split(";"):
        name, *values = part.split()
        out[name] = values
    return out


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def test_docs_policy_allows_exactly_what_the_swagger_page_loads(client: TestClient) -> None:
    r = client.get("/docs")
    assert r.status_code == 200 and "SwaggerUIBundle" in r.text
    csp = _directives(r.headers["content-security-policy"])
    assets = _Assets()
    assets.feed(r.text)
    assert assets.scripts and assets.styles and assets.inline
    for src in assets.scripts:
        assert _origin(src) in csp["script-src"], src
    for body in assets.inline:
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in csp["script-src"]
    for href in assets.styles:
        assert _origin(href) in csp["style-src"], href
    for href in assets.images:
        assert _origin(href) in csp["img-src"], href
    assert csp["default-src"] == ["'none'"] and csp["frame-ancestors"] == ["'none'"]
    assert csp["connect-src"] == ["'self'"]  # the schema and "Try it out": this origin only
    assert not any("unsafe" in v for values in csp.values() for v in values)
    assert {k: r.headers.get(k) for k in SECURITY} == SECURITY


def test_redoc_is_off(client: TestClient) -> None:
    assert client.get("/redoc").status_code == 404


# --- CORS ---------------------------------------------------------------------------------


def _preflight(client: TestClient, origin: str, method: str = "POST", headers: str = ""):
    h = {"Origin": origin, "Access-Control-Request-Method": method}
    if headers:
        h["Access-Control-Request-Headers"] = headers
    return client.options("/v1/search", headers=h)


@pytest.mark.parametrize(
    ("origin", "method", "headers", "rejected"),
    [
        ("https://evil.example", "POST", "", ["origin"]),
        (ALLOWED_ORIGIN, "DELETE", "", ["method"]),
        (ALLOWED_ORIGIN, "POST", "X-Secret", ["headers"]),
        ("https://evil.example", "PATCH", "", ["origin", "method"]),
    ],
)
def test_a_refused_cors_preflight_answers_the_json_error_shape(
    client: TestClient, origin: str, method: str, headers: str, rejected: list[str]
) -> None:
    r = _preflight(client, origin, method, headers)
    assert r.status_code == 400
    assert r.headers["content-type"] == "application/json"
    assert r.json() == {
        "error": {
            "code": "cors_rejected",
            "message": f"CORS preflight refused: {', '.join(rejected)} not allowed",
            "details": {"rejected": rejected},
            "request_id": r.headers["x-request-id"],
        }
    }
    if "origin" in rejected:
        assert "access-control-allow-origin" not in r.headers
    assert "Origin" in r.headers["vary"]  # caches keep answers per origin, as before


def test_an_allowed_preflight_is_unchanged(client: TestClient) -> None:
    r = _preflight(client, ALLOWED_ORIGIN, "POST", "Content-Type, X-API-Key")
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == ALLOWED_ORIGIN


# --- messages without server paths or addresses --------------------------------------------


@pytest.mark.parametrize(
    ("kind", "status", "code", "message"),
    [
        ("document", 422, "bad_document",
         "latin.txt: not valid UTF-8 (Latin-1/Windows-1252?) at byte 3"),
        ("manifest", 422, "bad_manifest", "manifest.toml: duplicate doc_id"),
        ("unavailable", 503, "store_unavailable",
         "Milvus at <address> is unavailable (search): connection refused"),
        ("store", 503, "store_error", "cannot connect to Milvus at …/milvus.db: locked"),
        ("conflict", 409, "conflict", "another ingestion is running (lock …/ingest.lock)"),
        ("config", 500, "config_error", "cannot read the API key file …/admin.key: gone"),
        ("bug", 500, "internal_error", "internal server error"),
    ],
)
def test_error_messages_carry_no_server_path_or_address(
    client: TestClient, corpus: Path, kind: str, status: int, code: str, message: str
) -> None:
    r = client.get(f"/test-raise/{kind}")
    assert r.status_code == status
    error = r.json()["error"]
    assert (error["code"], error["message"]) == (code, message)
    body = r.text
    assert str(corpus.parent.parent) not in body and "127.0.0.1" not in body
    assert "/etc/" not in body and not re.search(r"(?<![\w.])/(tmp|home|root|srv|etc)/", body)


def test_details_are_rewritten_too(client: TestClient) -> None:
    details = client.get("/test-raise/document").json()["error"]["details"]
    assert details == {"path": "latin.txt", "reason": "not valid UTF-8"}
    details = client.get("/test-raise/unavailable").json()["error"]["details"]
    assert details["uri"] == "<address>" and details["collection"] == "reportrag_chunks"


# --- OpenAPI links (what schemathesis' stateful phase follows) ------------------------------


def test_the_schema_links_operations_and_schemathesis_follows_them(client: TestClient) -> None:
    import schemathesis

    from reportrag.api.links import LINKS

    spec = client.get("/openapi.json").json()
    operation_ids = {
        op["operationId"] for ops in spec["paths"].values() for op in ops.values()
    }
    declared = 0
    for (method, path), links in LINKS.items():
        published = spec["paths"][path][method]["responses"]["200"]["links"]
        assert set(published) == {name for name, *_ in links}
        for link in published.values():
            assert link["operationId"] in operation_ids
        declared += len(links)
    transitions = schemathesis.openapi.from_dict(spec).statistic.transitions
    assert transitions.total == declared > 0


# --- the published filter rules are the store's ----------------------------------------------


def test_the_section_pattern_refuses_exactly_what_the_store_refuses(client: TestClient) -> None:
    """Schemathesis' stateful run sent a section with U+0096 (a C1 control): schema-valid,
    but refused by the store with 422 bad_filter. Schema, search layer and store now agree
    on every code point of the Basic Multilingual Plane."""
    from reportrag.errors import FilterError
    from reportrag.search.filters import build_filters
    from reportrag.store.filters import quote

    spec = client.get("/openapi.json").json()
    section = spec["components"]["schemas"]["FiltersIn"]["properties"]["section"]
    pattern = re.compile(next(s["pattern"] for s in section["anyOf"] if "pattern" in s))
    for code in range(0x10000):
        ch = chr(code)
        if 0xD800 <= code <= 0xDFFF:
            continue  # lone surrogates are not valid JSON text (rejected as a body, 422)
        try:
            quote(ch)
            store_ok = True
        except FilterError:
            store_ok = False
        try:
            build_filters(section=f"2.{ch}")
            search_ok = True
        except FilterError:
            search_ok = False
        assert (pattern.fullmatch(ch) is not None) == store_ok == search_ok, hex(code)
