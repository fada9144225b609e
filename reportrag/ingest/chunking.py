"""Structure-aware chunking: headings become section paths, sections are split by tokens.

Chunks are exact substrings of the cleaned text (never rewritten, never truncated), so each one
maps back to the raw file through ``CleanedText.to_raw_span`` and the document can be rebuilt
from its chunks (see ``reassemble``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from langchain_text_splitters import RecursiveCharacterTextSplitter

from reportrag.errors import ConfigError
from reportrag.ingest.clean import CleanedText
from reportrag.ingest.document import ParsedDocument
from reportrag.ingest.outline import ProseIndex, context_line, heading_starts
from reportrag.langid import LanguageDetector, chunk_language
from reportrag.types import (
    SECTION_SEP,
    Chunk,
    DocumentMeta,
    content_hash,
    make_chunk_id,
)

PATH_SEP = SECTION_SEP
_MAX_LABEL = 80
_HAN = r"\u3400-\u9fff\uf900-\ufaff"
# Coarse to fine. keep_separator="end" leaves punctuation on its sentence. Full-width CJK marks
# need no following space; ASCII ones do, except before Han (Chinese text with ASCII marks).
SEPARATORS: list[str] = [
    r"\n{2,}",
    r"\n",
    rf"[。！？；]+[”’」』）)]*|[.!?;]+[\"'”’)\]]*[ \t]+|[!?;](?=[{_HAN}])",
    rf"[，、]|,(?:[ \t]+|(?=[{_HAN}]))",
    r"[ \t]+",
    "",
]
Count = Callable[[str], int]
Span = tuple[int, int]


@dataclass(frozen=True)
class Section:
    """A span of the cleaned text under one heading; ``path`` lists the heading and its parents."""

    start: int
    end: int
    path: str


@dataclass(frozen=True)
class ChunkSpan:
    """Where a chunk lies in the cleaned text, with its section and token count."""

    start: int
    end: int
    section: str
    token_count: int


# --- headings --------------------------------------------------------------------------------

_MARKDOWN = re.compile(r"(#{1,6})[ \t]+(\S.*?)(?:[ \t]+#+)?")
_DECIMAL = re.compile(rf"(\d{{1,2}}(?:\.\d{{1,2}}){{0,4}})\.?(?:[ \t]+|(?=[{_HAN}]))(\S.*)")
_ZH_NUMERAL = "一二三四五六七八九十"
_ZH_TOP = re.compile(rf"([{_ZH_NUMERAL}]{{1,3}})[ \t]*[.、．][ \t]*(\S.*)")
_ZH_SUB = re.compile(rf"[（(]([{_ZH_NUMERAL}]{{1,3}})[）)][ \t]*(\S.*)")
_CAPTION = re.compile(r"(?:图|表|Figure|Fig\.|Table|Exhibit|Chart)[ \t]*\d+(?:[.\-–]\d+)*(?!\d)")
_QUANTITY_START = tuple("年月日号个亿万千百倍%％×x")  # "2 亿元", "3.5 x": amounts, not headings
_NO_END = tuple(".。,，;；:：、")
_SENTENCE_END = tuple(".。!！?？;；")


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
    return _cover(text, heads)


def _cover(text: str, heads: list[tuple[int, str]]) -> list[Section]:
    """Sections from (heading offset, path) pairs, covering the whole text."""
    first = heads[0][0] if heads else len(text)
    sections = [Section(0, first, "")] if text[:first].strip() else []
    if heads and not sections:
        heads[0] = (0, heads[0][1])  # leading blank lines belong to the first section
    bounds = [h[0] for h in heads[1:]] + [len(text)] * bool(heads)
    return sections + [Section(h[0], end, h[1]) for h, end in zip(heads, bounds, strict=True)]


def _fold_sections(text: str, sections: list[Section]) -> list[Section]:
    """Fold heading-only sections (and a title-only preamble) into the section after them."""
    out: list[Section] = []
    carry: int | None = None
    for k, sec in enumerate(sections):
        body = text[sec.start : sec.end].strip()
        lines = sum(1 for ln in body.split("\n") if ln.strip())
        tiny = lines <= 1 if sec.path else (lines <= 2 and len(body) <= 200)
        start = sec.start if carry is None else carry
        carry = start if tiny and k + 1 < len(sections) else None
        if carry is None:  # a lone heading is useless as a chunk: it prefixes the next one
            out.append(Section(start, sec.end, sec.path))
    return out


# --- splitting -------------------------------------------------------------------------------

_CUT_CLASSES = [re.compile(p) for p in SEPARATORS[:-1]]


def _rstrip_end(text: str, a: int, b: int) -> int:
    return a + len(text[a:b].rstrip())


def _largest_fitting(points: list[int], fits: Callable[[int], bool]) -> int:
    """Index of the last point that fits, given that fitting stops at some point (or -1)."""
    lo, hi, best = 0, len(points) - 1, -1
    while lo <= hi:
        mid = (lo + hi) // 2
        if fits(points[mid]):
            best, lo = mid, mid + 1
        else:
            hi = mid - 1
    return best


def _boundaries(text: str, a: int, b: int, pattern: re.Pattern[str] | None) -> list[int]:
    """Offsets in (a, b) right after a separator of the given class (None: any char)."""
    if pattern is None:
        return list(range(a + 1, b))
    return [m.end() for m in pattern.finditer(text, a, b) if a < m.end() < b]


def _fits(text: str, a: int, limit: int, count: Count, cut: int) -> bool:
    return count(text[a : _rstrip_end(text, a, cut)]) <= limit


def _fit(text: str, a: int, b: int, limit: int, count: Count) -> list[Span]:
    """Split text[a:b] at the best boundaries so that every piece fits; never truncates."""
    out: list[Span] = []
    while a < b:
        a += len(text[a:b]) - len(text[a:b].lstrip())
        if a >= b:
            break
        if count(text[a : _rstrip_end(text, a, b)]) <= limit:
            out.append((a, _rstrip_end(text, a, b)))
            break
        cut = a
        for pattern in [*_CUT_CLASSES, None]:  # paragraph, line, sentence, clause, word, char
            points = _boundaries(text, a, b, pattern)
            # token counts grow with length: binary search for the last cut that fits
            best = _largest_fitting(points, functools.partial(_fits, text, a, limit, count))
            if best >= 0:
                cut = points[best]
                if count(text[a : _rstrip_end(text, a, cut)]) * 2 >= limit:
                    break  # reasonably full; otherwise try finer boundaries
        if cut <= a:
            raise ConfigError(f"a token limit of {limit} cannot hold even {text[a]!r}")
        out.append((a, _rstrip_end(text, a, cut)))
        a = cut
    return out


def split_spans(
    text: str, sections: list[Section], *, count_tokens: Count, max_tokens: int, overlap_tokens: int
) -> list[ChunkSpan]:
    """Split each section into spans of ``text`` that fit max_tokens, overlapping a little."""
    count = functools.cache(count_tokens)  # the splitter asks about the same pieces repeatedly
    base = count("")  # special tokens and the passage prefix: paid once per chunk, not per piece
    room = max_tokens - overlap_tokens  # what a chunk may hold before the overlap is prepended
    if room - base <= 0 or overlap_tokens < 0:
        raise ConfigError(
            f"max_tokens={max_tokens} (of which {base} fixed) and "
            f"overlap_tokens={overlap_tokens} leave no room for text"
        )
    # The splitter's pieces are disjoint (chunk_overlap=0) so that each one has exactly one
    # place in the text even in repetitive text; the overlap is added afterwards, by tokens.
    splitter = RecursiveCharacterTextSplitter(
        separators=SEPARATORS,
        is_separator_regex=True,
        keep_separator="end",
        chunk_size=room - base,
        chunk_overlap=0,
        # +1 per piece: a piece counted alone may come out shorter than inside the chunk
        length_function=lambda piece: count(piece) - base + 1 if piece else 0,
    )
    spans: list[ChunkSpan] = []
    for sec in sections:
        pieces: list[Span] = []
        covered = sec.start
        for piece in splitter.split_text(text[sec.start : sec.end]):
            at = covered + len(text[covered : sec.end]) - len(text[covered : sec.end].lstrip())
            if not text.startswith(piece, at):
                raise RuntimeError(f"chunker lost text in {sec.path!r} at offset {covered}")
            covered = at + len(piece)
            pieces.extend(_fit(text, at, covered, room, count))
        if text[covered : sec.end].strip():
            raise RuntimeError(f"chunker lost the end of section {sec.path!r}")
        pieces = _merge_tiny(text, _pull_lead_ins(text, pieces, room, count), room, count)
        for k, (a, b) in enumerate(pieces):
            if k and overlap_tokens:
                a = _overlap_start(
                    text, pieces[k - 1][0], a, b, max_tokens, overlap_tokens, base, count
                )
            spans.append(ChunkSpan(a, b, sec.path, count(text[a:b])))
    return spans


def _overlap_start(
    text: str,
    lo: int,
    a: int,
    b: int,
    max_tokens: int,
    overlap_tokens: int,
    base: int,
    count: Count,
) -> int:
    """Move a chunk's start back over the end of the previous one (whole sentences if possible)."""

    def fits(q: int) -> bool:
        return (
            count(text[q : _rstrip_end(text, q, a)]) - base <= overlap_tokens
            and count(text[q:b]) <= max_tokens
        )

    for pattern in _CUT_CLASSES:  # coarsest boundary that gives any overlap at all
        starts = {
            q + len(text[q:a]) - len(text[q:a].lstrip()) for q in _boundaries(text, lo, a, pattern)
        }
        points = sorted((q for q in starts if q < a), reverse=True)  # fits more as q grows
        best = _largest_fitting(points, fits)
        if best >= 0:
            return points[best]
    return a


def _lead_in_start(text: str, a: int, b: int, limit: int, count: Count) -> int | None:
    """Start of the short heading-like lines (at most three) that end text[a:b], if any."""
    start, end, taken = None, b, 0
    while taken < 3 and end > a:
        line_start = max(text.rfind("\n", a, end) + 1, a)
        line = text[line_start:end].strip()
        end = line_start - 1
        if not line:
            continue  # blank lines between a heading and its first paragraph
        if len(line) > 100 or line.endswith(_SENTENCE_END) or "|" in line or is_caption(line):
            break  # a caption belongs to the text before it, it is no lead-in
        start, taken = line_start, taken + 1
    return start if start is not None and count(text[start:b]) * 4 <= limit else None


def _pull_lead_ins(text: str, pieces: list[Span], limit: int, count: Count) -> list[Span]:
    """Move a heading or lead-in line stranded at a piece's end into the piece it introduces.

    The splitter flushes its buffer before a paragraph too long to merge, which leaves that
    paragraph's sub-heading ("Supply-side benefits") alone or at the end of the piece before.
    """
    out: list[Span] = []
    pending = list(pieces)
    k = -1
    while (k := k + 1) < len(pending):  # pending grows when a refit splits the next piece
        a, b = pending[k]
        lead = _lead_in_start(text, a, b, limit, count) if k + 1 < len(pending) else None
        if lead is None:
            out.append((a, b))
            continue
        if text[a:lead].strip():
            out.append((a, _rstrip_end(text, a, lead)))
        pending[k + 1 : k + 2] = _fit(text, lead, pending[k + 1][1], limit, count)
    return out


def _merge_tiny(text: str, pieces: list[Span], limit: int, count: Count) -> list[Span]:
    """Append a tiny piece (a caption, a paragraph's last sentence) to the piece before it."""
    out: list[Span] = []
    for a, b in pieces:
        if out and count(text[a:b]) * 8 <= limit and count(text[out[-1][0] : b]) <= limit:
            out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


def _split_at_pages(sections: list[Section], parsed: ParsedDocument) -> list[Section]:
    """Sections cut where a page begins: no chunk spans two pages, so a citation's page is
    the page of all of its text (a paragraph running over a page break becomes two)."""
    if len(parsed.page_starts) < 2:
        return sections
    cuts = sorted({parsed.cleaned.to_clean_offset(p) for p in parsed.page_starts[1:]})
    out: list[Section] = []
    for sec in sections:
        start = sec.start
        for cut in cuts:
            if start < cut < sec.end:
                out.append(Section(start, cut, sec.path))
                start = cut
        out.append(Section(start, sec.end, sec.path))
    return out


def sections_of(parsed: ParsedDocument) -> list[Section]:
    """The sections of a document: from its heading blocks, or found in plain text."""
    if parsed.blocks:
        return _cover(parsed.text, heading_starts(parsed))
    return find_sections(parsed.text)


def chunk_document(
    doc: DocumentMeta,
    parsed: ParsedDocument | CleanedText,
    *,
    count_tokens: Count,
    max_tokens: int,
    overlap_tokens: int,
    detector: LanguageDetector | None = None,
) -> list[Chunk]:
    """Cut a document into linked, language-tagged chunks that fit ``max_tokens``.

    Each chunk carries its document's language (``doc.lang``) as ``doc_lang`` and, as
    ``lang``, the language of its own prose when that is clearly another one. Its
    ``context`` ("title › section") is keyword-indexed with it (BM25 then finds "the license
    of WeKnora" in the chunk that only says "license").
    """
    if isinstance(parsed, CleanedText):
        parsed = ParsedDocument(cleaned=parsed)
    text, cleaned = parsed.text, parsed.cleaned
    spans = split_spans(
        text,
        _fold_sections(text, _split_at_pages(sections_of(parsed), parsed)),
        count_tokens=count_tokens,
        max_tokens=max_tokens,
        overlap_tokens=overlap_tokens,
    )
    prose = ProseIndex(parsed)
    doc_lang = doc.lang or "und"
    chunks: list[Chunk] = []
    for ordinal, span in enumerate(spans):
        body = text[span.start : span.end]
        context = context_line(doc.title, span.section)
        digest = content_hash(body)
        raw_start, raw_end = cleaned.to_raw_span(span.start, span.end)
        lang = chunk_language(prose.prose(span.start, span.end), doc_lang, detector=detector)
        chunks.append(
            Chunk(
                chunk_id=make_chunk_id(doc.doc_id, ordinal, digest),
                doc_id=doc.doc_id,
                title=doc.title,
                lang=lang,
                doc_lang=doc_lang,
                context=context,
                kind=doc.kind,
                date=doc.date,
                section=span.section,
                ordinal=ordinal,
                text=body,
                token_count=span.token_count,
                char_start=raw_start,
                char_end=raw_end,
                content_hash=digest,
                page=parsed.page_at(raw_start),
                metadata=dict(doc.metadata),
            )
        )
    for prev, nxt in zip(chunks, chunks[1:], strict=False):
        prev.next_id, nxt.prev_id = nxt.chunk_id, prev.chunk_id
    return chunks


def reassemble(pieces: Iterable[tuple[int, str]]) -> str:
    """Join (cleaned_offset, text) chunks in order, dropping overlaps; gaps are left out."""
    out: list[str] = []
    covered = 0
    for start, piece in sorted(pieces):
        if start + len(piece) > covered:
            out.append(piece[max(0, covered - start) :])
            covered = start + len(piece)
    return "".join(out)
