"""html.parser with offsets: every token it reports comes with its ``[start, end)``."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

from reportrag.ingest.htmltags import VOID_TAGS


class OffsetParser(HTMLParser):
    """Tokenize HTML, calling ``on_*`` with source offsets; subclasses decide what to keep."""

    # Events are held back by one: a token's end is where the next one starts, which holds
    # for every kind of token (comments, declarations, tags the tokenizer repaired) whatever
    # the Python version. Text the tokenizer never reported (an unfinished construct at the
    # end) goes to ``on_skipped``.

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=False)
        self.src = text
        self._line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self._pending: tuple[str, int, tuple] | None = None

    def run(self) -> None:
        """Tokenize the whole text."""
        self.feed(self.src)
        self.close()
        if self._pending:
            self._dispatch(*self._pending, len(self.src))
            self._pending = None

    # --- what subclasses implement

    def on_start(self, tag: str, attrs: dict[str, str], start: int, end: int) -> None:
        """A start tag ``src[start:end]``."""

    def on_end(self, tag: str, start: int, end: int) -> None:
        """An end tag (empty when a ``<tag/>`` closes itself)."""

    def on_text(self, text: str, start: int, end: int, decoded: bool) -> None:
        """Text; ``decoded`` when it is a character reference that reads as ``text``."""

    def on_skipped(self, start: int, end: int, reason: str) -> None:
        """Source that shows nothing: comments, declarations, unreported debris."""

    # --- html.parser callbacks

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self._queue("start", tag, attrs, self.get_starttag_text() or "", False)

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        self._queue("start", tag, attrs, self.get_starttag_text() or "", True)

    def handle_endtag(self, tag: str) -> None:
        self._queue("end", tag)

    def handle_data(self, data: str) -> None:
        self._queue("data", data)

    def handle_entityref(self, name: str) -> None:
        self._queue("ref")

    def handle_charref(self, name: str) -> None:
        self._queue("ref")

    def handle_comment(self, data: str) -> None:
        self._queue("junk", "html-comment")

    def handle_decl(self, decl: str) -> None:
        self._queue("junk", "")

    def handle_pi(self, data: str) -> None:
        self._queue("junk", "")

    def unknown_decl(self, data: str) -> None:
        self._queue("junk", "")

    def _queue(self, kind: str, *payload: object) -> None:
        line, col = self.getpos()
        start = self._line_starts[line - 1] + col
        if self._pending:
            self._dispatch(*self._pending, start)
        self._pending = (kind, start, payload)

    def _dispatch(self, kind: str, start: int, payload: tuple, end: int) -> None:
        if kind == "data":
            (data,) = payload
            self.on_text(data, start, min(start + len(data), end), False)
            if start + len(data) < end:
                self.on_skipped(start + len(data), end, "")
        elif kind == "ref":
            raw = self.src[start:end]
            self.on_text(html.unescape(raw), start, end, True)
        elif kind == "start":
            tag, attrs, text, closed = payload
            tag_end = min(start + len(text), end)
            self.on_start(tag, {k: v or "" for k, v in attrs}, start, tag_end)
            if closed and tag not in VOID_TAGS:
                self.on_end(tag, tag_end, tag_end)
            if tag_end < end:
                self.on_skipped(tag_end, end, "")
        elif kind == "end":
            self.on_end(payload[0], start, end)
        else:
            self.on_skipped(start, end, payload[0])
