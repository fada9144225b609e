"""Readable ids: a document's default id from its file name (one rule for every layer)."""

from __future__ import annotations

import unicodedata
from pathlib import Path

from reportrag.langid import is_cjk_char

MAX_ID = 128
# What a document or chunk id we accept may look like, in every layer (HTTP paths, filters,
# MCP arguments).
ID_PATTERN = rf"^[A-Za-z0-9][A-Za-z0-9._:-]{{0,{MAX_ID - 1}}}$"
# A document's own id (the manifest's, an upload's): no ':', which separates a chunk id's parts.
DOC_ID_PATTERN = rf"^[A-Za-z0-9][A-Za-z0-9._-]{{0,{MAX_ID - 1}}}$"


def slug(text: str) -> str:
    """Lower-case ASCII words joined by '-': letters of any script transliterated.

    Each Han, Kana or Hangul character is a word of its own ("开源报告" → "kai-yuan-bao-gao"),
    accents are dropped ("Über Ölpreise" → "uber-olpreise"), anything else separates words.
    """
    from anyascii import anyascii

    words: list[str] = []
    current: list[str] = []
    for ch in unicodedata.normalize("NFC", text):
        if ch.isascii():
            ascii_ = ch
        elif is_cjk_char(ch):
            words.append("".join(current))
            current = []
            words.append(anyascii(ch))
            continue
        else:
            ascii_ = anyascii(ch)
        for c in ascii_:
            if c.isalnum() or c in "._":
                current.append(c)
            else:
                words.append("".join(current))
                current = []
    words.append("".join(current))
    joined = "-".join(w.strip("._").lower() for w in words if w.strip("._"))
    return joined[:MAX_ID].rstrip("-._")


def default_doc_id(path: Path) -> str:
    """A readable doc id from a file name (``doc`` when nothing readable is left)."""
    return slug(path.stem) or "doc"
