"""Where a Markdown block's content lies in the source, and the front matter at the top.

markdown-it gives each block its source lines and its content: the lines with container
markers (``>``, list indentation), heading markers and fence lines taken off. The content of
line *k* is part of source line *k* (``map[0] + k``); aligning the two gives, for every
content offset, its source offset, and the edits that delete the markers around it.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

from reportrag.ingest.extract import Extraction

_FRONT_MATTER = {
    "---": re.compile(r"^(?:---|\.\.\.)[ \t]*$", re.M),
    "+++": re.compile(r"^\+\+\+[ \t]*$", re.M),
}
_YAML_KEY = r"^{key}[ \t]*:[ \t]*(?P<v>\S[^\n]*?)[ \t]*$"
_TOML_KEY = r"^{key}[ \t]*=[ \t]*(?P<v>\S[^\n]*?)[ \t]*$"


class Lines:
    """Line starts of a text, to turn markdown-it's line numbers into offsets."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def span(self, line: int) -> tuple[int, int]:
        """``[start, end)`` of line ``line`` (0-based), without its line break."""
        if line >= len(self.starts):
            return len(self.text), len(self.text)
        start = self.starts[line]
        end = self.starts[line + 1] - 1 if line + 1 < len(self.starts) else len(self.text)
        return start, end


class ContentMap:
    """Content offsets to source offsets: piecewise shifts, sorted by content offset."""

    def __init__(self) -> None:
        self.content: list[int] = []
        self.source: list[int] = []

    def add(self, content: int, source: int) -> None:
        """From content offset ``content`` on, text continues at source offset ``source``."""
        self.content.append(content)
        self.source.append(source)

    def __call__(self, offset: int) -> int:
        i = max(bisect.bisect_right(self.content, offset) - 1, 0)
        mapped = self.source[i] + offset - self.content[i]
        if i + 1 < len(self.source):  # never past the next piece (the map stays monotone)
            mapped = min(mapped, self.source[i + 1])
        return mapped


@dataclass
class Aligned:
    """A block's content placed in the source."""

    start: int
    end: int
    to_src: ContentMap


def align_lines(lines: Lines, first: int, content: str, found: Extraction) -> Aligned:
    """Place ``content`` (one line per source line from ``first``); delete what lies between."""
    text = lines.text
    cmap = ContentMap()
    c = 0
    start = end = -1
    parts = content.split("\n")
    for k, part in enumerate(parts):
        ls, le = lines.span(first + k)
        raw = text[ls:le]
        at, shown = _place(raw, part)
        pos = ls + at
        if shown < len(part):  # a tab the parser expanded into spaces: shown as it parsed
            found.replace(ls, pos, part[: len(part) - shown] or " ")
            cmap.add(c, ls)
        cmap.add(c + len(part) - shown, pos)
        if k == 0:
            start = ls if shown < len(part) else pos
        else:
            found.delete(ls, ls if shown < len(part) else pos)
        end = pos + shown
        if k < len(parts) - 1:
            found.delete(end, le)
        c += len(part) + 1
    return Aligned(start, end, cmap)


def _place(raw: str, part: str) -> tuple[int, int]:
    """Where ``part`` sits in ``raw``, and how much of its end is raw text (the rest not)."""
    if not part:
        return len(raw), 0
    if raw.endswith(part):
        return len(raw) - len(part), len(part)
    trimmed = raw.rstrip(" \t")
    if trimmed.endswith(part):
        return len(trimmed) - len(part), len(part)
    at = raw.find(part)
    if at >= 0:
        return at, len(part)
    common = 0
    while common < min(len(trimmed), len(part)) and trimmed[-1 - common] == part[-1 - common]:
        common += 1
    return len(trimmed) - common, common


def align_cell(
    text: str, cursor: int, end: int, content: str, found: Extraction
) -> tuple[int, int, ContentMap]:
    """Find a table cell's content in its row (``\\|`` in the source is ``|`` in content)."""
    cmap = ContentMap()
    written = content.replace("|", "\\|")
    at = text.find(written, cursor, end)
    if at < 0:
        at = text.find(content, cursor, end)
        written = content
    if at < 0:
        return -1, -1, cmap
    cmap.add(0, at)
    shift = 0
    for m in re.finditer(r"\|", content) if written != content else ():
        found.delete(at + m.start() + shift, at + m.start() + shift + 1)  # the backslash
        shift += 1
        cmap.add(m.start(), at + m.start() + shift)
    return at, at + len(written), cmap


@dataclass
class FrontMatter:
    """The metadata block at the top of a page: where it ends, and its title and description."""

    end: int
    title: tuple[int, int] | None
    description: tuple[int, int] | None


def front_matter(text: str) -> FrontMatter | None:
    """YAML (``---``) or TOML (``+++``) front matter, if the text starts with one."""
    fence = text[:3]
    if fence not in _FRONT_MATTER or not re.match(r"(?:---|\+\+\+)[ \t]*\n", text):
        return None
    body_start = text.index("\n") + 1
    close = _FRONT_MATTER[fence].search(text, body_start)
    if not close:
        return None
    body = text[body_start : close.start()]
    pattern = _YAML_KEY if fence == "---" else _TOML_KEY
    title, description = (
        _value(body, pattern.format(key=key), body_start) for key in ("title", "description")
    )
    end = close.end() + (1 if text[close.end() : close.end() + 1] == "\n" else 0)
    return FrontMatter(end, title, description)


def _value(body: str, pattern: str, offset: int) -> tuple[int, int] | None:
    """The span of a top-level scalar value, without quotes or a trailing comment."""
    m = re.search(pattern, body, re.M)
    if not m:
        return None
    a, b = m.span("v")
    value = m.group("v")
    quoted = re.match(r"(\"|')(.*?)\1", value)
    if quoted:
        a, b = a + 1, a + 1 + len(quoted.group(2))
    elif value[0] in "|>[{&*!\"'":
        return None  # a block scalar, list, tag or broken quote: not a one-line title
    else:
        comment = re.search(r"\s#", value)
        if comment:
            b = a + comment.start()
    return (offset + a, offset + b) if b > a else None
