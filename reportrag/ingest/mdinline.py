"""Markdown inline content: where each markup token sits in the source, and what to edit.

markdown-it-py's inline tokens carry no offsets, so every inline rule is wrapped to record
the source span it consumed (``token.meta["span"]``, in the inline content's offsets). Text
is never re-rendered: the spans of markup (emphasis markers, link brackets and URLs, images,
code backticks, escapes, entities, inline HTML) become edits on the source, and everything
else stays where it is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser

from markdown_it import MarkdownIt
from markdown_it.rules_inline import StateInline
from markdown_it.token import Token

from reportrag.ingest.chrome import (
    NavStats,
    is_badge_image,
    is_decoration,
    is_in_page,
    meaningful_alt,
)
from reportrag.ingest.extract import Extraction
from reportrag.ingest.htmltags import BLOCK_TAGS, HIDDEN_TAGS

_DELIMITERS = frozenset(
    {"em_open", "em_close", "strong_open", "strong_close", "s_open", "s_close"}
)


def make_parser() -> MarkdownIt:
    """CommonMark with tables and strikethrough, recording the source span of inline tokens."""
    md = MarkdownIt("commonmark").enable(["table", "strikethrough"])
    md.core.ruler.disable("text_join")  # keep escapes and entities as their own tokens
    md.inline.ruler2.disable("fragments_join")  # keep emphasis markers' tokens (and spans)
    ruler = md.inline.ruler
    for name, rule in zip(ruler.get_active_rules(), ruler.getRules(""), strict=True):
        if name not in ("text", "linkify"):  # these push no token (text goes to `pending`)
            ruler.at(name, _recording(rule))
    return md


def _recording(rule: Callable[[StateInline, bool], bool]) -> Callable[[StateInline, bool], bool]:
    def run(state: StateInline, silent: bool) -> bool:
        if silent:
            return rule(state, silent)
        start, first = state.pos, len(state.tokens)
        flushes = bool(state.pending)  # pushing a token first turns pending text into one
        ok = rule(state, silent)
        if ok and len(state.tokens) > first:
            new = state.tokens[first:]
            if flushes and new[0].type == "text":
                new = new[1:]
            _record(state, new, start, state.pos)
        return ok

    return run


def _record(state: StateInline, new: list[Token], start: int, end: int) -> None:
    if not new:
        return
    if len(new) == 1:
        new[0].meta["span"] = (start, end)
        return
    first, last = new[0], new[-1]
    if first.type == "link_open" and last.type == "link_close":
        if first.markup == "autolink":  # <https://…>: only the angle brackets are markup
            first.meta["span"], last.meta["span"] = (start, start + 1), (end - 1, end)
        else:  # [text](url): the bracket, and from the label's end to the link's end
            label_end = state.md.helpers.parseLinkLabel(state, start, True)
            first.meta["span"], last.meta["span"] = (start, start + 1), (label_end, end)
        return
    at = start  # a run of emphasis or strikethrough markers: one text token per marker
    for token in new:
        if token.type == "text" and "span" not in token.meta:
            token.meta["span"] = (at, at + len(token.content))
            at += len(token.content)


@dataclass
class InlineResult:
    """What one inline run is made of, beyond its edits."""

    nav: NavStats = field(default_factory=NavStats)
    label: str = ""
    anchor_links: int = 0  # links to this page's anchors, and to anywhere else
    other_links: int = 0
    splits: list[tuple[int, int]] = field(default_factory=list)  # block tags inside (source)

    @property
    def anchor_only(self) -> bool:
        """One link to an anchor of this page and nothing else: a contents entry."""
        return self.anchor_links == 1 and not (self.other_links or self.nav.prose)


@dataclass
class _Link:
    open_span: tuple[int, int]
    href: str
    html: bool
    text: list[str] = field(default_factory=list)
    has_image: bool = False


class _Tag(HTMLParser):
    """Reads one inline HTML token: a start tag, an end tag or a comment."""

    def read(self, text: str) -> tuple[str, str, dict[str, str]]:
        self.reset()
        self.found: tuple[str, str, dict[str, str]] = ("other", "", {})
        self.feed(text)
        self.close()
        return self.found

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.found = ("start", tag, {k: v or "" for k, v in attrs})

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        self.found = ("start", tag, {k: v or "" for k, v in attrs})

    def handle_endtag(self, tag: str) -> None:
        self.found = ("end", tag, {})

    def handle_comment(self, data: str) -> None:
        self.found = ("comment", "", {})


class InlineEdits:
    """Turn one inline token's children into edits; ``to_src`` maps content to source."""

    def __init__(
        self, found: Extraction, to_src: Callable[[int], int], source: str, *, nav: bool = True
    ) -> None:
        self.found, self.to_src, self.source, self.track_nav = found, to_src, source, nav
        self.result = InlineResult()
        self.links: list[_Link] = []
        self.hidden: tuple[str, int] | None = None  # an open <script>/<svg>…: tag, start
        self.tag = _Tag(convert_charrefs=False)

    def run(self, inline: Token, content_end: int) -> InlineResult:
        """Edit the markup of ``inline`` (whose content is ``content_end`` long)."""
        label: list[str] = []
        for token in inline.children or ():
            span = token.meta.get("span")
            if self.hidden:
                if token.type == "html_inline" and span:
                    self._hidden_end(token, span)
                continue
            text = self._token(token, span)
            if text:
                label.append(text)
                if self.links:
                    self.links[-1].text.append(text)
                elif self.track_nav:  # only paragraphs and list items can be menus
                    self.result.nav.text(text)
        while self.links:
            self._close_link(self.links.pop(), (content_end, content_end))
        if self.hidden:
            self._delete(self.hidden[1], content_end, "hidden-html")
        self.result.label = " ".join("".join(label).split())
        return self.result

    def _delete(self, a: int, b: int, reason: str = "") -> None:
        self.found.delete(self.to_src(a), self.to_src(b), reason)

    def _token(self, token: Token, span: tuple[int, int] | None) -> str:
        """Add the token's edits; return the text it shows."""
        kind = token.type
        if kind in ("text", "code_inline", "text_special") and not span:
            return token.content
        if span is None:
            return "\n" if kind in ("softbreak", "hardbreak") else ""
        a, b = span
        if kind == "text":
            if token.content != self.source[a:b]:  # an emphasis marker that became empty
                self.found.replace(self.to_src(a), self.to_src(b), token.content)
            return token.content
        if kind in _DELIMITERS:
            self._delete(a, b)
        elif kind == "text_special":
            if token.info == "escape":
                if token.content != token.markup:  # "\a" is no escape: it shows as written
                    self._delete(a, a + 1)
            else:
                self.found.replace(self.to_src(a), self.to_src(b), token.content)
            return token.content
        elif kind == "code_inline":
            self._code_span(a, b)
            return token.content
        elif kind == "hardbreak" and self.source.startswith("\\", a):
            self._delete(a, a + 1)
        elif kind == "link_open":
            self.links.append(_Link(span, str(token.attrs.get("href", "") or ""), False))
        elif kind == "link_close":
            mine = [i for i, link in enumerate(self.links) if not link.html]
            if mine:  # HTML links opened inside it stay open (unbalanced input)
                self._close_link(self.links.pop(mine[-1]), span)
            else:
                self._delete(a, b)
        elif kind == "image":
            alt = "".join(c.content for c in token.children or () if c.type != "softbreak")
            return self._image(a, b, str(token.attrs.get("src", "")), alt, {})
        elif kind == "html_inline":
            return self._html(token.content, a, b)
        return "\n" if kind in ("softbreak", "hardbreak") else ""

    def _code_span(self, a: int, b: int) -> None:
        """Drop the backticks around inline code, and the one space each side they pad."""
        n = len(self.source[a:b]) - len(self.source[a:b].lstrip("`"))
        inner = self.source[a + n : b - n]
        padded = len(inner) >= 2 and inner[0] in " \n" and inner[-1] in " \n"
        pad = int(padded and bool(inner.strip()))
        self._delete(a, a + n + pad)
        self._delete(b - n - pad, b)

    def _image(self, a: int, b: int, src: str, alt: str, attrs: dict[str, str]) -> str:
        self.result.nav.images += 1
        if self.links:
            self.links[-1].has_image = True
            self._delete(a, b, "image")
            return ""
        badge = is_badge_image(src, alt, attrs.get("width", ""), attrs.get("height", ""))
        if badge or not meaningful_alt(alt):
            self._delete(a, b, "badge" if badge else "image")
            return ""
        self.found.replace(self.to_src(a), self.to_src(b), " ".join(alt.split()))
        return ""

    def _close_link(self, link: _Link, close: tuple[int, int]) -> None:
        text = " ".join("".join(link.text).split())
        if not text or is_decoration(text):  # a badge (image only) or a permalink mark
            self._delete(link.open_span[0], close[1], "badge" if link.has_image else "permalink")
            return
        self._delete(*link.open_span)
        self._delete(*close)
        self.result.nav.links += 1
        if is_in_page(link.href):
            self.result.anchor_links += 1
        else:
            self.result.other_links += 1

    def _html(self, text: str, a: int, b: int) -> str:
        """One inline HTML tag or comment."""
        what, tag, attrs = self.tag.read(text)
        if what == "comment":
            self._delete(a, b, "html-comment")
        elif what == "start" and tag in HIDDEN_TAGS and not text.rstrip().endswith("/>"):
            self.hidden = (tag, a)
        elif what == "start" and tag == "br":
            self.found.replace(self.to_src(a), self.to_src(b), "\n")
            return "\n"
        elif what == "start" and tag == "img":
            return self._image(a, b, attrs.get("src", ""), attrs.get("alt", ""), attrs)
        elif what == "start" and tag == "a":
            self.links.append(_Link((a, b), attrs.get("href", ""), True))
        elif what == "end" and tag == "a" and self.links and self.links[-1].html:
            self._close_link(self.links.pop(), (a, b))
        else:
            self._delete(a, b)
            if tag in BLOCK_TAGS:  # a paragraph break written as HTML inside the text
                self.result.splits.append((self.to_src(a), self.to_src(b)))
        return ""

    def _hidden_end(self, token: Token, span: tuple[int, int]) -> None:
        assert self.hidden is not None
        what, tag, _ = self.tag.read(token.content)
        if what == "end" and tag == self.hidden[0]:
            self._delete(self.hidden[1], span[1], "hidden-html")
            self.hidden = None
