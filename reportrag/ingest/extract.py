"""Turn what a markup parser found (blocks and edits over the source) into a ParsedDocument.

A parser never rewrites text: it reports *segments* (``[start, end)`` of the source that make
one block) and *edits* (markup to delete or replace, in source offsets). Each segment is cut
out of the source buffer with its raw offsets, gets its edits and the same character steps as
plain text (``ingest.clean``), and the blocks are joined with a blank line between them. Code
keeps its characters: only line ends and invisible characters are touched there.
"""

from __future__ import annotations

import html
import re
from array import array
from collections.abc import Iterable
from dataclasses import dataclass

from reportrag.ingest.clean import (
    Buffer,
    CleanedText,
    Edit,
    invisible_edits,
    nfkc_edits,
    space_edits,
)
from reportrag.ingest.document import Block, BlockKind, DocumentFormat, ParsedDocument

_DATA_URI = re.compile(r"data:[A-Za-z]+/[\w.+-]+(?:;[\w.+-]+(?:=[\w.+-]*)?)*,[^\s\"'()<>]*")
# Template directives of static site generators (Hugo shortcodes, Jinja/Liquid tags): the
# reader sees what they render, never the directive. Bounded classes keep the scan linear.
_TEMPLATE = re.compile(r"\{\{[<%][^{}\n]*[%>]\}\}|\{%[^{}\n]*%\}")
_TAG = re.compile(r"<[^<>]*>")
_NEWLINE = re.compile(r"\n")


@dataclass
class Segment:
    """One block as found in the source: ``[start, end)`` in source offsets."""

    kind: BlockKind
    start: int
    end: int
    level: int = 0
    label: str = ""  # plain text, kept for headings and short paragraphs (contents checks)


class Extraction:
    """Segments and edits a parser collects over one source text."""

    def __init__(self) -> None:
        self.segments: list[Segment] = []
        self.edits: list[Edit] = []
        self.dropped: list[tuple[int, int, str]] = []  # source spans dropped whole, with why

    def delete(self, start: int, end: int, reason: str = "") -> None:
        """Drop ``[start, end)`` of the source; a reason is recorded in ``removed``."""
        if end > start:
            self.edits.append((start, end, "", ""))
            if reason:
                self.dropped.append((start, end, reason))

    def replace(self, start: int, end: int, text: str) -> None:
        """Show ``text`` instead of ``[start, end)`` of the source."""
        if end > start:
            self.edits.append((start, end, text, ""))

    def add(self, kind: BlockKind, start: int, end: int, level: int = 0, label: str = "") -> None:
        """Record a block."""
        if end > start:
            self.segments.append(Segment(kind, start, end, level, label))

    def drop_segments(self, first: int, reason: str) -> None:
        """Forget the segments from index ``first`` on (a contents list, a navigation row)."""
        gone = self.segments[first:]
        del self.segments[first:]
        if gone:
            self.dropped.append((gone[0].start, gone[-1].end, reason))


def assemble(
    src: Buffer,
    raw: str,
    found: Extraction,
    *,
    fmt: DocumentFormat,
    title: str = "",
) -> ParsedDocument:
    """Build the document: cut, edit and clean every segment, then join the blocks."""
    text_parts: list[str] = []
    starts, ends = array("q"), array("q")
    blocks: list[Block] = []
    removed = list(src.removed)  # what the source's own steps dropped (invisible characters)
    removed += [(src.starts[a], src.ends[b - 1], why) for a, b, why in found.dropped if b > a]
    pos = 0
    for seg, edits in _segments_with_edits(found.segments, _normalized(found.edits)):
        part = src.slice(seg.start, seg.end)
        if edits:
            part.apply((a - seg.start, b - seg.start, rep, why) for a, b, rep, why in edits)
        _clean_block(part, seg.kind)
        removed.extend(part.removed)
        if not part.text.strip():
            continue
        if text_parts:  # the blank line between blocks points at the gap between them
            text_parts.append("\n\n")
            starts.extend([ends[-1]] * 2)
            ends.extend([part.starts[0]] * 2)
            pos += 2
        text_parts.append(part.text)
        starts.extend(part.starts)
        ends.extend(part.ends)
        blocks.append(Block(seg.kind, pos, pos + len(part.text), seg.level))
        pos += len(part.text)
    starts.append(len(raw))
    cleaned = CleanedText("".join(text_parts), starts, _outermost(removed), ends)
    if not title:  # the parser's title is already plain text; else the first heading's
        heading = next((b for b in blocks if b.kind == "heading"), None)
        title = cleaned.text[heading.start : heading.end] if heading else ""
    return ParsedDocument(cleaned, tuple(blocks), " ".join(title.split()), fmt)


class BlockText:
    """The text of a format read block by block (PDF, DOCX): blocks joined by a blank line
    make the source text that the document's offsets point into."""

    def __init__(self) -> None:
        self.found = Extraction()
        self.parts: list[str] = []
        self.pos = 0  # the source length so far

    def add(self, kind: BlockKind, text: str, level: int = 0) -> int:
        """Append a block; its segment's index (a caller may set its level later)."""
        if self.parts:
            self.parts.append("\n\n")
            self.pos += 2
        self.found.add(kind, self.pos, self.pos + len(text), level)
        self.parts.append(text)
        self.pos += len(text)
        return len(self.found.segments) - 1

    def build(
        self, fmt: DocumentFormat, *, title: str = "", page_starts: tuple[int, ...] = ()
    ) -> ParsedDocument:
        """The document: each block cleaned as plain text is (invisible characters too)."""
        raw = "".join(self.parts)
        src = Buffer(raw)
        src.apply(invisible_edits(src.text))
        doc = assemble(src, raw, self.found, fmt=fmt, title=title)
        return ParsedDocument(doc.cleaned, doc.blocks, doc.title, fmt, page_starts)


def _clean_block(part: Buffer, kind: BlockKind) -> None:
    """The character steps of plain text, each run only where it can change something."""
    text = part.text
    if "data:" in text:
        part.apply(_pattern_edits(_DATA_URI, text, "data-uri"))
    if kind == "code":
        part.apply(_code_edits(part.text))
        return
    if "{" in part.text:
        part.apply(_pattern_edits(_TEMPLATE, part.text, "template"))
    if not part.text.isascii():
        part.apply(nfkc_edits(part.text))
    text = part.text
    if text[:1].isspace() or text[-1:].isspace():
        part.apply(_strip_edits(text))
    if "\n" in part.text:
        part.apply(_line_break_edits(part.text))
    if "  " in part.text or "\t" in part.text:
        part.apply(space_edits(part.text))


def plain_text(text: str) -> str:
    """One line of reader text from a title-like string: tags, entities and spacing resolved."""
    buf = Buffer(html.unescape(_TAG.sub(" ", text)))
    for step in (invisible_edits, nfkc_edits):
        buf.apply(step(buf.text))
    return " ".join(buf.text.split())


def _outermost(spans: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Sorted spans, without those inside an earlier one (a badge inside a dropped menu)."""
    out: list[tuple[int, int, str]] = []
    for span in sorted(spans, key=lambda s: (s[0], -s[1])):
        if not out or span[1] > out[-1][1]:
            out.append(span)
    return out


def _normalized(edits: list[Edit]) -> list[Edit]:
    """Sorted, non-overlapping edits: an edit inside another goes, overlapping drops merge."""
    out: list[Edit] = []
    for a, b, rep, why in sorted(edits, key=lambda e: (e[0], -e[1])):
        if out and a < out[-1][1]:
            pa, pb, prep, pwhy = out[-1]
            if b <= pb:
                continue  # inside an earlier edit (a tag inside a dropped element)
            if not rep and not prep:
                out[-1] = (pa, b, "", pwhy or why)
                continue
            if rep:  # a replacement wins over the tail of a deletion it overlaps
                if prep:
                    continue
                out[-1] = (pa, a, "", pwhy)
            else:
                a = pb
        out.append((a, b, rep, why))
    return [e for e in out if e[1] > e[0] or e[2]]


def _segments_with_edits(
    segments: list[Segment], edits: list[Edit]
) -> Iterable[tuple[Segment, list[Edit]]]:
    """Each segment (in order, overlaps clipped) with the edits inside it, clipped to it."""
    i = 0
    last_end = 0
    for seg in sorted(segments, key=lambda s: s.start):
        start = max(seg.start, last_end)
        if start >= seg.end:
            continue
        seg = Segment(seg.kind, start, seg.end, seg.level, seg.label)
        last_end = seg.end
        while i < len(edits) and edits[i][1] <= start:
            i += 1
        inside: list[Edit] = []
        j = i
        while j < len(edits) and edits[j][0] < seg.end:
            a, b, rep, why = edits[j]
            j += 1
            if b <= start and a < b:
                continue
            if rep and a < start:  # its text belongs to the block before
                inside.append((start, min(b, seg.end), "", why))
            elif rep:
                inside.append((a, min(b, seg.end), rep, why))
            else:
                inside.append((max(a, start), min(b, seg.end), "", why))
        yield seg, inside


def _pattern_edits(pattern: re.Pattern[str], text: str, reason: str) -> Iterable[Edit]:
    for m in pattern.finditer(text):
        yield m.start(), m.end(), "", reason


def _strip_edits(text: str) -> Iterable[Edit]:
    """A block starts and ends with a visible character."""
    lead = len(text) - len(text.lstrip())
    tail = len(text.rstrip())
    if lead:
        yield 0, lead, "", ""
    if tail < len(text) and tail > lead:
        yield tail, len(text), "", ""


def _line_break_edits(text: str) -> Iterable[Edit]:
    """No blank line and no indentation inside a prose block: blank lines separate blocks."""
    for m in re.finditer(r"\n\s*", text):
        a = _blank_run_start(text, m.start())
        if a < m.start() or m.end() - m.start() > 1:
            yield a, m.end(), "\n", ""


def _blank_run_start(text: str, end: int) -> int:
    """Where the spaces and tabs just before ``end`` start (a scan back, not a regex)."""
    a = end
    while a > 0 and text[a - 1] in " \t":
        a -= 1
    return a


def _code_edits(text: str) -> Iterable[Edit]:
    """Code keeps its characters; only trailing blanks and surrounding blank lines go."""
    lead_end = 0
    for m in re.finditer(r"\n", text):
        if text[lead_end : m.start()].strip(" \t"):
            break
        lead_end = m.end()
    tail = len(text.rstrip())
    if lead_end:
        yield 0, lead_end, "", ""
    for m in _NEWLINE.finditer(text, lead_end):
        a = _blank_run_start(text, m.start())
        if a < m.start() and m.start() < tail:
            yield max(a, lead_end), m.start(), "", ""
    if lead_end <= tail < len(text):
        yield tail, len(text), "", ""
