"""Build the format fixtures from passages of the report corpus, with real writers.

    .venv/bin/python tests/data/formats/make.py

* ``report-excerpt.pdf``: an HTML page of English and Chinese passages (one edition per page)
  printed by headless Chromium (Skia's PDF backend, Noto CJK fonts), 4 pages;
* ``report-excerpt.docx``: the same passages written by python-docx (title, headings,
  paragraphs, one table, a page break before each section);
* ``report-excerpt.html``: the HTML page itself;
* ``report-excerpt-scan.pdf``: a scan of the PDF: its pages rendered by PDFium at 150 dpi
  (grayscale) and printed by Chromium as images, one a page, with no text layer (OCR test).

The passages are taken verbatim from ``corpus/`` (the Open-source Annual Report 2023, English
and Chinese editions; see corpus/README.md for its source and license). The tests ask
questions whose answers lie on a known page (``PAGES`` below).
"""

from __future__ import annotations

import html
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
CORPUS = HERE.parents[2] / "corpus"
EN = CORPUS / "000_a4d6d44b88908d33.txt"
ZH = CORPUS / "001_01d7e7f86c812082.txt"

# (page heading, file, the first words of each paragraph taken from that file)
PAGES: list[tuple[str, Path, list[str]]] = [
    ("1 The power of the open-source ecosystem", EN, [
        "The power of the open-source ecosystem has played",
        "Since Princeton University published ImageNET in 2009",
        "With the ChatGPT LLM popularity",
    ]),
    ("2 开源生态的力量", ZH, [
        "广大用户对于 AI 的热情迅速攀升",
        "伴随着 AI 热度的不断增长",
        "预训练模型能取得如此巨大的进步",
    ]),
    ("3 The technical architecture of LLMs", EN, [
        "Closed-source LLM represented by OpenAI ChatGPT4",
        "The technical architecture of the LLM is divided",
    ]),
    ("4 大模型的技术架构", ZH, [
        "自 2009 年普林斯顿大学发表 ImageNET",
        "随着 ChatGPT 引爆大模型的热潮",
    ]),
]
TABLE = [("Layer", "What open source contributes"),
         ("Model layer", "open base models and their weights"),
         ("Developer tools layer", "frameworks for training, fine-tuning and serving"),
         ("Application layer", "assistants and agents built on open models")]
TITLE = "Open Source and Large Models (report excerpt)"


def paragraphs(path: Path, starts: list[str]) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    out = []
    for start in starts:
        found = [ln.strip() for ln in lines if ln.strip().startswith(start)]
        if not found:
            sys.exit(f"no paragraph of {path.name} starts with {start!r}")
        out.append(found[0])
    return out


def page_html() -> str:
    parts = [f"<h1>{html.escape(TITLE)}</h1>"]
    for i, (heading, path, starts) in enumerate(PAGES):
        style = ' style="break-before: page"' if i else ""
        parts.append(f"<section{style}><h2>{html.escape(heading)}</h2>")
        parts += [f"<p>{html.escape(p)}</p>" for p in paragraphs(path, starts)]
        if i == 2:
            rows = "".join(
                "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
                for row in TABLE
            )
            parts.append(f"<table>{rows}</table>")
        parts.append("</section>")
    body = "\n".join(parts)
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(TITLE)}</title>"
        "<style>body{font-family:'Noto Serif CJK SC',serif;font-size:12pt;line-height:1.5}"
        "h1{font-size:22pt}h2{font-size:16pt}td{border:1px solid #999;padding:4px}</style>"
        f"</head><body>\n{body}\n</body></html>\n"
    )


def write_pdf(source: Path, out: Path) -> None:
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
             f"--user-data-dir={profile}", f"--print-to-pdf={out}", source.as_uri()],
            check=True, capture_output=True, timeout=120,
        )


def write_docx(out: Path) -> None:
    import docx

    doc = docx.Document()
    doc.core_properties.title = TITLE
    doc.add_heading(TITLE, level=0)
    for i, (heading, path, starts) in enumerate(PAGES):
        if i:
            doc.add_page_break()  # one section a page, as in the PDF
        doc.add_heading(heading, level=1)
        for p in paragraphs(path, starts):
            doc.add_paragraph(p)
        if i == 2:
            table = doc.add_table(rows=0, cols=2)
            for row in TABLE:
                cells = table.add_row().cells
                cells[0].text, cells[1].text = row
    doc.save(str(out))


def write_scan(pdf_path: Path, out: Path) -> None:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(pdf_path.read_bytes())
    with tempfile.TemporaryDirectory() as tmp:
        imgs = []
        for i in range(len(pdf)):
            png = Path(tmp) / f"page-{i + 1}.png"
            pdf[i].render(scale=150 / 72, grayscale=True).to_pil().save(png, optimize=True)
            imgs.append(f'<img src="{png.name}" style="display:block;width:100%;'
                        f'height:100vh;object-fit:contain">')
        page = Path(tmp) / "scan.html"
        page.write_text(
            "<!doctype html><html><head><meta charset='utf-8'><style>@page{margin:0}"
            "body{margin:0}</style></head><body>" + "".join(imgs) + "</body></html>",
            encoding="utf-8",
        )
        write_pdf(page, out)


def main() -> None:
    page = HERE / "report-excerpt.html"
    page.write_text(page_html(), encoding="utf-8")
    write_pdf(page, HERE / "report-excerpt.pdf")
    write_docx(HERE / "report-excerpt.docx")
    write_scan(HERE / "report-excerpt.pdf", HERE / "report-excerpt-scan.pdf")
    print("wrote", *(p.name for p in sorted(HERE.glob("report-excerpt.*"))))


if __name__ == "__main__":
    main()
