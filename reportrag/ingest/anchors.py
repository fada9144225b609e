"""Anchors that survive translation: numbers, Latin-script names, section numbers.

An English chunk and its Chinese translation share few words, but they share the things
translators copy: ``PingCAP``, ``LLaMA-2``, ``2023``, ``35%``, ``2.3.5``. Numbers are put in one
canonical form first, so that ``$50 million`` and ``5000 万`` (and ``1.7 万`` and ``17,000``)
become the same anchor.

:func:`extract_anchors` reads one text; :class:`AnchorIndex` turns the anchors of two
documents into idf-weighted incidence matrices, so that the anchor overlap of every pair of
chunks (or merged chunk runs) is a few matrix products.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# Latin-script tokens, with inner digits and joiners: "Yi-34B", "ChatGLM3-6B", "GPT-4", "v1.5"
_LATIN = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_.+][A-Za-z0-9]+)*")
# a number, optionally with thousands separators / decimals and a scale word or character
# a number, optionally with thousands separators / decimals and a scale word or character;
# not part of a name ("Yi-34B", "GPT-4") nor of a dotted section number ("2.3.5")
_NUMBER = re.compile(
    r"(?=\d)(?<![A-Za-z\d.,])(?<![A-Za-z][-_.+])(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?"
    r"(?:\s*(万亿|百万|千万|万|亿|千|%|％|k|thousand|million|billion|trillion))?"
    r"(?![A-Za-z\d]|[.,]\d)",
    re.IGNORECASE,
)
# "2.3.5 Heading", "## 2.3 Heading", "1. Overview", "一. 概述", "二、…" at the start of a line
_SECTION = re.compile(r"^[ \t#]*(\d{1,2}(?:\.\d{1,2}){1,3})(?=[ \t\u3000])", re.MULTILINE)
_TOP_SECTION = re.compile(
    r"^[ \t#]*(\d{1,2}|[一二三四五六七八九十]{1,3})[.、．](?=\s)", re.MULTILINE
)
_CN_DIGITS = {c: i for i, c in enumerate("零一二三四五六七八九", start=0)}

_SCALE = {
    "万亿": 1e12,
    "trillion": 1e12,
    "亿": 1e8,
    "billion": 1e9,
    "千万": 1e7,
    "百万": 1e6,
    "million": 1e6,
    "万": 1e4,
    "千": 1e3,
    "k": 1e3,
    "thousand": 1e3,
}
# bare integers below this are list markers, counts and footnote numbers: too common to anchor
MIN_BARE_INTEGER = 10
MIN_LATIN_CHARS = 2


def _cn_numeral(text: str) -> int:
    """一..九十九 as an int (enough for chapter numbers)."""
    if text == "十":
        return 10
    if "十" in text:
        tens, _, ones = text.partition("十")
        return _CN_DIGITS.get(tens, 1) * 10 + _CN_DIGITS.get(ones, 0)
    return _CN_DIGITS.get(text, 0)


def _canonical_number(whole: str, frac: str | None, unit: str | None) -> str | None:
    digits = whole.replace(",", "")
    value = float(digits + (frac or ""))
    unit_key = (unit or "").lower()
    if unit_key in ("%", "％"):
        return f"{value:g}%"
    if unit_key in _SCALE:
        value *= _SCALE[unit_key]
        # 3 significant digits: "1.07k" and "1,070" meet, rounding noise does not split them
        return f"#{float(f'{value:.3g}'):.0f}"
    if not frac and value < MIN_BARE_INTEGER:
        return None
    return f"#{value:g}" if frac else f"#{int(value)}"


def extract_anchors(text: str) -> frozenset[str]:
    """Language-neutral anchors of ``text``: ``§2.3.5``, ``#17000``, ``35%``, ``pingcap``."""
    out: set[str] = set()
    for m in _SECTION.finditer(text):
        out.add("§" + m.group(1))
    for m in _TOP_SECTION.finditer(text):
        label = m.group(1)
        out.add(f"§{int(label) if label.isdigit() else _cn_numeral(label)}")
    # Numbers first, then blank them out so that "million" in "$50 million" is not a name.
    pieces: list[str] = []
    last = 0
    for m in _NUMBER.finditer(text):
        canon = _canonical_number(m.group(1), m.group(2), m.group(3))
        if canon is not None:
            out.add(canon)
        pieces += [text[last : m.start()], " "]
        last = m.end()
    pieces.append(text[last:])
    for m in _LATIN.finditer("".join(pieces)):
        token = m.group(0).lower()
        if len(token) >= MIN_LATIN_CHARS:
            out.add(token)
    return frozenset(out)


@dataclass(frozen=True)
class AnchorIndex:
    """Idf-weighted anchor incidence of two documents, restricted to anchors both share.

    An anchor that occurs in only one document cannot witness a link (English prose words,
    Chinese-only figure numbers), so it is dropped from both sides: what remains is what
    survived translation. Rows are chunks; values are ``sqrt(idf)``, so that the product of
    two rows is the idf-weighted overlap.
    """

    src: np.ndarray  # (n, V) float32
    tgt: np.ndarray  # (m, V) float32
    vocab: tuple[str, ...]

    @classmethod
    def build(
        cls,
        src_texts: Sequence[str],
        tgt_texts: Sequence[str],
        *,
        max_df: float = 0.25,
    ) -> AnchorIndex:
        """Index the anchors shared by the two documents; ``max_df`` drops the ubiquitous."""
        src_sets = [extract_anchors(t) for t in src_texts]
        tgt_sets = [extract_anchors(t) for t in tgt_texts]
        src_df: dict[str, int] = {}
        tgt_df: dict[str, int] = {}
        for sets, df in ((src_sets, src_df), (tgt_sets, tgt_df)):
            for s in sets:
                for a in s:
                    df[a] = df.get(a, 0) + 1
        n, m = max(len(src_sets), 1), max(len(tgt_sets), 1)
        vocab = sorted(
            a
            for a in src_df.keys() & tgt_df.keys()
            if src_df[a] <= max_df * n and tgt_df[a] <= max_df * m
        )
        col = {a: k for k, a in enumerate(vocab)}
        weights = np.array(
            [math.log((n + m + 1) / (src_df[a] + tgt_df[a] + 1)) + 1.0 for a in vocab],
            dtype=np.float32,
        )
        return cls(
            src=_incidence(src_sets, col, weights),
            tgt=_incidence(tgt_sets, col, weights),
            vocab=tuple(vocab),
        )


def _incidence(sets: list[frozenset[str]], col: dict[str, int], weights: np.ndarray) -> np.ndarray:
    mat = np.zeros((len(sets), len(col)), dtype=np.float32)
    root = np.sqrt(weights)
    for i, s in enumerate(sets):
        for a in s:
            k = col.get(a)
            if k is not None:
                mat[i, k] = root[k]
    return mat


def merge_rows(mat: np.ndarray, width: int) -> np.ndarray:
    """Anchor rows of runs of ``width`` consecutive chunks (the union of their anchors)."""
    if width == 1 or len(mat) < width:
        return mat if width == 1 else mat[:0]
    out = mat[: len(mat) - width + 1].copy()
    for k in range(1, width):
        np.maximum(out, mat[k : len(mat) - width + 1 + k], out=out)
    return out


def overlap(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine of idf-weighted anchor sets for every row pair; 0 where a side has none."""
    inter = a @ b.T
    na = np.sqrt((a * a).sum(axis=1))
    nb = np.sqrt((b * b).sum(axis=1))
    denom = np.outer(na, nb)
    with np.errstate(invalid="ignore", divide="ignore"):
        sim = np.where(denom > 0, inter / np.where(denom > 0, denom, 1.0), 0.0)
    return sim.astype(np.float32)
