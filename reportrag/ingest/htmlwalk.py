"""Walk HTML (a whole page, or a fragment inside Markdown) into blocks and edits.

The stdlib ``html.parser`` tokenizes; this module keeps a stack of open elements (one entry
per element, so deep nesting costs memory, never recursion) and decides, tag by tag, what a
reader sees: block-level tags end and start blocks, inline tags and attributes are deleted,
``<br>`` becomes a line break, entities are decoded, and hidden or chrome elements (scripts,
styles, SVG, comments; on whole pages also nav, header, footer, aside, forms) are dropped with
everything inside them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from reportrag.ingest.chrome import (
    NavStats,
    is_badge_image,
    is_decoration,
    is_in_page,
    is_toc_label,
    meaningful_alt,
)
from reportrag.ingest.document import BlockKind
from reportrag.ingest.extract import Extraction
from reportrag.ingest.htmlevents import OffsetParser
from reportrag.ingest.htmltags import (
    BLOCK_TAGS,
    CLOSES_P,
    HEADINGS,
    HIDDEN_TAGS,
    IMPLIED,
    PAGE_CHROME_TAGS,
    SECTIONING,
    STRUCTURAL,
    VOID_TAGS,
    Node,
)

_SCOPE_WALK = 64  # implied-close look-ups stop after this many open elements (keeps it linear)
_TAG_START = re.compile(r"[A-Za-z/!?]")


@dataclass(slots=True)
class _Link:
    start: int
    href: str
    text: list[str] = field(default_factory=list)
    has_image: bool = False


class HtmlWalker(OffsetParser):
    """Collect the blocks and edits of one HTML text into an :class:`Extraction`."""

    def __init__(
        self,
        text: str,
        found: Extraction,
        *,
        to_src: Callable[[int], int] = int,
        page: bool = False,
        kind: BlockKind = "paragraph",
        level: int = 0,
    ) -> None:
        super().__init__(text)
        self.found, self.to_src, self.page = found, to_src, page
        self.stack = [Node("#root", kind, level, "item" if kind == "list_item" else "flow")]
        self.counts: dict[str, int] = {}
        self.hidden = 0
        self.sectioning = 0
        self.links: list[_Link] = []
        self.swallow = False
        self.title: list[str] = []
        self.in_title = False
        self.outer_list: Node | None = None
        self._begin_segment(0)

    def walk(self) -> str | None:
        """Parse the whole text; return the hidden element still open at its end, if any."""
        self.run()
        end = len(self.src)
        open_hidden = next((n.tag for n in self.stack if n.hidden), None)
        while len(self.stack) > 1:
            self._pop(end, end, None)
        self._end_segment(end)
        return open_hidden

    # --- tokens

    def on_text(self, text: str, start: int, end: int, decoded: bool) -> None:
        if decoded and not self.hidden and text != self.src[start:end]:
            self._replace(start, end, text)
        self._data(text, start, end, decoded)

    def on_start(self, tag: str, attrs: dict[str, str], start: int, end: int) -> None:
        self._start(tag, attrs, start, end)

    def on_end(self, tag: str, start: int, end: int) -> None:
        self._end(tag, start, end)

    def on_skipped(self, start: int, end: int, reason: str) -> None:
        self._delete(start, end, reason)

    # --- edits and blocks, in source offsets

    def _delete(self, a: int, b: int, reason: str) -> None:
        if b > a and not self.hidden:
            self.found.delete(self.to_src(a), self.to_src(b), reason)

    def _replace(self, a: int, b: int, text: str) -> None:
        self.found.replace(self.to_src(a), self.to_src(b), text)

    def _begin_segment(self, at: int) -> None:
        top = self.stack[-1]
        self.seg_start, self.seg_kind, self.seg_level = at, top.kind, top.level
        self.nav = NavStats()
        self.label: list[str] = []

    def _end_segment(self, at: int) -> None:
        label = " ".join("".join(self.label).split())
        if not label and not self.nav.images:
            return
        if self.seg_kind in ("paragraph", "quote") and self.nav.is_navigation():
            self.found.dropped.append((self.to_src(self.seg_start), self.to_src(at), "navigation"))
            return
        level = self.seg_level
        self.found.add(self.seg_kind, self.to_src(self.seg_start), self.to_src(at), level, label)

    def _boundary(self, a: int, b: int) -> None:
        self._end_segment(a)
        self._begin_segment(b)

    # --- content

    def _data(self, data: str, a: int, b: int, decoded: bool = False) -> None:
        if self.in_title:
            self.title.append(data)
        if self.hidden:
            return
        if self.swallow:  # the rest of a tag the tokenizer could not finish (truncated input)
            self.swallow = False
            cut = data.find(">")
            self._delete(a, b if cut < 0 else a + cut + 1, "")
            return
        top = self.stack[-1]
        if not decoded and data == "<" and _TAG_START.match(self.src, b):
            self.swallow = True
            self._delete(a, b, "")
            return
        if top.tag in STRUCTURAL and data.isspace():
            self._delete(a, b, "")
            return
        if len(self.label) < 64:
            self.label.append(data)
        if self.links:
            self.links[-1].text.append(data)
            return
        self.nav.text(data)
        if data.strip() and not is_decoration(data):
            item = self._innermost("li")
            if item:
                item.prose = True

    def _start(self, tag: str, attrs: dict, a: int, b: int) -> None:
        if tag == "title" and not (self.title or self.counts.get("svg") or self.counts.get("math")):
            self.in_title = True  # the page's own title, not an SVG's tooltip
        if self.hidden:
            self._push(Node(tag, "paragraph", hidden=tag in HIDDEN_TAGS, start=a))
            return
        if tag in ("li", "dt", "dd", "td", "th", "tr", "p", "option") or tag in CLOSES_P:
            self._implied_close(tag, a)
        top = self.stack[-1]
        if tag in HIDDEN_TAGS or (self.page and tag in PAGE_CHROME_TAGS and not self._content(tag)):
            boundary = tag in BLOCK_TAGS and top.mode in ("flow", "item")
            if boundary:
                self._end_segment(a)
            self._push(Node(tag, top.kind, top.level, start=a, hidden=True, boundary=boundary))
            return
        if tag in SECTIONING:
            self.sectioning += 1
        if tag == "br":
            self._replace(a, b, "\n")
        elif tag == "img":
            self._image(attrs, a, b)
        elif tag == "hr":
            self._delete(a, b, "")
            if top.mode in ("flow", "item"):
                self._boundary(a, b)
        elif tag in VOID_TAGS:
            self._delete(a, b, "")
        elif tag == "a":
            self.links.append(_Link(a, attrs.get("href") or ""))
            self._delete(a, b, "")
            self._push(Node(tag, top.kind, top.level, top.mode, lists=top.lists, start=a))
        elif tag in BLOCK_TAGS:
            self._open_block(tag, top, a, b)
        else:
            self._delete(a, b, "")
            self._push(Node(tag, top.kind, top.level, top.mode, lists=top.lists, start=a))

    def _open_block(self, tag: str, top: Node, a: int, b: int) -> None:
        inherit = Node(tag, top.kind, top.level, top.mode, lists=top.lists, start=a)
        if tag in ("td", "th") and top.mode == "row":
            self._replace(a, b, " | ") if top.cells else self._delete(a, b, "")
            top.cells += 1
            inherit.mode, inherit.sep = "inline", " "
        elif top.mode in ("code", "inline", "row"):  # flattened into the text around them
            self._delete(a, b, "") if top.mode == "code" else self._replace(a, b, " ")
            inherit.sep = "" if top.mode == "code" else " "
            inherit.mode = "code" if top.mode == "code" else "inline"
        elif top.mode == "item" and tag not in ("ul", "ol", "menu", "dir", "pre", "table", "li"):
            self._replace(a, b, "\n")
            inherit.sep = "\n"
        else:
            self._delete(a, b, "")
            self._end_segment(a)
            node = self._block_node(tag, top, a)
            self._push(node)
            self._begin_segment(b)
            return
        self._push(inherit)

    def _block_node(self, tag: str, top: Node, a: int) -> Node:
        """The context a block-level element opens for the text inside it."""
        prose: BlockKind = "quote" if top.kind == "quote" else "paragraph"
        node = Node(tag, prose, 0, "flow", True, top.lists, a)
        if tag in HEADINGS:
            node.kind, node.level, node.mode = "heading", HEADINGS[tag], "inline"
        elif tag == "li":
            node.kind, node.level, node.mode = "list_item", max(top.lists - 1, 0), "item"
        elif tag in ("ul", "ol", "menu", "dir"):
            node.lists = top.lists + 1
            node.first_segment = len(self.found.segments)
            if node.lists == 1:
                self.outer_list = node
        elif tag == "tr":
            node.kind, node.mode = "table_row", "row"
        elif tag in ("td", "th"):  # a cell outside any row: a row of its own
            node.kind, node.mode = "table_row", "inline"
        elif tag == "pre":
            node.kind, node.mode = "code", "code"
        elif tag == "blockquote":
            node.kind = "quote"
        elif tag in ("caption", "summary", "dt", "figcaption", "legend"):
            node.mode = "inline"
        return node

    def _image(self, attrs: dict, a: int, b: int) -> None:
        src, alt = attrs.get("src") or "", attrs.get("alt") or ""
        if self.links:
            self.links[-1].has_image = True
            self._delete(a, b, "image")
            return
        badge = is_badge_image(src, alt, attrs.get("width") or "", attrs.get("height") or "")
        if badge or self.stack[-1].mode == "code" or not meaningful_alt(alt):
            self._delete(a, b, "badge" if badge else "image")
        else:
            self._replace(a, b, " ".join(alt.split()))
            self.label.append(alt)
        self.nav.images += 1

    def _end(self, tag: str, a: int, b: int) -> None:
        if not self.counts.get(tag):
            self._delete(a, b, "")  # a stray end tag
            return
        while self.stack[-1].tag != tag:
            self._pop(a, a, None)
        self._pop(a, b, tag)

    # --- the stack

    def _push(self, node: Node) -> None:
        self.stack.append(node)
        self.counts[node.tag] = self.counts.get(node.tag, 0) + 1
        if node.hidden:
            self.hidden += 1

    def _pop(self, a: int, b: int, tag: str | None) -> None:
        """Close the innermost element; ``[a, b)`` is its end tag (empty when implied)."""
        node = self.stack.pop()
        self.counts[node.tag] -= 1
        if node.tag == "title":
            self.in_title = False
        if node.hidden:
            self.hidden -= 1
            if not self.hidden:
                reason = "page-chrome" if node.tag in PAGE_CHROME_TAGS else "hidden-html"
                self._delete(node.start, b, reason)
                if node.boundary:
                    self._begin_segment(b)
            return
        if self.hidden:
            return
        if node.tag in SECTIONING:
            self.sectioning -= 1
        if node.tag == "a" and self.links:
            self._close_link(self.links.pop(), a, b)
        elif node.boundary:
            self._delete(a, b, "")
            self._boundary(a, b)
        else:
            self._replace(a, b, node.sep) if node.sep else self._delete(a, b, "")
        if node.tag == "li":
            self._count_item(node)
        elif node is self.outer_list:
            self.outer_list = None
            self._maybe_drop_contents(node)

    def _close_link(self, link: _Link, a: int, b: int) -> None:
        text = " ".join("".join(link.text).split())
        if not text:
            self._delete(link.start, b, "badge" if link.has_image else "")
            if link.has_image:
                self.nav.images += 1
            return
        if is_decoration(text):  # a permalink mark: ¶, #, §
            self._delete(link.start, b, "permalink")
            return
        self._delete(a, b, "")
        self.nav.links += 1
        item = self._innermost("li")
        if item and is_in_page(link.href):
            item.anchor_links += 1
        elif item:
            item.prose = True

    def _count_item(self, item: Node) -> None:
        outer = self.outer_list
        if outer is not None:
            outer.items += 1
            outer.anchor_items += item.anchor_links == 1 and not item.prose

    def _maybe_drop_contents(self, lst: Node) -> None:
        """Drop a list that is a table of contents (and the heading that announces it)."""
        first = lst.first_segment
        before = self.found.segments[first - 1] if first > 0 else None
        announced = before is not None and is_toc_label(before.label)
        share = lst.anchor_items / lst.items if lst.items else 0.0
        if (announced and share >= 0.5) or (lst.items >= 3 and share >= 0.8):
            if announced:
                first -= 1
            self.found.drop_segments(first, "table-of-contents")

    def _innermost(self, tag: str) -> Node | None:
        if not self.counts.get(tag):
            return None
        for node in reversed(self.stack[-_SCOPE_WALK:]):
            if node.tag == tag:
                return node
        return None

    def _implied_close(self, tag: str, a: int) -> None:
        """Close what a start tag closes by itself: an open <p>, <li>, cell or row."""
        targets, scope = IMPLIED.get(tag, (("p",), BLOCK_TAGS - {"p"}))
        if not any(self.counts.get(t) for t in targets):
            return
        for depth, node in enumerate(reversed(self.stack[-_SCOPE_WALK:])):
            if node.tag in targets:
                for _ in range(depth + 1):
                    self._pop(a, a, None)
                return
            if node.tag in scope or node.tag == "#root":
                return

    def _content(self, tag: str) -> bool:
        """A header or footer inside an article is the article's own, not page chrome."""
        return tag in ("header", "footer") and self.sectioning > 0
