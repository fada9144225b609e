"""Which file types reportrag reads, and the one entry point that parses any of them.

Text formats (plain text, Markdown, HTML) are decoded as UTF-8 and parsed from text; PDF and
Word files are parsed from their bytes. Every parser returns the same document model
(:class:`~reportrag.ingest.document.ParsedDocument`), so chunking, language rules and citations do
not depend on the format.
"""

from __future__ import annotations

from reportrag.errors import DocumentError
from reportrag.ingest.clean import decode_bytes
from reportrag.ingest.document import ParsedDocument, parse_document

TEXT_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm")
BINARY_SUFFIXES = (".pdf", ".docx")
SUFFIXES: tuple[str, ...] = (*TEXT_SUFFIXES, *BINARY_SUFFIXES)
# What an upload may say it is (besides application/octet-stream, which the name decides).
MEDIA_TYPES: dict[str, str] = {
    ".txt": "text/plain",
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".html": "text/html",
    ".htm": "text/html",
    ".pdf": "application/pdf",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}


def supported(suffix: str) -> bool:
    return suffix.lower() in SUFFIXES


def parse_bytes(
    data: bytes, *, suffix: str, source: str, max_bytes: int, ocr: bool = False
) -> ParsedDocument:
    """Parse a file's bytes by its type (``suffix``, e.g. ``.pdf``); ``ocr``: read a PDF
    without a text layer by OCR."""
    kind = suffix.lower()
    if kind in BINARY_SUFFIXES and len(data) > max_bytes:
        raise DocumentError(
            f"{source}: larger than {max_bytes:,} bytes ({len(data):,} bytes)",
            details={"path": source, "reason": f"larger than {max_bytes:,} bytes"},
        )
    if kind == ".pdf":
        from reportrag.ingest.pdf import parse_pdf

        return parse_pdf(data, source=source, ocr=ocr)
    if kind == ".docx":
        from reportrag.ingest.word import parse_docx

        return parse_docx(data, source=source)
    text = decode_bytes(data, source=source, max_bytes=max_bytes)
    return parse_document(text, suffix=kind, source=source)
