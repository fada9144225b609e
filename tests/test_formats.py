"""PDF and Word files into the document model: pages, headings, tables, CJK lines, and the
files that must be refused (real writers' files from tests/data/formats, hand-built PDFs)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from reportrag.errors import DocumentError, NoTextLayerError
from reportrag.ingest.document import ParsedDocument
from reportrag.ingest.formats import SUFFIXES, parse_bytes
from reportrag.ingest.pdf import parse_pdf
from reportrag.ingest.word import parse_docx
from tests import pdfs

FORMATS = Path(__file__).parent / "data" / "formats"
TITLE = "Open Source and Large Models (report excerpt)"
# A passage of each page of the fixtures (tests/data/formats/make.py puts one section a page).
ON_PAGE = {
    1: "Since Princeton University published ImageNET in 2009",
    2: "全球 AI 的市场规模年复合增长率达 23%",
    3: "The technical architecture of the LLM is divided into three main layers",
    4: "2017 年,在 Arxiv 上 AI 机器学习论文已达 2.5 万余篇",
}


def _page_of(doc: ParsedDocument, passage: str) -> int:
    at = doc.text.find(passage)
    assert at >= 0, f"{passage!r} is not in the text"
    return doc.page_at(doc.cleaned.to_raw_span(at, at + len(passage))[0])


@pytest.mark.parametrize("name", ["report-excerpt.pdf", "report-excerpt.docx"])
def test_a_real_file_keeps_its_pages_headings_and_whole_cjk_sentences(name: str) -> None:
    doc = parse_bytes((FORMATS / name).read_bytes(), suffix=Path(name).suffix, source=name,
                      max_bytes=2**25)
    assert doc.title == TITLE
    assert len(doc.page_starts) == 4
    for page, passage in ON_PAGE.items():  # Chinese lines joined without a space or break
        assert _page_of(doc, passage) == page
    headings = [doc.text[b.start : b.end] for b in doc.blocks if b.kind == "heading"]
    assert headings[0] == TITLE
    assert "3 The technical architecture of LLMs" in headings
    assert "2 开源生态的力量" in headings
    levels = {doc.text[b.start : b.end]: b.level for b in doc.blocks if b.kind == "heading"}
    assert levels[TITLE] == 1 and levels["4 大模型的技术架构"] >= 1


def test_word_tables_are_rows_of_cells() -> None:
    doc = parse_docx((FORMATS / "report-excerpt.docx").read_bytes(), source="x.docx")
    rows = [doc.text[b.start : b.end] for b in doc.blocks if b.kind == "table_row"]
    assert rows[1] == "Model layer | open base models and their weights"
    assert len(rows) == 4


def test_running_heads_and_page_numbers_go_and_chapter_headings_stay() -> None:
    topics = ["licences", "foundations", "governance", "funding"]
    pages = [
        [
            (72, 750, 9, "ACME Open Source Report 2024"),  # running head
            (72, 700, 18, f"Chapter {i + 1}"),  # a heading opening every page
            (72, 670, 11, f"Body text of page {i + 1} talks about {t} and"),
            (72, 656, 11, f"how projects wrap a sentence about {t} here."),
            (72, 620, 11, f"Then a paragraph on {t} alone."),
            (300, 40, 9, f"Page {i + 1} of 4"),  # running foot
        ]
        for i, t in enumerate(topics)
    ]
    doc = parse_pdf(pdfs.text_pdf(pages), source="report.pdf")
    assert "ACME" not in doc.text and "of 4" not in doc.text
    blocks = [(b.kind, doc.text[b.start : b.end]) for b in doc.blocks]
    assert blocks[:3] == [
        ("heading", "Chapter 1"),
        ("paragraph", "Body text of page 1 talks about licences and how projects wrap a "
                      "sentence about licences here."),
        ("paragraph", "Then a paragraph on licences alone."),
    ]
    assert [_page_of(doc, f"Chapter {i}") for i in range(1, 5)] == [1, 2, 3, 4]


@pytest.mark.parametrize(
    ("make", "error", "says"),
    [
        (pdfs.encrypted_pdf, DocumentError, "encrypted"),
        (pdfs.self_referencing_pdf, DocumentError, "page 1 cannot be read"),
        (pdfs.drawing_only_pdf, NoTextLayerError, "no text layer"),
        (lambda: b"%PDF-1.7\nnot really", DocumentError, "not a readable PDF"),
        (lambda: b"", DocumentError, "not a readable PDF"),
    ],
)
def test_pdfs_that_cannot_be_read_are_refused_with_the_reason(make, error, says) -> None:
    with pytest.raises(error, match=says):
        parse_pdf(make(), source="x.pdf")


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (_zip({"word/document.xml": b"\0" * (40 * 2**20)}), "zip bomb"),  # 40 MiB of zeros
        (b"PK\x03\x04 not a zip", "not a .docx"),
        (b"\xd0\xcf\x11\xe0 an old .doc or an encrypted one", "not a .docx"),
        (_zip({"mimetype": b"x"}), "no word/document.xml"),
        (_zip({"word/document.xml": b"<x", "[Content_Types].xml": b"<x/>"}), "cannot be read"),
    ],
)
def test_word_files_that_cannot_be_read_are_refused(data: bytes, says: str) -> None:
    with pytest.raises(DocumentError, match=says):
        parse_docx(data, source="x.docx")


def test_every_supported_suffix_parses_through_one_entry_point() -> None:
    assert {".txt", ".md", ".html", ".pdf", ".docx"} <= set(SUFFIXES)
    doc = parse_bytes(b"# Title\n\nSome text.", suffix=".md", source="a.md",
                      max_bytes=1000)
    assert doc.title == "Title" and doc.page_starts == () and doc.page_at(5) == 0
    with pytest.raises(DocumentError, match="larger than"):
        parse_bytes(b"%PDF" + b"0" * 2000, suffix=".pdf", source="a.pdf", max_bytes=1000)


def need_ocr() -> None:
    """Skip without Tesseract, unless REPORTRAG_REQUIRE_OCR=1 (scripts/test.sh): then fail."""
    import os

    from reportrag.ingest import ocr

    if ocr.available() and "chi_sim" in ocr.languages():
        return
    msg = "OCR tests need Tesseract with chi_sim: run scripts/ocr-setup.sh"
    if os.environ.get("REPORTRAG_REQUIRE_OCR") == "1":
        pytest.fail(msg)
    pytest.skip(msg)


@pytest.mark.slow
def test_a_scanned_pdf_is_read_by_ocr_with_its_pages() -> None:
    need_ocr()
    data = (FORMATS / "report-excerpt-scan.pdf").read_bytes()
    with pytest.raises(NoTextLayerError, match="no text layer"):
        parse_pdf(data, source="scan.pdf")  # OCR off: refused, by name
    doc = parse_pdf(data, source="scan.pdf", ocr=True)
    assert len(doc.page_starts) == 4
    for page, passage in ON_PAGE.items():  # English and Chinese read back exactly
        assert _page_of(doc, passage) == page
    assert doc.text.startswith(TITLE)
    with pytest.raises(NoTextLayerError, match="OCR found no text"):
        parse_pdf(pdfs.drawing_only_pdf(), source="blank.pdf", ocr=True)


def test_no_chunk_spans_two_pages() -> None:
    from reportrag.ingest.chunking import chunk_document
    from reportrag.types import DocumentMeta

    data = (FORMATS / "report-excerpt.pdf").read_bytes()
    doc = parse_pdf(data, source="r.pdf")
    meta = DocumentMeta(doc_id="r", path="r.pdf", title=TITLE, lang="en")
    chunks = chunk_document(meta, doc, count_tokens=lambda t: len(t) // 3 + 2, max_tokens=400,
                            overlap_tokens=40)
    assert [c.page for c in chunks] == sorted(c.page for c in chunks)
    assert {c.page for c in chunks} == {1, 2, 3, 4}
    for c in chunks:
        assert doc.page_at(c.char_end - 1) == c.page, (c.page, c.text[:60])
