"""Parse a whole HTML page into a ParsedDocument: what a reader of the page sees, by block.

``<head>`` and page chrome (nav, header, footer, aside, forms, buttons) go with scripts,
styles, SVG and comments; headings, paragraphs, list items, table rows (cells joined with
`` | ``), ``<pre>`` code and quotes become blocks. The title is the page's ``<title>``, or its
first ``<h1>`` when the ``<title>`` is that heading plus a site name ("Foo - Site").
"""

from __future__ import annotations

from reportrag.errors import DocumentError
from reportrag.ingest.clean import Buffer, invisible_edits
from reportrag.ingest.document import ParsedDocument
from reportrag.ingest.extract import Extraction, assemble, plain_text
from reportrag.ingest.htmlwalk import HtmlWalker


def parse_html(raw: str, *, source: str = "") -> ParsedDocument:
    """Parse an HTML page; every cleaned character keeps its raw offset."""
    if not isinstance(raw, str):
        raise DocumentError(f"{source or 'input'}: expected decoded text, got {type(raw).__name__}")
    src = Buffer(raw)
    src.apply(invisible_edits(src.text))  # line ends and invisible characters, as in plain text
    found = Extraction()
    walker = HtmlWalker(src.text, found, page=True)
    walker.walk()
    doc = assemble(src, raw, found, fmt="html")
    title = plain_text("".join(walker.title))
    h1 = next((b for b in doc.blocks if b.kind == "heading" and b.level == 1), None)
    h1_text = " ".join(doc.text[h1.start : h1.end].split()) if h1 else ""
    if h1_text and (not title or h1_text.casefold() in title.casefold()):
        title = h1_text  # "<title>Foo - Site</title>" and "<h1>Foo</h1>": the page is "Foo"
    return ParsedDocument(doc.cleaned, doc.blocks, title or doc.title, "html")
