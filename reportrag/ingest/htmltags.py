"""HTML element categories for the walker, and the open-element record it keeps."""

from __future__ import annotations

from dataclasses import dataclass

from reportrag.ingest.document import BlockKind

HEADINGS = {f"h{n}": n for n in range(1, 7)}
BLOCK_TAGS = frozenset(
    "address article aside blockquote body caption center dd details dialog dir div dl dt "
    "fieldset figcaption figure footer form header hgroup hr html legend li main menu nav ol "
    "p pre section summary table tbody td tfoot th thead tr ul".split()
) | frozenset(HEADINGS)
VOID_TAGS = frozenset(
    "area base br col embed hr img input keygen link meta param source track wbr".split()
)
HIDDEN_TAGS = frozenset(
    "script style svg math noscript template iframe object canvas head title".split()
)
PAGE_CHROME_TAGS = frozenset("nav header footer aside form button select dialog".split())
SECTIONING = frozenset({"article", "main"})  # a header or footer inside these is content
STRUCTURAL = frozenset("table thead tbody tfoot tr colgroup ul ol dl menu dir".split())
CLOSES_P = BLOCK_TAGS - frozenset("li td th tr tbody thead tfoot caption dd dt body html".split())

_LIST_SCOPE = frozenset({"ul", "ol", "menu", "dir", "table", "td", "th"})
_TABLE_SCOPE = frozenset({"table"})
# A start tag that closes an open element by itself (<li> ends the open <li>): which ones,
# looking no further out than the first of the scope tags.
IMPLIED: dict[str, tuple[tuple[str, ...], frozenset[str]]] = {
    "li": (("li",), _LIST_SCOPE),
    "dt": (("dt", "dd"), frozenset({"dl"})),
    "dd": (("dt", "dd"), frozenset({"dl"})),
    "td": (("td", "th"), frozenset({"tr"}) | _TABLE_SCOPE),
    "th": (("td", "th"), frozenset({"tr"}) | _TABLE_SCOPE),
    "tr": (("tr",), _TABLE_SCOPE | {"thead", "tbody", "tfoot"}),
    "option": (("option",), frozenset({"select", "datalist"})),
}


@dataclass(slots=True)
class Node:
    """One open element and what the text directly inside it is."""

    tag: str
    kind: BlockKind
    level: int = 0
    mode: str = "flow"  # flow | item | inline | row | code
    boundary: bool = False  # it started a block, so its end ends one
    lists: int = 0  # how many lists it is inside
    start: int = 0
    sep: str = ""  # what its tags become when it does not start a block
    hidden: bool = False
    cells: int = 0  # table cells seen so far (rows)
    first_segment: int = 0  # outermost lists: where their blocks start (contents lists)
    items: int = 0  # outermost lists: list items, and those that are one in-page link
    anchor_items: int = 0
    anchor_links: int = 0  # list items: in-page links, and whether other text was seen
    prose: bool = False
