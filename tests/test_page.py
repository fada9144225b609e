"""The search page over HTTP: files, security headers, no inline code (no model, no Milvus)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient

from reportrag.api.app import create_app
from reportrag.api.routes.page import STATIC
from reportrag.settings import Settings


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    # No lifespan (no `with`): the page needs neither the model nor Milvus.
    settings = Settings(_env_file=None, data_dir=tmp_path_factory.mktemp("page-data"))
    return TestClient(create_app(settings))


def _error(r) -> dict:
    body = r.json()
    assert set(body) == {"error"} and {"code", "message", "details"} <= set(body["error"])
    return body["error"]


def test_page_is_served_with_security_headers(client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert '<input id="q"' in r.text
    csp = {
        d.split()[0]: d.split()[1:] for d in r.headers["content-security-policy"].split("; ")
    }
    assert csp["default-src"] == ["'none'"]
    assert csp["script-src"] == ["'self'"] and csp["style-src"] == ["'self'"]
    assert csp["connect-src"] == ["'self'"] and csp["frame-ancestors"] == ["'none'"]
    assert "unsafe" not in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert client.head("/").status_code == 200


@pytest.mark.parametrize(
    "name,media",
    [
        ("app.js", "text/javascript; charset=utf-8"),
        ("style.css", "text/css; charset=utf-8"),
        ("favicon.svg", "image/svg+xml"),
    ],
)
def test_assets_are_served(client: TestClient, name: str, media: str) -> None:
    r = client.get(f"/static/{name}")
    assert r.status_code == 200
    assert r.headers["content-type"] == media
    assert r.content == (STATIC / name).read_bytes()
    assert r.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    "path",
    ["/static/nope.js", "/static/..%2Fpage.py", "/static/.hidden.js", "/static/%2e%2e%2fapp.py"],
)
def test_unknown_assets_are_404_in_the_error_shape(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 404
    assert _error(r)["code"] == "not_found"


def test_api_errors_keep_their_shape_and_docs_still_work(client: TestClient) -> None:
    r = client.get("/v1/no-such-endpoint")
    assert r.status_code == 404 and _error(r)["code"] == "not_found"
    # The page's policy is the page's: JSON answers get the API's, which allows nothing.
    assert r.headers["content-security-policy"].startswith("default-src 'none'; frame-anc")
    spec = client.get("/openapi.json").json()
    assert "/" not in spec["paths"] and "/static/{name}" not in spec["paths"]
    assert client.get("/docs").status_code == 200


class _Markup(HTMLParser):
    """Every tag with its attributes, and the text inside <script> elements."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.script_text = ""
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.script_text += data.strip()


def test_page_has_no_inline_code_and_nothing_from_elsewhere() -> None:
    parser = _Markup()
    parser.feed((STATIC / "index.html").read_text(encoding="utf-8"))
    scripts = [a for t, a in parser.tags if t == "script"]
    assert scripts and all(a.get("src", "").startswith("/static/") for a in scripts)
    assert parser.script_text == ""
    for tag, attrs in parser.tags:
        assert "style" not in attrs, tag  # inline styles would break under the CSP
        assert not [a for a in attrs if a.startswith("on")], tag
        for attr in ("src", "href"):
            value = attrs.get(attr) or ""
            assert not re.match(r"^(https?:)?//", value), (tag, value)
    assert not [t for t, _ in parser.tags if t == "style"]


def test_script_never_writes_markup() -> None:
    # Passage text is untrusted: the page builds DOM nodes and sets textContent only.
    source = (STATIC / "app.js").read_text(encoding="utf-8")
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in source, sink
    assert "http://" not in source and "https://" not in source
