"""Parse a PDF's text layer into a ParsedDocument, with the page every character is on.

PDFium (pypdfium2) gives each page's text as lines, with every character's font size and
box. From those:

* **paragraphs**: a line belongs to the paragraph above unless it sits further below it than
  the document's usual line pitch, its font size differs, or the line above ended a
  sentence well short of the text column's right edge, or stopped before its middle (the
  last line of a paragraph);
* **headings**: paragraphs set larger than the body text (the size most characters have),
  up to 200 characters; the largest size is level 1;
* **running heads and page numbers**: a first or last line of a page, not set larger than
  the body text, that recurs (digits aside) on at least half the pages (3 or more), and a
  bare page number, are left out;
* **line breaks inside a paragraph** join with a space, or with nothing between two CJK
  characters (Chinese has no spaces) or after a soft hyphen.

The text the offsets point into is this extracted text layer, pages in order, paragraphs
separated by a blank line (a PDF has no character stream a reader could cite otherwise);
``ParsedDocument.page_starts`` says where each page begins in it. A PDF whose pages carry no
text (a scan) is refused: reportrag does not OCR.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from reportrag.errors import DocumentError, NoTextLayerError
from reportrag.ingest.document import ParsedDocument
from reportrag.ingest.extract import BlockText

if TYPE_CHECKING:
    from pypdfium2 import PdfPage

MAX_PAGES = 5000
HEADING_RATIO = 1.15  # a paragraph set this much larger than the body text is a heading
MAX_HEADING_CHARS = 200
_PAGE_NUMBER = re.compile(
    r"(?i)^\W*(?:page\s*)?\d{1,4}(?:\s*(?:/|of)\s*\d{1,4})?\W*$|^第\s*\d+\s*页"
)
_DIGITS = re.compile(r"\d+")
_SOFT_HYPHENS = "\x02\xad"
_SENTENCE_END = set(".!?:;。！？：；…\"'”’)）")


@dataclass
class _Line:
    text: str
    size: float
    left: float
    right: float
    top: float
    bottom: float


def parse_pdf(data: bytes, *, source: str = "", ocr: bool = False) -> ParsedDocument:
    """The document of a PDF's text layer; DocumentError for what cannot be read.

    A PDF without a text layer (a scan) is read by OCR when ``ocr`` (reportrag/ingest/ocr.py), else
    refused with NoTextLayerError.
    """
    pages = [_lines_of(page) for page in _pages(data, source)]
    if not any(line.text.strip() for lines in pages for line in lines):
        if ocr:
            return _ocr_document(data, source)
        raise NoTextLayerError(
            f"{source or 'PDF'}: no text layer (a scanned PDF?), and OCR is off or Tesseract "
            "is not installed (apt-get install tesseract-ocr tesseract-ocr-chi-sim; "
            "REPORTRAG_OCR): export the PDF with its text, or install Tesseract",
            details={"file": source, "pages": len(pages)},
        )
    body = _body_size(pages)
    _drop_running_lines(pages, body)
    pitch = _line_pitch(pages)
    out = BlockText()
    page_starts: list[int] = []
    headings: list[tuple[int, float]] = []  # segment index, font size
    for lines in pages:
        page_starts.append(out.pos)
        for para in _paragraphs(lines, pitch):
            text = _join([line.text for line in para])
            if not text.strip():
                continue
            size = max(line.size for line in para)
            heading = size >= body * HEADING_RATIO and len(text) <= MAX_HEADING_CHARS
            index = out.add("heading" if heading else "paragraph", text)
            if heading:
                headings.append((index, size))
    ranks = {s: i + 1 for i, s in enumerate(sorted({round(s) for _, s in headings}, reverse=True))}
    for index, size in headings:
        out.found.segments[index].level = min(6, ranks[round(size)])
    return out.build("pdf", page_starts=tuple(page_starts))


def _ocr_document(data: bytes, source: str) -> ParsedDocument:
    """A scanned PDF read page by page by OCR: its paragraphs, no headings (no font sizes)."""
    from reportrag.ingest import ocr

    out = BlockText()
    page_starts: list[int] = []
    for number, page in enumerate(_pages(data, source), start=1):
        page_starts.append(out.pos)
        text = ocr.read_page(page, source=source, number=number)
        for block in re.split(r"\n\s*\n", text):
            lines = [ln.strip() for ln in block.splitlines() if ln.strip()]
            if lines:
                out.add("paragraph", _join(lines))
    if not out.parts:
        raise NoTextLayerError(
            f"{source or 'PDF'}: no text layer, and OCR found no text on its pages",
            details={"file": source, "pages": len(page_starts), "ocr": True},
        )
    return out.build("pdf", page_starts=tuple(page_starts))


def _pages(data: bytes, source: str) -> Iterator[PdfPage]:
    import pypdfium2 as pdfium

    name = source or "PDF"
    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        reason = str(exc)
        if "password" in reason.lower():
            raise DocumentError(
                f"{name}: the PDF is encrypted (password protected); upload it without a password",
                details={"file": source, "reason": "encrypted"},
            ) from exc
        raise DocumentError(
            f"{name}: not a readable PDF ({reason})", details={"file": source, "reason": reason}
        ) from exc
    try:
        count = len(pdf)
        if count > MAX_PAGES:
            raise DocumentError(
                f"{name}: {count:,} pages, more than the {MAX_PAGES:,} reportrag reads",
                details={"file": source, "pages": count, "limit_pages": MAX_PAGES},
            )
        for i in range(count):
            try:
                page = pdf[i]
            except pdfium.PdfiumError as exc:
                raise DocumentError(
                    f"{name}: page {i + 1} cannot be read ({exc})", details={"file": source}
                ) from exc
            try:
                yield page
            finally:
                page.close()
    finally:
        pdf.close()


def _lines_of(page: PdfPage) -> list[_Line]:
    import pypdfium2.raw as pdfium_c

    textpage = page.get_textpage()
    try:
        text = textpage.get_text_range()
        lines: list[_Line] = []
        index = 0
        for part in re.split(r"(\r\n|\r|\n)", text):
            if part in ("\r\n", "\r", "\n"):
                index += len(part)
                continue
            stripped = part.strip()
            if stripped:
                first = index + (len(part) - len(part.lstrip()))
                last = index + len(part.rstrip()) - 1
                l0, b0, _, t0 = textpage.get_charbox(first)
                _, b1, r1, t1 = textpage.get_charbox(last)
                size = float(pdfium_c.FPDFText_GetFontSize(textpage.raw, first))
                lines.append(_Line(part, size, l0, r1, max(t0, t1), min(b0, b1)))
            index += len(part)
        return lines
    finally:
        textpage.close()


def _key(line: _Line) -> str:
    return _DIGITS.sub("#", " ".join(line.text.split())).casefold()


def _drop_running_lines(pages: list[list[_Line]], body: float) -> None:
    """Remove running heads and feet (recurring first/last lines no larger than the body
    text: a chapter heading that opens every page stays) and bare page numbers."""
    edges: Counter[str] = Counter()
    for lines in pages:
        keys = {_key(line) for line in (*lines[:2], *lines[-2:])}
        edges.update(keys)
    threshold = max(3, (len(pages) + 1) // 2)
    running = {k for k, n in edges.items() if n >= threshold}
    for lines in pages:
        keep = []
        for i, line in enumerate(lines):
            at_edge = i < 2 or i >= len(lines) - 2
            small = line.size < body * HEADING_RATIO
            if at_edge and small and (
                _key(line) in running or _PAGE_NUMBER.match(line.text.strip())
            ):
                continue
            keep.append(line)
        lines[:] = keep


def _body_size(pages: list[list[_Line]]) -> float:
    sizes: Counter[float] = Counter()
    for lines in pages:
        for line in lines:
            sizes[round(line.size, 1)] += len(line.text)
    return sizes.most_common(1)[0][0] if sizes else 0.0


def _line_pitch(pages: list[list[_Line]]) -> float:
    """The usual distance between the baselines of two lines of one paragraph (a low
    percentile of every pitch in the document: most lines follow a line of their paragraph)."""
    pitches = sorted(
        a.bottom - b.bottom
        for lines in pages
        for a, b in zip(lines, lines[1:], strict=False)
        if a.bottom - b.bottom > 0
    )
    return pitches[int(len(pitches) * 0.3)] if pitches else 0.0


def _paragraphs(lines: list[_Line], pitch: float) -> list[list[_Line]]:
    if not lines:
        return []
    right = max(line.right for line in lines)
    left = min(line.left for line in lines)
    width = max(1.0, right - left)
    short, very_short = right - 0.12 * width, left + 0.5 * width
    paras: list[list[_Line]] = [[lines[0]]]
    for prev, line in zip(lines, lines[1:], strict=False):
        step = prev.bottom - line.bottom
        new = (
            abs(line.size - prev.size) > 0.5
            or step <= 0  # the line is not below the previous one: a new column or region
            or (pitch and step > pitch * 1.4 + 0.5)
            or prev.right < very_short
            or (prev.right < short and prev.text.rstrip()[-1:] in _SENTENCE_END)
        )
        if new:
            paras.append([line])
        else:
            paras[-1].append(line)
    return paras


def _cjk(ch: str) -> bool:
    return "\u2e80" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff" or "\uff00" <= ch <= "\uffef"


def _join(lines: list[str]) -> str:
    """One paragraph from its lines: a space between words, none between CJK characters."""
    out = ""
    for line in lines:
        text = line.strip()
        if not out:
            out = text
            continue
        a, b = out[-1], text[0]
        if a in _SOFT_HYPHENS:
            out = out[:-1] + text
        elif (_cjk(a) and not b.isascii()) or (_cjk(b) and not a.isalnum()) or (
            _cjk(a) and not b.isalnum()
        ):
            out += text
        else:
            out += " " + text
    return out.translate({ord(c): None for c in _SOFT_HYPHENS})
