"""Parse Markdown into a ParsedDocument: what a reader of the rendered page sees, by block.

markdown-it-py (CommonMark, tables, strikethrough) finds the structure; the cleaned text is
the source with markup edited out, so every character keeps its raw offset. Decisions:

* list markers (``-``, ``*``, ``1.``) and task boxes go: a list item is a block whose level
  is its nesting, and the order of the blocks keeps the numbering's meaning;
* front matter: ``title`` is the title (and a level-1 heading when the page has no H1),
  ``description`` is kept as a paragraph (a summary the site shows, and good prose); the
  rest is dropped;
* admonition fences (``:::tip``, ``/// note``, ``!!! warning``), GitHub alert markers
  (``[!NOTE]``), heading attribute lists (``{#id}``) and ``[TOC]`` markers are markup too;
* tables of contents and link-only rows (language switchers, menus) are dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from markdown_it.token import Token

from reportrag.errors import DocumentError
from reportrag.ingest.chrome import is_toc_label
from reportrag.ingest.clean import Buffer, invisible_edits
from reportrag.ingest.document import BlockKind, ParsedDocument
from reportrag.ingest.extract import Extraction, assemble, plain_text
from reportrag.ingest.htmlwalk import HtmlWalker
from reportrag.ingest.mdinline import InlineEdits, InlineResult, make_parser
from reportrag.ingest.mdsource import (
    Aligned,
    FrontMatter,
    Lines,
    align_cell,
    align_lines,
    front_matter,
)

_MD = make_parser()
_HEADING_ATTRS = re.compile(r"[ \t]*\{[ \t]*:?[ \t]*[#.][^{}\n]*\}[ \t]*$")
_MARKER_LINE = re.compile(
    r"^[ \t]*(?::{3,}|/{3,}|!{3}|\?{3}\+?)[ \t]*(?:[\w-]+.*)?$|^[ \t]*\[![A-Za-z]+\][ \t]*$",
    re.M,
)
_TOC_MARKER = re.compile(r"(?i)\[\[?_?toc_?\]\]?|\{:toc\}|\$\{toc\}|<!--\s*toc\s*-->")
_TASK_BOX = re.compile(r"\[[ xX]\][ \t]+")
_CUT_TAG = re.compile(r"<[A-Za-z/!][^<>\n]*\Z")
_LEAVES = frozenset({"inline", "fence", "code_block", "html_block"})


def parse_markdown(raw: str, *, source: str = "") -> ParsedDocument:
    """Parse a Markdown page; every cleaned character keeps its raw offset."""
    if not isinstance(raw, str):
        raise DocumentError(f"{source or 'input'}: expected decoded text, got {type(raw).__name__}")
    src = Buffer(raw)
    src.apply(invisible_edits(src.text))  # line ends and invisible characters, as in plain text
    text = src.text
    found = Extraction()
    meta = front_matter(text)
    parsed = text
    if meta:  # the parser sees blank lines there; offsets stay those of the source
        parsed = re.sub(r"[^\n]", " ", text[: meta.end]) + text[meta.end :]
        found.dropped.append((0, meta.end, "front-matter"))
    _Blocks(text, found).walk(_MD.parse(parsed, {}))
    _drop_cut_tag(text, found)
    title = _front_matter_blocks(text, meta, found) if meta else ""
    return assemble(src, raw, found, fmt="markdown", title=title)


def _front_matter_blocks(text: str, meta: FrontMatter, found: Extraction) -> str:
    """Blocks for the front matter's title (if the page has no H1) and description; the title."""
    title = plain_text(text[slice(*meta.title)]) if meta.title else ""
    if meta.title and not any(s.kind == "heading" and s.level == 1 for s in found.segments):
        found.add("heading", *meta.title, 1)  # the segments are sorted by offset later
    if meta.description:
        description = plain_text(text[slice(*meta.description)])
        if description.casefold() != title.casefold():  # not when it only repeats the title
            found.add("paragraph", *meta.description)
    return title


def _drop_cut_tag(text: str, found: Extraction) -> None:
    """A file cut off inside a tag ends with ``<div class="x``: debris, unless it is code."""
    cut = _CUT_TAG.search(text, max(len(text) - 2000, 0))
    last = found.segments[-1] if found.segments else None
    if cut and last and last.kind != "code" and last.start <= cut.start() < last.end:
        found.delete(cut.start(), len(text), "truncated")


def _first_line(token: Token) -> int:
    """The first source line of a block token (markdown-it maps every block token)."""
    assert token.map is not None, token.type
    return token.map[0]


@dataclass
class _Item:
    level: int
    first: InlineResult | None = None  # the item's own first paragraph
    segment: int = -1  # index of its list_item block, to add later paragraphs to


@dataclass
class _List:
    first_segment: int
    items: int = 0
    anchor_items: int = 0


class _Blocks:
    """Walk markdown-it's block tokens and record segments and edits."""

    def __init__(self, text: str, found: Extraction) -> None:
        self.text, self.found, self.lines = text, found, Lines(text)
        self.containers: list[str | _Item] = []  # "quote" or an open list item, innermost last
        self.lists: list[_List] = []
        self.opener: Token | None = None  # the paragraph/heading/cell an inline token belongs to
        self.row: list[Token] = []
        self.hidden: str | None = None  # an HTML element (<svg>…) left open by an HTML block

    def walk(self, tokens: list[Token]) -> None:
        """Handle every block token in order."""
        for token in tokens:
            if self.hidden and token.type in _LEAVES and token.map:
                self._skip_hidden(token)
                continue
            handler = getattr(self, "_" + token.type, None)
            if handler:
                handler(token)

    # --- containers

    def _blockquote_open(self, token: Token) -> None:
        self.containers.append("quote")

    def _blockquote_close(self, token: Token) -> None:
        self.containers.pop()

    def _bullet_list_open(self, token: Token) -> None:
        self.lists.append(_List(len(self.found.segments)))

    _ordered_list_open = _bullet_list_open

    def _bullet_list_close(self, token: Token) -> None:
        done = self.lists.pop()
        if self.lists:
            self.lists[0].items += done.items
            self.lists[0].anchor_items += done.anchor_items
            return
        first = done.first_segment
        before = self.found.segments[first - 1] if first > 0 else None
        announced = before is not None and is_toc_label(before.label)
        share = done.anchor_items / done.items if done.items else 0.0
        if (announced and share >= 0.5) or (done.items >= 3 and share >= 0.8):
            self.found.drop_segments(first - 1 if announced else first, "table-of-contents")

    _ordered_list_close = _bullet_list_close

    def _list_item_open(self, token: Token) -> None:
        self.containers.append(_Item(len(self.lists) - 1))

    def _list_item_close(self, token: Token) -> None:
        item = self.containers.pop()
        assert isinstance(item, _Item)
        if self.lists:
            self.lists[-1].items += 1
            self.lists[-1].anchor_items += bool(item.first and item.first.anchor_only)

    # --- leaf blocks

    def _paragraph_open(self, token: Token) -> None:
        self.opener = token

    _heading_open = _paragraph_open
    _th_open = _paragraph_open
    _td_open = _paragraph_open

    def _tr_open(self, token: Token) -> None:
        self.row = []

    def _inline(self, token: Token) -> None:
        opener, self.opener = self.opener, None
        if opener is None or token.map is None:
            return
        if opener.type in ("th_open", "td_open"):
            self.row.append(token)
        elif opener.type == "heading_open":
            self._heading(token, int(opener.tag[1:]))
        else:
            self._paragraph(token)

    def _heading(self, token: Token, level: int) -> None:
        placed = align_lines(self.lines, _first_line(token), token.content, self.found)
        attrs = _HEADING_ATTRS.search(token.content)
        if attrs:
            self.found.delete(placed.to_src(attrs.start()), placed.to_src(attrs.end()))
        result = self._edit_inline(token, placed, nav=False)
        label = result.label if not attrs else result.label.rsplit("{", 1)[0].strip()
        self._add("heading", placed, result, level, label)

    def _paragraph(self, token: Token) -> None:
        content = token.content
        placed = align_lines(self.lines, _first_line(token), content, self.found)
        if _TOC_MARKER.fullmatch(content.strip()):
            self.found.dropped.append((placed.start, placed.end, "table-of-contents"))
            return
        for m in _MARKER_LINE.finditer(content):  # ::: tip, /// note, !!! warning, [!NOTE]
            self.found.delete(placed.to_src(m.start()), placed.to_src(m.end()), "admonition")
        inner = self.containers[-1] if self.containers else None
        if isinstance(inner, _Item):
            task = _TASK_BOX.match(content) if inner.first is None else None
            if task:
                self.found.delete(placed.to_src(0), placed.to_src(task.end()))
            result = self._edit_inline(token, placed)
            self._item_paragraph(inner, placed, result)
            return
        result = self._edit_inline(token, placed)
        if result.nav.is_navigation():
            self.found.dropped.append((placed.start, placed.end, "navigation"))
            return
        self._add("quote" if inner == "quote" else "paragraph", placed, result, 0, result.label)

    def _item_paragraph(self, item: _Item, placed: Aligned, result: InlineResult) -> None:
        """A list item's paragraphs make one block; later ones join it after a line break."""
        segments = self.found.segments
        if item.segment >= 0 and item.segment == len(segments) - 1:
            last = segments[-1]
            self.found.replace(last.end, placed.start, "\n")
            last.end = placed.end
            return
        item.first = item.first or result
        self._add("list_item", placed, result, item.level, result.label)
        item.segment = len(segments) - 1

    def _tr_close(self, token: Token) -> None:
        """One row of a pipe table: its cells joined with `` | ``."""
        line = self.row[0].map[0] if self.row and self.row[0].map else None
        if line is None:
            return
        ls, le = self.lines.span(line)
        cells: list[tuple[int, int]] = []
        cursor = ls
        for cell in self.row:
            if not cell.content:
                cells.append((-1, -1))
                continue
            a, b, cmap = align_cell(self.text, cursor, le, cell.content, self.found)
            if a < 0:
                continue
            self._edit_inline(cell, Aligned(a, b, cmap), nav=False)
            cells.append((a, b))
            cursor = b
        shown = [i for i, (a, _) in enumerate(cells) if a >= 0]
        if not shown:
            return
        for prev, nxt in zip(shown, shown[1:], strict=False):
            self.found.replace(cells[prev][1], cells[nxt][0], " | " * (nxt - prev))
        self.found.add("table_row", cells[shown[0]][0], cells[shown[-1]][1])

    def _fence(self, token: Token) -> None:
        self._code(token, token.map[0] + 1 if token.map else 0)

    def _code_block(self, token: Token) -> None:
        self._code(token, token.map[0] if token.map else 0)

    def _code(self, token: Token, first: int) -> None:
        content = token.content.removesuffix("\n")
        if token.map is None or not content.strip():
            return
        placed = align_lines(self.lines, first, content, self.found)
        self.found.add("code", placed.start, placed.end)
        self._merge_break()

    def _html_block(self, token: Token) -> None:
        content = token.content.removesuffix("\n")
        if token.map is None or not content.strip():
            return
        placed = align_lines(self.lines, _first_line(token), content, self.found)
        kind, level = self._prose_kind()
        walker = HtmlWalker(content, self.found, to_src=placed.to_src, kind=kind, level=level)
        self.hidden = walker.walk()
        self._merge_break()

    # --- helpers

    def _edit_inline(self, token: Token, placed: Aligned, nav: bool = True) -> InlineResult:
        edits = InlineEdits(self.found, placed.to_src, token.content, nav=nav)
        return edits.run(token, len(token.content))

    def _add(
        self, kind: BlockKind, placed: Aligned, result: InlineResult, level: int, label: str
    ) -> None:
        """Record a block, split where HTML block tags sat inside its text."""
        start = placed.start
        for a, b in result.splits:
            self.found.add(kind, start, a, level, label)
            start = b
        self.found.add(kind, start, placed.end, level, label)

    def _prose_kind(self) -> tuple[BlockKind, int]:
        inner = self.containers[-1] if self.containers else None
        if isinstance(inner, _Item):
            return "list_item", inner.level
        return ("quote", 0) if inner == "quote" else ("paragraph", 0)

    def _merge_break(self) -> None:
        """A code or HTML block inside a list item ends the item's current block."""
        for c in self.containers:
            if isinstance(c, _Item):
                c.segment = -1

    def _skip_hidden(self, token: Token) -> None:
        """Drop blocks inside an HTML element that an earlier HTML block left open."""
        assert token.map is not None
        a, _ = self.lines.span(token.map[0])
        _, b = self.lines.span(token.map[1] - 1)
        self.found.dropped.append((a, b, "hidden-html"))
        if re.search(rf"</{re.escape(self.hidden or '')}\s*>", self.text[a:b], re.I):
            self.hidden = None

