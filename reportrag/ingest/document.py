"""The document model every format is parsed into: cleaned text, its blocks, its title.

A parser turns a file's decoded text into a :class:`ParsedDocument`: the text a reader sees
(markup removed, Unicode and whitespace normalised) with the exact raw offset of every
character (:class:`~ingest.clean.CleanedText`), cut into :class:`Block` s that say what each
part is. Chunking follows the blocks (headings open sections, code stays code) and language
identification reads only the prose blocks.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Literal

from reportrag.ingest.clean import CleanedText, clean_text

DocumentFormat = Literal["text", "markdown", "html", "pdf", "docx"]
BlockKind = Literal["heading", "paragraph", "list_item", "table_row", "code", "quote"]
PROSE_KINDS: frozenset[str] = frozenset({"heading", "paragraph", "list_item", "quote"})


@dataclass(frozen=True)
class Block:
    """One block of a parsed document: ``[start, end)`` in the cleaned text."""

    kind: BlockKind
    start: int
    end: int
    level: int = 0  # heading level (1-6); nesting depth of a list item (0 = top level)


@dataclass(frozen=True)
class ParsedDocument:
    """A document as a reader sees it, with where each part came from.

    ``blocks`` are in text order and do not overlap; every non-blank character of the text
    lies in exactly one block. A plain-text document may have no blocks at all: its headings
    are then found in the text itself (``reportrag.ingest.headings.find_sections``).
    """

    cleaned: CleanedText
    blocks: tuple[Block, ...] = ()
    title: str = ""  # the document's own title (first heading, front matter), plain text
    format: DocumentFormat = "text"
    # Where each page begins, as offsets into the source text (PDF: its text layer): page
    # ``n`` holds the source offsets from ``page_starts[n-1]`` on. Empty: no pages.
    page_starts: tuple[int, ...] = ()

    @property
    def text(self) -> str:
        return self.cleaned.text

    def page_at(self, raw_offset: int) -> int:
        """The page (1-based) of a source offset; 0 when the document has no pages."""
        return bisect.bisect_right(self.page_starts, raw_offset) if self.page_starts else 0


def parse_document(raw: str, *, suffix: str, source: str = "") -> ParsedDocument:
    """Parse decoded text by file type: Markdown, HTML, or plain text (cleaned as before)."""
    kind = suffix.lower().lstrip(".")
    if kind in ("md", "markdown"):
        from reportrag.ingest.markdown import parse_markdown  # the parsers import this module

        return parse_markdown(raw, source=source)
    if kind in ("html", "htm"):
        from reportrag.ingest.html import parse_html

        return parse_html(raw, source=source)
    return ParsedDocument(clean_text(raw, source=source))
