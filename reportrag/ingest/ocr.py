"""OCR of scanned PDF pages with Tesseract (Debian's ``tesseract-ocr`` and its language data,
all offline), for PDFs that have no text layer.

Each page is rendered by PDFium at 300 dpi and read by ``tesseract`` with every language it
has of Chinese (simplified, traditional), English and German: 99.9-100 % of the characters
of the English pages and 99.0-99.3 % of the Chinese ones of the report excerpt read back,
5-10 s a page on 2 cores (docs/api.md#uploads-and-jobs). Tesseract separates Chinese
characters with spaces; those go.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from reportrag.errors import DocumentError

if TYPE_CHECKING:
    from pypdfium2 import PdfPage

DPI = 300
PAGE_TIMEOUT_S = 120
WANTED = ("chi_sim", "chi_tra", "eng", "deu")
_CJK = "\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef\u3000-\u303f"
_CJK_SPACE = re.compile(f"(?<=[{_CJK}]) +(?=[{_CJK}])")


@functools.cache
def languages() -> tuple[str, ...]:
    """The wanted languages Tesseract has here (empty: no Tesseract, so no OCR)."""
    exe = shutil.which("tesseract")
    if exe is None:
        return ()
    try:
        out = subprocess.run([exe, "--list-langs"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return ()
    have = set(out.stdout.split()) | set(out.stderr.split())
    return tuple(lang for lang in WANTED if lang in have)


def available() -> bool:
    return bool(languages())


def read_page(page: PdfPage, *, source: str, number: int) -> str:
    """The text Tesseract reads on one rendered page (paragraphs separated by blank lines)."""
    langs = languages()
    if not langs:
        raise DocumentError(f"{source}: OCR needs Tesseract (apt-get install tesseract-ocr "
                            "tesseract-ocr-chi-sim)")
    image = page.render(scale=DPI / 72, grayscale=True).to_pil()
    with tempfile.TemporaryDirectory(prefix="reportrag-ocr-") as tmp:
        png = Path(tmp) / "page.png"
        image.save(png)
        try:
            run = subprocess.run(
                ["tesseract", str(png), "-", "-l", "+".join(langs)],
                capture_output=True, text=True, timeout=PAGE_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired as exc:
            raise DocumentError(f"{source}: OCR of page {number} took over "
                                f"{PAGE_TIMEOUT_S} s", details={"file": source}) from exc
    if run.returncode != 0:
        raise DocumentError(f"{source}: OCR of page {number} failed "
                            f"({run.stderr.strip()[:200]})", details={"file": source})
    return _CJK_SPACE.sub("", run.stdout)
