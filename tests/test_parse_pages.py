"""Real documentation pages: well formed, free of markup, chrome gone, content and titles kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from reportrag.ingest.document import ParsedDocument
from reportrag.ingest.markdown import parse_markdown
from tests.parsing import (
    assert_well_formed,
    blocks_text,
    hidden_urls,
    leaked_tags,
    prose,
    shape,
)
from tests.parsing import parse_page as parse

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "data" / "markdown"
EVAL_DOCS = REPO / "eval" / "realdocs" / "docs"

# --- Markdown -----------------------------------------------------------------------------------

FIXTURE_PAGES = sorted(FIXTURES.glob("*.md"))


@pytest.fixture(scope="module")
def real_docs() -> dict[str, tuple[str, ParsedDocument]]:
    out = {}
    for path in FIXTURE_PAGES:
        raw = path.read_text(encoding="utf-8")
        out[path.name] = (raw, parse_markdown(raw, source=path.name))
    return out


@pytest.mark.parametrize("name", [p.name for p in FIXTURE_PAGES])
def test_real_pages_are_well_formed_and_free_of_markup(
    name: str, real_docs: dict[str, tuple[str, ParsedDocument]]
) -> None:
    raw, doc = real_docs[name]
    assert_well_formed(doc, raw)
    assert doc.title and len(doc.blocks) > 20
    assert leaked_tags(doc, raw) == []
    text = prose(doc)
    assert [url for url in hidden_urls(raw) if url in text] == []
    for marker in ("](", "![", "<!--", "{{<", "{%"):
        assert marker not in text, marker


def test_real_page_titles(real_docs: dict[str, tuple[str, ParsedDocument]]) -> None:
    titles = {name: doc.title for name, (_, doc) in real_docs.items()}
    assert titles == {
        "fastapi-de-first-steps.md": "Erste Schritte",
        "fastapi-zh-docker.md": "容器中的 FastAPI - Docker",
        "fastapi-zh-index.md": "FastAPI",
        "hugo-front-matter.md": "Front matter",
        "otel-baggage-api.md": "Baggage API",
        "otel-sdk-environment-variables.md": "OpenTelemetry Environment Variable Specification",
        "vue-computed.md": "Computed Properties",
    }


def test_real_page_chrome_is_gone(real_docs: dict[str, tuple[str, ParsedDocument]]) -> None:
    raw, index = real_docs["fastapi-zh-index.md"]
    assert "shields.io" in raw and "badge" in raw
    assert index.text.startswith("FastAPI\n\nFastAPI 框架，高性能，易于学习，高效编码，生产可用")
    kept = blocks_text(index)
    for gone in ("Test", "Coverage", "Package version", "Supported Python versions"):
        assert gone not in kept, gone  # the badges' alt text
    for gone in ("sponsor.title", ".md-content", "shields.io", "{% for"):
        assert gone not in index.text, gone
    _, baggage = real_docs["otel-baggage-api.md"]
    assert "Table of Contents" not in baggage.text and "Get All Values" in baggage.text
    assert [b.kind for b in baggage.blocks].count("heading") == 11
    _, env = real_docs["otel-sdk-environment-variables.md"]
    rows = [t for t in blocks_text(env) if t.startswith("OTEL_SDK_DISABLED |")]
    assert rows and rows[0].split(" | ")[1:4] == [
        "Disable the SDK for all signals",
        "false",
        "Boolean",
    ]
    _, hugo = real_docs["hugo-front-matter.md"]
    assert hugo.blocks[1].kind == "paragraph"
    assert hugo.text[hugo.blocks[1].start : hugo.blocks[1].end] == (
        "Use front matter to add metadata to your content."
    )


@pytest.mark.skipif(not EVAL_DOCS.is_dir(), reason="eval/realdocs is not checked out here")
def test_held_out_pages_parse_and_lose_their_markup() -> None:
    """A smoke test only: the held-out pages are for evaluation, not for tuning rules."""
    pages = sorted(EVAL_DOCS.glob("*.md"))
    assert pages
    for path in pages:
        raw = path.read_text(encoding="utf-8")
        doc = parse_markdown(raw, source=path.name)
        assert_well_formed(doc, raw)
        assert doc.title, path.name
        assert not doc.title.startswith("<"), path.name
        assert "data:" not in doc.text or "data:" in raw.replace("data:image", ""), path.name
        text = prose(doc)
        assert "](" not in text and "<!--" not in text, path.name


# --- HTML ---------------------------------------------------------------------------------------

PAGES = sorted(FIXTURES.glob("*.html"))


@pytest.mark.parametrize("path", PAGES, ids=[p.name for p in PAGES])
def test_real_pages(path: Path) -> None:
    raw = path.read_text(encoding="utf-8")
    doc = parse(raw)
    assert leaked_tags(doc, raw) == []
    text = prose(doc)
    assert [url for url in hidden_urls(raw) if url in text] == []
    for chrome in ("Apache > HTTP", "Permanent link", "¶", "prettify", "Modules | Directives"):
        assert chrome not in doc.text, chrome


def test_real_page_content() -> None:
    raw = (FIXTURES / "httpd-bind.de.html").read_text(encoding="utf-8")
    doc = parse(raw)
    assert doc.title == "An Adressen und Ports binden"
    headings = [t for k, _, t in shape(doc) if k == "heading"]
    assert headings[:2] == ["An Adressen und Ports binden", "Siehe auch"]
    assert "Überblick" in headings
    assert "Verfügbare Sprachen" not in doc.text  # the language switcher
    assert "Betrachtung von IPv6-Besonderheiten\n\n" in doc.text  # a heading, not its ToC entry
    assert doc.text.count("Betrachtung von IPv6-Besonderheiten") == 1
    assert "Listen 192.0.2.1:80\nListen 192.0.2.5:8000" in blocks_text(doc)
    zh = parse((FIXTURES / "httpd-howto-index.zh-cn.html").read_text(encoding="utf-8"))
    assert zh.title == "常见操作/教程"
