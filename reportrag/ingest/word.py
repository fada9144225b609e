"""Parse a Word document (.docx) into a ParsedDocument with python-docx.

The body is read in order: paragraphs styled ``Title`` or ``Heading N`` are headings (level 1
and N), list paragraphs (a list style or numbering) are list items, quote styles are quotes,
every other paragraph with text is a paragraph, and each table row is one ``table_row``
block, its cells joined with `` | `` (a merged cell once). Explicit page breaks (and the page
breaks Word records when it last laid the document out) number the pages; a document
without any has no page numbers.

The text the offsets point into is the document's text as read this way, blocks separated by
a blank line. A .docx is a ZIP archive: one that would expand past :data:`MAX_EXPANDED_BYTES`
or by more than :data:`MAX_RATIO` times is refused before anything is decompressed.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from typing import TYPE_CHECKING

from reportrag.errors import DocumentError
from reportrag.ingest.document import BlockKind, ParsedDocument
from reportrag.ingest.extract import BlockText

if TYPE_CHECKING:
    from docx.document import Document
    from docx.text.paragraph import Paragraph
    from lxml.etree import _Element

MAX_EXPANDED_BYTES = 256 * 1024 * 1024
MAX_RATIO = 200
_HEADING = re.compile(r"(?i)^heading\s*(\d)$")
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def check_archive(data: bytes, *, source: str) -> None:
    """Refuse what is not a ZIP, or would expand too far (a zip bomb), before reading it."""
    name = source or "DOCX"
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, ValueError, EOFError) as exc:
        raise DocumentError(
            f"{name}: not a .docx file (not a ZIP archive; an encrypted or old .doc file?)",
            details={"file": source, "reason": "not a zip archive"},
        ) from exc
    expanded = sum(m.file_size for m in members)
    packed = max(1, sum(m.compress_size for m in members))
    if expanded > MAX_EXPANDED_BYTES or expanded > MAX_RATIO * max(packed, 64 * 1024):
        raise DocumentError(
            f"{name}: expands to {expanded:,} bytes from {len(data):,}: refused as a zip bomb",
            details={"file": source, "expanded_bytes": expanded, "limit_bytes": MAX_EXPANDED_BYTES},
        )
    if "word/document.xml" not in {m.filename for m in members}:
        raise DocumentError(
            f"{name}: not a Word document (no word/document.xml)",
            details={"file": source, "reason": "no word/document.xml"},
        )


def parse_docx(data: bytes, *, source: str = "") -> ParsedDocument:
    """The document of a .docx file; DocumentError for what cannot be read."""
    check_archive(data, source=source)
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise DocumentError(
            f"{source or 'DOCX'}: not a readable Word document ({exc})", details={"file": source}
        ) from exc
    except Exception as exc:  # lxml's XMLSyntaxError and kin: the XML inside is broken
        raise DocumentError(
            f"{source or 'DOCX'}: the document's XML cannot be read ({type(exc).__name__})",
            details={"file": source},
        ) from exc
    out = BlockText()
    page_starts: list[int] = [0]
    title = (document.core_properties.title or "").strip()
    for kind, level, text, page_break in _blocks(document):
        if page_break and out.parts:
            page_starts.append(out.pos + 2)
        text = text.strip()
        if text:
            out.add(kind, text, level)
    pages = tuple(p for p in page_starts if p < out.pos) if len(page_starts) > 1 else ()
    return out.build("docx", title=title, page_starts=pages)


def _blocks(document: Document) -> Iterator[tuple[BlockKind, int, str, bool]]:
    """(kind, level, text, starts a new page) for each paragraph and table row, in order."""
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    for element in document.element.body.iterchildren():
        if element.tag == f"{_W}p":
            paragraph = Paragraph(element, document)
            kind, level = _paragraph_kind(paragraph)
            yield kind, level, paragraph.text, _breaks_page(element)
        elif element.tag == f"{_W}tbl":
            for row in Table(element, document).rows:
                cells: list[str] = []
                for cell in row.cells:
                    text = " ".join(cell.text.split())
                    if text and (not cells or cells[-1] != text):  # a merged cell once
                        cells.append(text)
                yield "table_row", 0, " | ".join(cells), _breaks_page(row._tr)


def _paragraph_kind(paragraph: Paragraph) -> tuple[BlockKind, int]:
    style = (paragraph.style.name if paragraph.style is not None else "") or ""
    if style.lower() == "title":
        return "heading", 1
    m = _HEADING.match(style)
    if m:
        return "heading", max(1, min(6, int(m.group(1))))
    if "quote" in style.lower():
        return "quote", 0
    numbered = paragraph._p.pPr is not None and paragraph._p.pPr.numPr is not None
    if style.lower().startswith("list") or numbered:
        return "list_item", 0
    return "paragraph", 0


def _breaks_page(element: _Element) -> bool:
    """Whether a page break (explicit, or as Word last laid it out) comes before this text."""
    for node in element.iter(f"{_W}br", f"{_W}lastRenderedPageBreak", f"{_W}pageBreakBefore"):
        if node.tag != f"{_W}br" or node.get(f"{_W}type") == "page":
            return True
    return False
