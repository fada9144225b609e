"""HTML page parsing rules: structure, chrome dropped, entities, exact offsets."""

from __future__ import annotations

from tests.parsing import blocks_text, leaked_tags, shape
from tests.parsing import parse_page as parse


def page(body: str, head: str = "<title>Page</title>") -> str:
    return f"<!DOCTYPE html>\n<html><head>{head}</head>\n<body>\n{body}\n</body></html>\n"


def test_blocks_of_a_page() -> None:
    raw = page(
        "<h1>Main &amp; only</h1>\n<p>First <b>para</b>,\n  wrapped.</p>\n"
        "<ul><li>one</li><li>two<ul><li>inner</li></ul>after</li></ul>\n"
        "<ol><li><p>loose</p><p>item</p></li></ol>\n"
        "<blockquote><p>Said.</p></blockquote>\n"
        "<pre><code class=\"py\">if a &lt; b:\n    pass</code></pre>\n"
        "<div>Loose text<br/>next line</div>"
    )
    assert shape(parse(raw)) == [
        ("heading", 1, "Main & only"),
        ("paragraph", 0, "First para,\nwrapped."),
        ("list_item", 0, "one"),
        ("list_item", 0, "two"),
        ("list_item", 1, "inner"),
        ("list_item", 0, "after"),
        ("list_item", 0, "loose\nitem"),
        ("quote", 0, "Said."),
        ("code", 0, "if a < b:\n    pass"),
        ("paragraph", 0, "Loose text\nnext line"),
    ]


def test_tables_by_row() -> None:
    raw = page(
        "<table><caption>Prices</caption><thead><tr><th>Item</th><th>Cost</th></tr></thead>\n"
        "<tbody>\n<tr>\n  <td>Tea</td>\n  <td><p>1 <i>€</i></p></td>\n</tr>\n"
        "<tr><td>Nested</td><td><table><tr><td>a</td><td>b</td></tr></table></td></tr>\n"
        "</tbody></table>"
    )
    assert shape(parse(raw)) == [
        ("paragraph", 0, "Prices"),
        ("table_row", 0, "Item | Cost"),
        ("table_row", 0, "Tea | 1 €"),
        ("table_row", 0, "Nested | a b"),
    ]


def test_title_from_title_or_h1() -> None:
    assert parse(page("<h1>Intro</h1>", "<title>Intro - Site</title>")).title == "Intro"
    assert parse(page("<h1>Other</h1>", "<title>Real &amp; title</title>")).title == (
        "Real & title"
    )
    assert parse(page("<h2>Only h2</h2>", "")).title == "Only h2"
    assert parse(page("<h1>Heading <small>v2</small></h1>", "")).title == "Heading v2"
    assert parse("<p>no headings</p>").title == ""


def test_head_and_page_chrome_are_dropped() -> None:
    raw = page(
        "<header><a href='/'>Home</a> <a href='/docs'>Docs</a></header>\n"
        "<nav><ul><li><a href='/a'>A</a></li></ul></nav>\n"
        "<main><article><header><h1>Article title</h1></header>\n<p>Body.</p>\n"
        "<aside>Related stuff</aside><form><label>Search</label><input></form>\n"
        "<button>Copy</button><script>var x = '<p>no</p>';</script>"
        "<style>p { color: red }</style><noscript>Enable JS</noscript>"
        "<svg><title>icon</title><path d='M0'/></svg><!-- note --></article></main>\n"
        "<footer>© 2024 Site</footer>",
        "<title>T</title><meta charset='utf-8'><style>body{}</style><script>x()</script>",
    )
    doc = parse(raw)
    assert shape(doc) == [("heading", 1, "Article title"), ("paragraph", 0, "Body.")]
    assert doc.title == "T"
    removed = {why for _, _, why in doc.cleaned.removed}
    assert {"page-chrome", "hidden-html"} <= removed


def test_images_and_badge_links() -> None:
    raw = page(
        "<p><img src='arch.png' alt='Architecture of the ingestion pipeline'></p>\n"
        "<p><img src='logo.svg' alt='Project logo'> <img src='x.gif' width='1' height='1'></p>\n"
        "<p><a href='https://ci.test'><img src='https://img.shields.io/x.svg' alt='CI'></a>"
        " Text after a badge.</p>\n"
        "<p><img src='data:image/png;base64,AAAA' alt='inline'>Data gone.</p>"
    )
    assert blocks_text(parse(raw)) == [
        "Architecture of the ingestion pipeline",
        "Text after a badge.",
        "Data gone.",
    ]


def test_navigation_rows_contents_and_permalinks() -> None:
    raw = page(
        "<p><a href='de/'>Deutsch</a> | <a href='en/'>English</a> | "
        "<a href='fr/'>Français</a></p>\n"
        "<div class='crumbs'><a href='/'>Home</a> &gt; <a href='/docs'>Docs</a></div>\n"
        "<h2>On this page</h2><ul><li><a href='#a'>A</a></li><li><a href='#b'>B</a></li></ul>\n"
        "<h2 id='a'>Alpha <a class='anchor' href='#a'>¶</a></h2><p>Text.</p>"
    )
    assert shape(parse(raw)) == [("heading", 2, "Alpha"), ("paragraph", 0, "Text.")]


def test_implied_end_tags() -> None:
    raw = page("<p>one<p>two<ul><li>a<li>b</ul><table><tr><td>x<td>y<tr><td>z</table><p>end")
    assert shape(parse(raw)) == [
        ("paragraph", 0, "one"),
        ("paragraph", 0, "two"),
        ("list_item", 0, "a"),
        ("list_item", 0, "b"),
        ("table_row", 0, "x | y"),
        ("table_row", 0, "z"),
        ("paragraph", 0, "end"),
    ]


def test_entities_and_offsets() -> None:
    raw = "<p>caf&eacute; &lt;tag&gt; &#8364;5 &unknown; &amp</p>"
    doc = parse(raw)
    assert doc.text == "café <tag> €5 &unknown; &"
    assert raw[slice(*doc.cleaned.to_raw_span(3, 4))] == "&eacute;"
    assert leaked_tags(doc, raw) == []
