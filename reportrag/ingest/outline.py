"""What a parsed document's blocks say: its sections, the prose of a span, a chunk's context.

Only documents parsed from a structured format (Markdown, HTML) have blocks; plain text has
its headings found in the text (:func:`ingest.headings.find_sections`) and all of it counts
as prose.
"""

from __future__ import annotations

import bisect

from reportrag.ingest.document import PROSE_KINDS, Block, ParsedDocument
from reportrag.types import SECTION_SEP

MAX_LABEL = 80  # characters of one heading in a section path
MAX_CONTEXT = 300  # characters of a chunk's context line (title and section path)
# Table cells hold words too ("the Chinese table rows in the English report"); code never votes.
LANGUAGE_KINDS = PROSE_KINDS | {"table_row"}


def _label(text: str) -> str:
    label = " ".join(text.split())
    return label if len(label) <= MAX_LABEL else label[: MAX_LABEL - 1] + "…"


def heading_starts(parsed: ParsedDocument) -> list[tuple[int, str]]:
    """(offset, section path) at every heading block, the path built from heading levels."""
    out: list[tuple[int, str]] = []
    stack: list[tuple[int, str]] = []  # (level, label)
    for b in parsed.blocks:
        if b.kind != "heading":
            continue
        label = _label(parsed.text[b.start : b.end])
        if not label:
            continue
        level = max(1, b.level)
        while stack and stack[-1][0] >= level:
            stack.pop()  # a sibling or a shallower heading closes the deeper ones
        stack.append((level, label))
        out.append((b.start, SECTION_SEP.join(lbl for _, lbl in stack)))
    return out


class ProseIndex:
    """The language-bearing text of any span of a parsed document, found by bisection."""

    def __init__(self, parsed: ParsedDocument) -> None:
        self._text = parsed.text
        self._blocks: list[Block] = [b for b in parsed.blocks if b.kind in LANGUAGE_KINDS]
        self._starts = [b.start for b in self._blocks]
        self._structured = bool(parsed.blocks)

    def prose(self, start: int, end: int) -> str:
        """The prose and table text inside ``[start, end)`` (all of it for plain text)."""
        if not self._structured:
            return self._text[start:end]
        i = max(0, bisect.bisect_right(self._starts, start) - 1)
        parts: list[str] = []
        while i < len(self._blocks) and self._blocks[i].start < end:
            b = self._blocks[i]
            lo, hi = max(b.start, start), min(b.end, end)
            if lo < hi:
                parts.append(self._text[lo:hi])
            i += 1
        return "\n".join(parts)


def context_line(title: str, section: str) -> str:
    """"title › section path" for a chunk, without repeating a title the path starts with."""
    parts = [p for p in section.split(SECTION_SEP) if p.strip()] if section else []
    head = " ".join(title.split())
    if head and (not parts or parts[0].strip().casefold() != head.casefold()):
        parts.insert(0, _label(head))
    line = SECTION_SEP.join(p.strip() for p in parts)
    while len(line) > MAX_CONTEXT and len(parts) > 1:
        parts.pop(1)  # keep the title and the innermost headings
        line = SECTION_SEP.join(p.strip() for p in parts)
    return line[:MAX_CONTEXT]
