"""Token-bounded splitting: cut sections into spans of the text that fit the model.

Each span is an exact substring of the text (never rewritten, never truncated). The splitter
cuts on the coarsest boundary that fits (paragraph, line, sentence, clause, word, character),
keeps a heading or lead-in line with the paragraph it introduces, folds tiny tails into the
piece before them and prepends a sentence-aligned overlap measured in tokens.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass

from langchain_text_splitters import RecursiveCharacterTextSplitter

from reportrag.errors import ConfigError
from reportrag.ingest.headings import HAN, Section, is_caption

# Coarse to fine. keep_separator="end" leaves punctuation on its sentence. Full-width CJK marks
# need no following space; ASCII ones do, except before Han (Chinese text with ASCII marks).
SEPARATORS: list[str] = [
    r"\n{2,}",
    r"\n",
    rf"[。！？；]+[”’」』）)]*|[.!?;]+[\"'”’)\]]*[ \t]+|[!?;](?=[{HAN}])",
    rf"[，、]|,(?:[ \t]+|(?=[{HAN}]))",
    r"[ \t]+",
    "",
]
Count = Callable[[str], int]
Span = tuple[int, int]

_SENTENCE_END = tuple(".。!！?？;；")


@dataclass(frozen=True)
class ChunkSpan:
    """Where a chunk lies in the cleaned text, with its section and token count."""

    start: int
    end: int
    section: str
    token_count: int


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

