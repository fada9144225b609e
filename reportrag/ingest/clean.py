"""Decode corpus bytes and clean the text, keeping an exact map from clean back to raw offsets.

Every step is a list of edits applied to (text, origin): no step rewrites text without saying
where each surviving character came from, so a chunk can always be cited in the raw file.

Unicode: NFKC is applied per character cluster (fullwidth Latin letters and digits become ASCII,
NBSP and the ideographic space become spaces, ligatures split, halfwidth ``｡`` becomes ``。``),
EXCEPT for the fullwidth CJK clause punctuation ``，：；！？（）``. NFKC would make them ASCII
``,:;!?()``, which reads wrongly in Chinese and changes a quoted passage from how it was
written; the CJK sentence splitter handles both forms anyway. ``。、「」`` are NFKC-stable.
"""

from __future__ import annotations

import bisect
import codecs
import re
import unicodedata
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from reportrag.errors import DocumentError
from reportrag.ingest.charset import guess_encoding
from reportrag.langid import is_cjk_char, is_latin_letter, script_profile

MAX_BYTES = 20 * 1024 * 1024
_KEEP_FULLWIDTH = frozenset("，：；！？（）")
Edit = tuple[int, int, str, str]  # (start, end, replacement, reason) in current coordinates


@dataclass(frozen=True)
class CleanedText:
    """Cleaned text plus, for every character, the raw offsets it came from."""

    text: str
    origin: Sequence[int]  # len(text)+1 entries: raw start of each char, then len(raw)
    removed: list[tuple[int, int, str]]  # raw spans dropped as chrome/debris, with the reason
    origin_end: Sequence[int] = ()  # raw end of each char (one composed char may span several)

    def to_raw_span(self, start: int, end: int) -> tuple[int, int]:
        """Map the cleaned span [start, end) to the raw span that produced it."""
        if not 0 <= start <= end <= len(self.text):
            raise ValueError(f"span [{start}, {end}) outside cleaned text of {len(self.text)}")
        if start == end:
            return self.origin[start], self.origin[start]
        last = self.origin_end[end - 1] if self.origin_end else self.origin[end - 1] + 1
        return self.origin[start], last

    def to_clean_offset(self, raw_offset: int) -> int:
        """The first cleaned offset whose raw origin is at or after ``raw_offset``."""
        return bisect.bisect_left(self.origin, raw_offset, 0, len(self.text))  # origin is sorted


class Buffer:
    """Text under cleaning with the raw start/end offsets of every character."""

    def __init__(self, raw: str) -> None:
        self.text = raw
        self.starts = array("q", range(len(raw)))
        self.ends = array("q", range(1, len(raw) + 1))
        self.removed: list[tuple[int, int, str]] = []

    def slice(self, start: int, end: int) -> Buffer:
        """The part ``[start, end)`` of the current text, still mapped to the raw offsets."""
        part = Buffer("")
        part.text = self.text[start:end]
        part.starts, part.ends = self.starts[start:end], self.ends[start:end]
        return part

    def apply(self, edits: Iterable[Edit]) -> None:
        """Apply sorted, non-overlapping edits; deletions that have a reason are recorded."""
        text, starts, ends = self.text, self.starts, self.ends
        parts: list[str] = []
        new_starts, new_ends = array("q"), array("q")
        pos = 0
        for a, b, rep, reason in edits:
            if a < pos or b < a:
                raise ValueError(f"overlapping or reversed edit [{a}, {b}) after {pos}")
            parts.append(text[pos:a])
            new_starts.extend(starts[pos:a])
            new_ends.extend(ends[pos:a])
            if rep:  # every replacement char points at the whole source span
                parts.append(rep)
                new_starts.extend([starts[a]] * len(rep))
                new_ends.extend([ends[b - 1]] * len(rep))
            elif reason and b > a:
                last = self.removed[-1] if self.removed else None
                if last and last[2] == reason and last[1] == starts[a]:  # one span per block
                    self.removed[-1] = (last[0], ends[b - 1], reason)
                else:
                    self.removed.append((starts[a], ends[b - 1], reason))
            pos = b
        if parts:
            parts.append(text[pos:])
            new_starts.extend(starts[pos:])
            new_ends.extend(ends[pos:])
            self.text, self.starts, self.ends = "".join(parts), new_starts, new_ends


_CONTROL_BYTES = bytes(b for b in range(32) if b not in b"\t\n\r\x0b\x0c") + b"\x7f"


def decode_bytes(data: bytes, *, source: str, max_bytes: int = MAX_BYTES) -> str:
    """Decode a corpus file as UTF-8 (BOM optional) or raise a one-line DocumentError."""

    def fail(reason: str) -> DocumentError:
        return DocumentError(f"{source}: {reason}", details={"path": source, "reason": reason})

    if len(data) > max_bytes:
        raise fail(f"larger than {max_bytes:,} bytes ({len(data):,} bytes)")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise fail("UTF-16/UTF-32 encoded, not UTF-8 — convert to UTF-8")
    if b"\x00" in data:
        raise fail("binary data (NUL bytes), not a text file")
    n_ctrl = len(data) - len(data.translate(None, _CONTROL_BYTES))
    if n_ctrl >= 4 and n_ctrl > len(data) // 100:
        raise fail(f"binary data ({n_ctrl} control bytes), not a text file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        guess = _guess_encoding(data)
        hint = f" ({guess}?)" if guess else ""
        raise fail(f"not valid UTF-8{hint} at byte {exc.start} — convert to UTF-8") from None
    if not text.strip(" \t\r\n\x0b\x0c\u00a0\u3000\ufeff\u200b"):
        raise fail("empty or whitespace-only")
    return text


def _guess_encoding(data: bytes) -> str:
    # Only a hint for the message, and only an honest one (reportrag/ingest/charset.py).
    return guess_encoding(data)


def clean_text(raw: str, *, source: str = "") -> CleanedText:
    """Clean decoded text (chrome, debris, Unicode, whitespace) with an exact origin map."""
    if not isinstance(raw, str):
        raise DocumentError(f"{source or 'input'}: expected decoded text, got {type(raw).__name__}")
    buf = Buffer(raw)
    for step in (
        invisible_edits,
        nfkc_edits,
        _line_edits,
        _question_mark_edits,
        space_edits,
        newline_edits,
    ):
        buf.apply(step(buf.text))
    origin = array("q", buf.starts)
    origin.append(len(raw))
    return CleanedText(buf.text, origin, sorted(buf.removed), buf.ends)


# --- characters ------------------------------------------------------------------------------

_INVISIBLE = re.compile(
    r"(?P<nl>\r\n|[\r\x85\u2028\u2029])|(?P<sp>[\x0b\x0c])|(?P<bad>\ufffd)"
    r"|(?P<inv>[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\u00ad\u180e\u200b-\u200f\u202a-\u202e"
    r"\u2060-\u2064\u2066-\u2069\ufeff])"
)


def invisible_edits(text: str) -> Iterable[Edit]:
    """Line breaks to ``\\n``, form feeds to spaces; invisible and U+FFFD characters dropped."""
    for m in _INVISIBLE.finditer(text):
        kind = m.lastgroup
        if kind in ("nl", "sp"):
            yield m.start(), m.end(), "\n" if kind == "nl" else " ", ""
        else:  # U+FFFD is what a failed decode left behind: debris, not content
            yield m.start(), m.end(), "", "encoding-debris" if kind == "bad" else "invisible"


def nfkc_edits(text: str) -> Iterable[Edit]:
    """NFKC per character cluster, except the fullwidth CJK clause punctuation."""
    last_end = 0
    for m in re.finditer(r"[^\x00-\x7f]+", text):
        if unicodedata.is_normalized("NFKC", text[max(m.start() - 1, 0) : m.end()]):
            continue  # the common case for Chinese text (the char before may be a base)
        i, end = m.start(), m.end()
        while i < end:
            j = i + 1
            while j < end and unicodedata.combining(text[j]):
                j += 1
            # a mark opening the run composes with the ASCII letter before it
            a = i - 1 if unicodedata.combining(text[i]) and i - 1 >= last_end else i
            norm = unicodedata.normalize("NFKC", text[a:j])
            if text[a:j] not in _KEEP_FULLWIDTH and norm != text[a:j]:
                yield a, j, norm, ""
                last_end = j
            i = j


# --- lines -----------------------------------------------------------------------------------

_CHROME_DISTINCT = re.compile(
    r"(?i)(skip to (main )?content|latest commit\b.*|file metadata and controls"
    r"|\d[\d,]* lines? \(\d[\d,]* loc\)(\s*·\s*[\d.,]+\s*[kmg]?i?b)?|copy raw (file|content)"
    r"|download raw file|more file actions|navigation menu|toggle navigation|breadcrumbs"
    r"|go to file|open in app|view (raw|source|on github)|permalink)"
)
_CHROME_GENERIC = re.compile(
    r"(?i)(history|raw|blame|code|preview|outline|edit|share|menu|search|sign in|sign up|log in"
    r"|top|back to top|follow|subscribe|copy( path)?|issues|pull requests|actions|wiki|insights"
    r"|files|main|master|[\d.,]+\s*[kmg]?i?b|\d+ (contributors?|commits?))"
)
# only after real chrome lines: a lone lowercase word ("deep") or the page's file name
_CHROME_WEAK = re.compile(r"[a-z]{1,12}|[\w.-]+\.(md|markdown|mdx|txt|rst|adoc|html?|ipynb)")
LANGUAGE_NAMES = (
    "English Deutsch German Français French Español Spanish Italiano Italian Português "
    "Portuguese Nederlands Dutch Русский Russian Українська Polski Polish Türkçe Turkish "
    "Ελληνικά Greek 中文 简体中文 繁體中文 繁体中文 Chinese 日本語 Japanese 한국어 Korean العربية "
    "Arabic עברית हिन्दी Hindi Indonesian Vietnamese ไทย Thai Svenska Suomi Finnish Dansk "
    "Norsk Čeština Magyar Română Latina Latin Sanskrit Filipino Català Hrvatski Български"
).split() + ["Русский язык", "Bahasa Indonesia", "Bahasa Melayu", "Tiếng Việt"]
_LANGUAGE_NAME_RE = re.compile(
    "|".join(re.escape(n) for n in sorted(LANGUAGE_NAMES, key=len, reverse=True)), re.I
)
_IMAGE_PLACEHOLDER = re.compile(
    r"(?i)(image|img|pic|picture)[ _-]?\d{1,4}(\.(png|jpe?g|gif|svg|webp|bmp))?"
    r"|[\w.-]+\.(png|jpe?g|gif|svg|webp|bmp)"
)


def _line_edits(text: str) -> Iterable[Edit]:
    lines = text.split("\n")
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line) + 1)
    drop = dict.fromkeys(range(_leading_chrome(lines)), "page-chrome")
    nonblank = [i for i, line in enumerate(lines) if line.strip() and i not in drop]
    for i in sorted(set(nonblank[:10] + nonblank[-10:])):  # switchers sit in header or footer
        if _is_language_menu(lines[i].strip()):
            drop[i] = "language-menu"
    for i in nonblank:
        s = lines[i].strip()
        if re.fullmatch(r"\?{1,3}", s):
            drop[i] = "encoding-debris"  # a '?' alone on a line is a lost non-ASCII char
        elif _IMAGE_PLACEHOLDER.fullmatch(s):
            drop[i] = "image-placeholder"  # scraped alt text like "image021" says nothing
    for i in _stray_cjk_lines(text, lines, [i for i in nonblank if i not in drop]):
        drop[i] = "stray-script"
    for i in sorted(drop):
        yield offsets[i], min(offsets[i + 1], len(text)), "", drop[i]


def _leading_chrome(lines: list[str]) -> int:
    """How many lines at the top of the document are web-page UI, not content."""
    distinct = generic = end = 0
    for i, line in enumerate(lines[:40]):
        s = line.strip()
        if not s:
            continue
        if _CHROME_DISTINCT.fullmatch(s):
            distinct += 1
        elif _CHROME_GENERIC.fullmatch(s):
            generic += 1
        elif not (distinct and distinct + generic >= 2 and _CHROME_WEAK.fullmatch(s)):
            break
        end = i + 1
    # a lone UI word ("History") may be a real heading: it takes a distinctive line and another
    return end if distinct and distinct + generic >= 2 else 0


def _is_language_menu(line: str) -> bool:
    """A line of (almost) nothing but language names: a site's language switcher."""
    if not line or len(line) > 400 or re.search(r"[.,;:!?。，；：！？]", line):
        return False
    names = _LANGUAGE_NAME_RE.findall(line)
    covered = sum(ch.isalpha() for name in names for ch in name)
    letters = sum(ch.isalpha() for ch in line)
    return len({n.lower() for n in names}) >= 4 and covered >= 0.75 * letters


def _stray_cjk_lines(text: str, lines: list[str], candidates: list[int]) -> Iterable[int]:
    """Short all-CJK lines alone between Latin lines of a Latin document ("领英推荐")."""
    profile = script_profile(text)
    # Latin documents only: a short Latin line in Chinese text is usually a product name or a
    # heading ("### Meta"), while CJK UI strings are what leaks into scraped Western pages.
    if profile.latin < 200 or profile.latin < 5 * profile.cjk:
        return
    for k in range(1, len(candidates) - 1):
        s = lines[candidates[k]].strip()
        if len(s) > 16 or not any(map(is_cjk_char, s)):
            continue
        if not all(is_cjk_char(ch) or _is_cjk_punct(ch) or ch == " " for ch in s):
            continue  # digits, pipes or Latin letters: a table cell or a real mixed line
        if any(map(is_cjk_char, lines[candidates[k - 1]] + lines[candidates[k + 1]])):
            continue  # part of a CJK passage or table, like the Chinese rows of an English report
        yield candidates[k]


def _is_cjk_punct(ch: str) -> bool:
    return 0x3000 <= ord(ch) <= 0x303F or (0xFF01 <= ord(ch) <= 0xFF65 and not ch.isalnum())


# --- inline debris ---------------------------------------------------------------------------

_WHITESPACE = re.compile(r"\s")


def _question_mark_edits(text: str) -> Iterable[Edit]:
    """'?' left by a bad encoding where a space or letter was; real question marks are kept.

    A real '?' ends a word: it follows a letter, digit or bracket and is followed by a space,
    a line end, a quote or, in glued text like "Source?Die", a capital. Debris instead
    (1) starts a word ("is ?thus", "(2023), ?Is"), (2) follows a sentence-final '.', ',', ';'
    or ':' ("proprietary.? But", "197-234.?"), or (3) sits between two lowercase Latin letters
    in a word that is not a URL or query string ("don?t").
    """
    n = len(text)
    for m in re.finditer(r"\?", text):
        i = m.start()
        prev, nxt = text[i - 1] if i else "\n", text[i + 1] if i + 1 < n else "\n"
        start = max(text.rfind(" ", 0, i), text.rfind("\n", 0, i)) + 1
        after = _WHITESPACE.search(text, i)
        token = text[start : after.start() if after else n]
        if prev.isspace() or prev in "([\"'“‘«":
            debris = (is_latin_letter(nxt) or nxt.isdigit()) and "=" not in token
        elif prev in ".,;:":
            debris = nxt.isspace() and i >= 2 and (text[i - 2].isalnum() or text[i - 2] in ")]\"”'")
        else:
            debris = (
                prev.islower()
                and nxt.islower()
                and is_latin_letter(prev)
                and is_latin_letter(nxt)
                and not set("/=&:@#%") & set(token)
            )
        if debris:
            yield i, i + 1, "", "encoding-debris"


# --- whitespace ------------------------------------------------------------------------------


def space_edits(text: str) -> Iterable[Edit]:
    """Trailing spaces dropped, runs of spaces to one, indentation kept (tabs to spaces)."""
    for m in re.finditer(r"[ \t]+", text):
        a, b = m.span()
        if b == len(text) or text[b] == "\n":
            yield a, b, "", ""  # trailing spaces, and lines of nothing but spaces
        elif a == 0 or text[a - 1] == "\n":
            if "\t" in m.group():  # indentation is kept (Markdown lists), tabs become spaces
                yield a, b, m.group().replace("\t", " "), ""
        elif m.group() != " ":
            yield a, b, " ", ""


def newline_edits(text: str) -> Iterable[Edit]:
    """Leading and trailing blank lines dropped, at most one blank line between blocks."""
    lead = len(text) - len(text.lstrip())  # the document starts at its first visible char
    tail = len(text) - len(text.rstrip("\n"))
    if lead:
        yield 0, lead, "", ""
    for m in re.finditer(r"\n{3,}", text):
        if lead <= m.start() and m.end() < len(text):
            yield m.start() + 2, m.end(), "", ""  # at most one blank line between blocks
    if tail and lead < len(text):
        yield len(text) - tail, len(text), "", ""
