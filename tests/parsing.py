"""Checks every parsed document must pass, shared by the Markdown and HTML parser tests."""

from __future__ import annotations

import html
import re
import unicodedata

from reportrag.ingest.document import ParsedDocument
from reportrag.ingest.html import parse_html
from reportrag.ingest.markdown import parse_markdown

TAG = re.compile(r"</?[A-Za-z][\w:-]*(?:\s[^<>]*)?/?>")
_WORD = re.compile(r"\w+")


def parse_md(raw: str) -> ParsedDocument:
    """Parse Markdown and check the result is well formed."""
    doc = parse_markdown(raw, source="test.md")
    assert_well_formed(doc, raw)
    assert doc.format == "markdown"
    return doc


def parse_page(raw: str) -> ParsedDocument:
    """Parse an HTML page and check the result is well formed."""
    doc = parse_html(raw, source="test.html")
    assert_well_formed(doc, raw)
    assert doc.format == "html"
    return doc


def shape(doc: ParsedDocument) -> list[tuple[str, int, str]]:
    """Every block as (kind, level, text)."""
    return [(b.kind, b.level, doc.text[b.start : b.end]) for b in doc.blocks]


def blocks_text(doc: ParsedDocument, *, code: bool = True) -> list[str]:
    """The text of every block (code blocks left out unless ``code``)."""
    return [doc.text[b.start : b.end] for b in doc.blocks if code or b.kind != "code"]


def prose(doc: ParsedDocument) -> str:
    """Everything but code, one block per paragraph."""
    return "\n\n".join(blocks_text(doc, code=False))


def assert_well_formed(doc: ParsedDocument, raw: str) -> None:
    """Blocks tile the text in order; offsets are sorted; every block maps back to the raw."""
    text, cleaned = doc.text, doc.cleaned
    assert len(cleaned.origin) == len(text) + 1
    assert len(cleaned.origin_end) == len(text)
    assert all(a <= b for a, b in zip(cleaned.origin, cleaned.origin[1:], strict=False))
    assert cleaned.origin[-1] == len(raw)
    pos = 0
    for block in doc.blocks:
        assert pos <= block.start < block.end <= len(text), block
        gap = text[pos : block.start]
        assert not gap.strip(), f"text outside blocks: {gap!r}"
        body = text[block.start : block.end]
        lead = body.lstrip("\n") if block.kind == "code" else body  # code keeps indentation
        assert body == lead and body.rstrip() == body and body.strip(), f"untrimmed: {body!r}"
        assert "\n\n" not in body or block.kind == "code", f"blank line inside {block}"
        if block.kind == "heading":
            assert 1 <= block.level <= 6
        assert_maps_back(doc, raw, block.start, block.end, code=block.kind == "code")
        pos = block.end
    assert not text[pos:].strip()
    assert doc.title == " ".join(doc.title.split())
    assert not TAG.search(doc.title), doc.title


def assert_maps_back(
    doc: ParsedDocument, raw: str, start: int, end: int, *, code: bool = False
) -> None:
    """Every word of ``[start, end)`` is spelled, in order, inside the raw span it maps to."""
    a, b = doc.cleaned.to_raw_span(start, end)
    assert 0 <= a <= b <= len(raw)
    source = raw[a:b] if code else html.unescape(raw[a:b])  # entities in code are text
    source = unicodedata.normalize("NFKC", source).casefold()
    for word in _WORD.findall(doc.text[start:end]):
        assert _subsequence(unicodedata.normalize("NFKC", word).casefold(), source), (
            word,
            raw[a:b][:200],
        )


def _subsequence(needle: str, haystack: str) -> bool:
    it = iter(haystack)
    return all(ch in it for ch in needle)


def leaked_tags(doc: ParsedDocument, raw: str) -> list[str]:
    """Tags in prose blocks that come from markup, not from escaped text like ``&lt;T&gt;``."""
    leaks = []
    for block in doc.blocks:
        if block.kind == "code":
            continue
        body = doc.text[block.start : block.end]
        for m in TAG.finditer(body):
            a, _ = doc.cleaned.to_raw_span(block.start + m.start(), block.start + m.end())
            in_code = raw.count("`", raw.rfind("\n", 0, a) + 1, a) % 2  # `<details>` is text
            if raw[a] == "<" and not in_code:
                leaks.append(m.group())
    return leaks


def hidden_urls(raw: str) -> set[str]:
    """URLs the raw page only uses as link or image targets (never as visible text)."""
    targets = set(re.findall(r"\]\(\s*<?([a-z][\w+.-]*://[^\s)>]+)", raw))
    targets |= set(re.findall(r"(?:href|src)\s*=\s*[\"']([a-z][\w+.-]*://[^\"']+)", raw))
    targets |= set(re.findall(r"^\s*\[[^\]]+\]:\s*<?([a-z][\w+.-]*://[^\s>]+)", raw, re.M))
    hidden = set()
    for url in targets:
        written = raw.count(url)
        as_target = len(re.findall(r"(?:\]\(\s*<?|=\s*[\"']|\]:\s*<?)" + re.escape(url), raw))
        if written == as_target and len(url) > 12:
            hidden.add(url)
    return hidden
