"""Headings: where a plain text's sections begin, and the section paths they give.

A heading is a Markdown ``#`` line, a decimal number (``2.3.5 …``) or a Chinese numeral
(``二.``, ``（二）``) followed by a short title; numbering must continue the document's
outline, and runs of ``1.``, ``2.``, ``3.`` lines are lists, not headings. Figure and table
captions never open a section.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from reportrag.types import SECTION_SEP

PATH_SEP = SECTION_SEP
_MAX_LABEL = 80
HAN = r"\u3400-\u9fff\uf900-\ufaff"


@dataclass(frozen=True)
class Section:
    """A span of the cleaned text under one heading; ``path`` lists the heading and its parents."""

    start: int
    end: int
    path: str


_MARKDOWN = re.compile(r"(#{1,6})[ \t]+(\S.*?)(?:[ \t]+#+)?")
_DECIMAL = re.compile(rf"(\d{{1,2}}(?:\.\d{{1,2}}){{0,4}})\.?(?:[ \t]+|(?=[{HAN}]))(\S.*)")
_ZH_NUMERAL = "一二三四五六七八九十"
_ZH_TOP = re.compile(rf"([{_ZH_NUMERAL}]{{1,3}})[ \t]*[.、．][ \t]*(\S.*)")
_ZH_SUB = re.compile(rf"[（(]([{_ZH_NUMERAL}]{{1,3}})[）)][ \t]*(\S.*)")
_CAPTION = re.compile(r"(?:图|表|Figure|Fig\.|Table|Exhibit|Chart)[ \t]*\d+(?:[.\-–]\d+)*(?!\d)")
_QUANTITY_START = tuple("年月日号个亿万千百倍%％×x")  # "2 亿元", "3.5 x": amounts, not headings
_NO_END = tuple(".。,，;；:：、")


def is_caption(line: str) -> bool:
    """True for a figure/table caption line such as ``图 2.21 …`` or ``Table 2 …``."""
    return bool(_CAPTION.match(line.strip()))


def _zh_number(numeral: str) -> int:
    digits = {c: i + 1 for i, c in enumerate(_ZH_NUMERAL)}
    tens, ten, ones = numeral.partition("十")
    if not ten:
        return digits[numeral] if len(numeral) == 1 else 0
    return (digits.get(tens, 0) if tens else 1) * 10 + (digits.get(ones, 0) if ones else 0)


@dataclass(frozen=True)
class _Candidate:
    start: int  # offset of the heading line
    row: int  # index among non-blank lines, to see runs of adjacent numbered lines
    level: int
    kind: str  # "md", "num" (2.3 or 二.), "zhsub" (（二）)
    number: tuple[int, ...]
    label: str


def _title_ok(title: str, *, max_len: int, allow_question: bool = False) -> bool:
    """Short, has letters, no sentence-final punctuation, not a table row, URL or amount."""
    if len(title) > max_len or "|" in title or "://" in title or title.endswith(_NO_END):
        return False
    if not any(ch.isalpha() for ch in title) or title.startswith(_QUANTITY_START):
        return False
    if title[0].isascii() and title[0].islower():
        return False  # "3 companies raised ..." is a sentence
    return allow_question or not title.endswith(("?", "？", "!", "！"))


def _candidate(s: str, start: int, row: int) -> _Candidate | None:
    if len(s) > 200 or is_caption(s):
        return None  # captions never open a section
    m = _MARKDOWN.fullmatch(s)
    label = " ".join((m.group(2) if m else s).split())
    label = label if len(label) <= _MAX_LABEL else label[: _MAX_LABEL - 1] + "…"
    if m:
        return _Candidate(start, row, len(m.group(1)), "md", (), label)
    if m := _DECIMAL.fullmatch(s):
        number = tuple(int(p) for p in m.group(1).split("."))
        single = len(number) == 1  # "1. Title" looks like a list item: stricter
        if number[0] and _title_ok(
            m.group(2), max_len=80 if single else 140, allow_question=not single
        ):
            return _Candidate(start, row, len(number), "num", number, label)
    elif m := _ZH_TOP.fullmatch(s):
        if _title_ok(m.group(2), max_len=60):
            return _Candidate(start, row, 1, "num", (_zh_number(m.group(1)),), label)
    elif (m := _ZH_SUB.fullmatch(s)) and _title_ok(m.group(2), max_len=60):
        return _Candidate(start, row, 2, "zhsub", (_zh_number(m.group(1)),), label)
    return None


def _in_list_run(cands: list[_Candidate], i: int) -> bool:
    """Part of 3+ adjacent lines numbered 1., 2., 3.: a numbered list, not a run of headings."""

    def linked(a: _Candidate, b: _Candidate) -> bool:
        return (
            b.row == a.row + 1
            and len(a.number) == len(b.number) == 1
            and b.number[0] == a.number[0] + 1
            and a.kind == b.kind == "num"
        )

    lo = hi = i
    while lo > 0 and linked(cands[lo - 1], cands[lo]):
        lo -= 1
    while hi + 1 < len(cands) and linked(cands[hi], cands[hi + 1]):
        hi += 1
    return hi - lo >= 2


def _accept_numbered(
    n: tuple[int, ...],
    stack: list[_Candidate],
    last_top: int,
    next_number: tuple[int, ...],
    seen: bool,
) -> bool:
    """Numbering must continue the document's outline; stray numbers do not."""
    if len(n) == 1:  # the next chapter, or a chapter whose children follow (a repeated "3.")
        return n[0] == last_top + 1 or (len(next_number) > 1 and next_number[0] == n[0])
    if not seen:
        return True  # a document that starts at "2.1": nothing to be consistent with yet
    # extends an open heading (2.3 under 2., 2.1.1 under 2.) or continues a run of siblings
    return any(
        (len(o) < len(n) and n[: len(o)] == o) or (len(o) == len(n) and o[:-1] == n[:-1])
        for o in (e.number for e in stack if e.kind == "num")
    )


def find_sections(text: str) -> list[Section]:
    """Detect headings and return sections covering ``text`` (a leading one has path "")."""
    cands: list[_Candidate] = []
    pos = row = 0
    for line in text.split("\n"):
        if s := line.strip():
            if c := _candidate(s, pos, row):
                cands.append(c)
            row += 1
        pos += len(line) + 1
    following: list[tuple[int, ...]] = [()] * len(cands)  # number of the next numbered one
    for i in range(len(cands) - 2, -1, -1):
        nxt = cands[i + 1]
        following[i] = nxt.number if nxt.kind == "num" else following[i + 1]
    heads: list[tuple[int, str]] = []
    stack: list[_Candidate] = []
    last_top = last_sub = 0
    seen = False
    for i, c in enumerate(cands):
        if c.kind == "num":
            if _in_list_run(cands, i) or not _accept_numbered(
                c.number, stack, last_top, following[i], seen
            ):
                continue
            seen = True
            if len(c.number) == 1:
                last_top, last_sub = c.number[0], 0
        elif c.kind == "zhsub":
            if c.number[0] not in (last_sub + 1, 1):
                continue
            last_sub = c.number[0]
        while stack and stack[-1].level >= c.level:
            stack.pop()  # a sibling or a shallower heading closes the deeper ones
        stack.append(c)
        heads.append((c.start, PATH_SEP.join(e.label for e in stack)))
    return cover(text, heads)


def cover(text: str, heads: list[tuple[int, str]]) -> list[Section]:
    """Sections from (heading offset, path) pairs, covering the whole text."""
    first = heads[0][0] if heads else len(text)
    sections = [Section(0, first, "")] if text[:first].strip() else []
    if heads and not sections:
        heads[0] = (0, heads[0][1])  # leading blank lines belong to the first section
    bounds = [h[0] for h in heads[1:]] + [len(text)] * bool(heads)
    return sections + [Section(h[0], end, h[1]) for h, end in zip(heads, bounds, strict=True)]

