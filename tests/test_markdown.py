"""Markdown parsing rules: structure, what is kept and what is dropped, exact offsets."""

from __future__ import annotations

from pathlib import Path

import pytest

from reportrag.errors import DocumentError
from reportrag.ingest.clean import clean_text, decode_bytes
from reportrag.ingest.document import parse_document
from reportrag.ingest.markdown import parse_markdown
from tests.parsing import assert_maps_back, blocks_text, leaked_tags, shape
from tests.parsing import parse_md as md

REPO = Path(__file__).resolve().parents[1]


# --- structure --------------------------------------------------------------------------------


def test_headings_have_their_level_and_lose_their_markers() -> None:
    doc = md("# One #\n\nSetext two\n----------\n\n### Three {#three}\n\n###### Six\n")
    assert shape(doc) == [
        ("heading", 1, "One"),
        ("heading", 2, "Setext two"),
        ("heading", 3, "Three"),
        ("heading", 6, "Six"),
    ]
    assert doc.title == "One"


def test_heading_raw_span_contains_its_text() -> None:
    raw = "intro\n\n## Über *die* Sache ##\n"
    doc = md(raw)
    heading = doc.blocks[1]
    a, b = doc.cleaned.to_raw_span(heading.start, heading.end)
    assert doc.text[heading.start : heading.end] == "Über die Sache"
    assert raw[a:b] == "Über *die* Sache"


def test_blocks_are_separated_by_a_blank_line_and_keep_soft_breaks() -> None:
    doc = md("First line\nsecond line.\n\n\n\nNext paragraph.\n")
    assert doc.text == "First line\nsecond line.\n\nNext paragraph."
    assert [b.kind for b in doc.blocks] == ["paragraph", "paragraph"]


def test_list_items_are_blocks_with_nesting_levels_and_no_markers() -> None:
    raw = "- top\n  - nested\n    1. deeper\n- [ ] open task\n- [x] done task\n\n3) ordered\n"
    assert shape(md(raw)) == [
        ("list_item", 0, "top"),
        ("list_item", 1, "nested"),
        ("list_item", 2, "deeper"),
        ("list_item", 0, "open task"),
        ("list_item", 0, "done task"),
        ("list_item", 0, "ordered"),
    ]


def test_a_loose_list_items_paragraphs_make_one_block() -> None:
    doc = md("1. First paragraph\n   of the item.\n\n   Second paragraph.\n\n2. Next item\n")
    assert shape(doc) == [
        ("list_item", 0, "First paragraph\nof the item.\nSecond paragraph."),
        ("list_item", 0, "Next item"),
    ]


def test_containers_nest() -> None:
    raw = "- > quoted\n- item\n\n  | a | b |\n  |---|---|\n  | 1 | 2 |\n\n"
    raw += "> <div>\n> in <b>html</b>\n> </div>\n"
    assert shape(md(raw)) == [
        ("quote", 0, "quoted"),
        ("list_item", 0, "item"),
        ("table_row", 0, "a | b"),
        ("table_row", 0, "1 | 2"),
        ("quote", 0, "in html"),
    ]


def test_tabs_and_hard_breaks() -> None:
    assert shape(md("-\tfoo\n\n\t\tcode\tx\n")) == [("list_item", 0, "foo"), ("code", 0, "code\tx")]
    assert md("line  \nnext\\\nlast\n").text == "line\nnext\nlast"


def test_inline_code_shows_markup_as_text() -> None:
    raw = "Use the `<details>` element.\n"
    doc = md(raw)
    assert doc.text == "Use the <details> element."
    assert leaked_tags(doc, raw) == []


def test_block_quotes_and_alert_markers() -> None:
    doc = md("> Quoted *text*\n> goes on.\n>\n> [!NOTE]\n> Careful here.\n")
    assert shape(doc) == [("quote", 0, "Quoted text\ngoes on."), ("quote", 0, "Careful here.")]


def test_tables_become_rows_of_cells() -> None:
    raw = (
        "| Name | Value | Note |\n|:-----|------:|------|\n"
        "| `a\\|b` | **1** | [docs](https://x.test/d) |\n| c | | e |\n"
    )
    assert shape(md(raw)) == [
        ("table_row", 0, "Name | Value | Note"),
        ("table_row", 0, "a|b | 1 | docs"),
        ("table_row", 0, "c | | e"),
    ]


def test_fenced_and_indented_code_stay_verbatim() -> None:
    raw = (
        "Text:\n\n```python title=\"x\"\ndef f(x):\n\treturn  x  # <b>not html</b> &amp;\n"
        "\n\n    indented\n```\n\n    $ indented   code\n      more\n"
    )
    doc = md(raw)
    assert shape(doc) == [
        ("paragraph", 0, "Text:"),
        ("code", 0, "def f(x):\n\treturn  x  # <b>not html</b> &amp;\n\n\n    indented"),
        ("code", 0, "$ indented   code\n  more"),
    ]


def test_code_keeps_fullwidth_and_spacing_that_prose_normalises() -> None:
    doc = md("ＡＢＣ　x\n\n```\nＡＢＣ　x\n```\n")
    assert blocks_text(doc) == ["ABC x", "ＡＢＣ　x"]


# --- inline markup ----------------------------------------------------------------------------


def test_links_keep_their_text_and_lose_their_url() -> None:
    raw = (
        "See [the *guide*](https://example.com/guide \"Title\"), [a ref][r], <https://auto.test/x>"
        " and [](https://empty.test).\n\n[r]: https://example.com/ref\n"
    )
    doc = md(raw)
    assert doc.text == "See the guide, a ref, https://auto.test/x and ."
    assert "example.com" not in doc.text


def test_emphasis_strike_code_escapes_and_entities() -> None:
    doc = md(r"**Bold**, _em_, ~~gone~~, ``a `tick` b``, \*not em\*, &amp; &copy; &#x41;" + "\n")
    assert doc.text == "Bold, em, gone, a `tick` b, *not em*, & © A"
    assert md(r"C:\path\to \[x\]" + "\n").text == r"C:\path\to [x]"


def test_an_entity_maps_back_to_its_source() -> None:
    raw = "Caf&eacute; &amp; bar\n"
    doc = md(raw)
    assert doc.text == "Café & bar"
    assert doc.cleaned.to_raw_span(3, 4) == (3, 11)


def test_images_keep_only_meaningful_alt_text() -> None:
    raw = (
        "![Diagram of the storage and query layers](arch.png)\n\n"
        "![logo](logo.png)\n\n![screenshot.png](screenshot.png)\n\n![Chart](c.png)\n\n"
        "Text ![An icon for settings](gear.png) here.\n\n"
        "![数据处理流程示意图](flow.png)\n"
    )
    assert blocks_text(md(raw)) == [
        "Diagram of the storage and query layers",
        "Text here.",
        "数据处理流程示意图",
    ]


@pytest.mark.parametrize(
    "row",
    [
        "[![Build](https://github.com/o/r/actions/workflows/ci.yml/badge.svg)](https://ci.test)",
        "![PyPI version of the package](https://img.shields.io/pypi/v/pkg.svg)",
        "![Coverage report for this package](https://codecov.io/gh/o/r/branch/main/graph/x.svg)",
        '<img src="https://example.test/pixel.gif" width="1" height="1" alt="tracking pixel x y">',
        "[![a](a.png)](https://a.test) [![b](b.png)](https://b.test)",
        '<a href="https://x.test"><img src="https://x.test/license.svg" alt="License"></a>',
    ],
)
def test_badges_and_tracking_pixels_are_dropped(row: str) -> None:
    doc = md(f"# Project\n\n{row}\n\nProse stays.\n")
    assert blocks_text(doc) == ["Project", "Prose stays."]


def test_images_in_a_run_of_images_and_links_are_dropped() -> None:
    raw = "![First long figure description](a.png) ![Second long figure description](b.png)\n"
    assert md("Intro.\n\n" + raw).text == "Intro."


def test_data_uris_are_dropped_everywhere() -> None:
    payload = "data:image/png;base64," + "iVBORw0KGgo" * 50
    raw = (
        f"![Diagram of the system as a whole]({payload})\n\nInline {payload} text.\n\n"
        f'<p><img src="{payload}" alt="x"> html</p>\n\n'
        f"```css\na {{ background: url({payload}); }}\n```\n"
    )
    doc = md(raw)
    assert "data:" not in doc.text
    assert blocks_text(doc) == [
        "Diagram of the system as a whole",
        "Inline text.",
        "html",
        "a { background: url(); }",
    ]


def test_inline_html_tags_go_and_their_text_stays() -> None:
    raw = (
        "Press <kbd>Ctrl</kbd>+<b>C</b>,<br>then <abbr title=\"x\">API</abbr>"
        "<!-- a note --> ok <span style='x'>done</span>.\n"
    )
    assert md(raw).text == "Press Ctrl+C,\nthen API ok done."


def test_block_tags_inside_a_paragraph_split_it() -> None:
    assert shape(md("First part<p>second part</p>third\n")) == [
        ("paragraph", 0, "First part"),
        ("paragraph", 0, "second part"),
        ("paragraph", 0, "third"),
    ]


def test_hidden_inline_html_content_is_dropped() -> None:
    raw = "A <script>alert('x')</script>B <svg><text>icon</text></svg>C <style>p{}</style>D\n"
    assert md(raw).text == "A B C D"


def test_html_blocks_are_parsed_as_html() -> None:
    raw = (
        '<p align="center">\n  <a href="https://x.test"><img src="logo.png" alt="Logo"></a>\n</p>\n'
        "<h2 id=\"x\">Install &amp; run</h2>\n\n"
        "<div>\n<p>First</p><p>Second <b>bold</b></p>\n</div>\n\n"
        "<table><tr><th>k</th><th>v</th></tr>\n<tr><td>a</td><td>1</td></tr></table>\n\n"
        "<details><summary>More</summary>\n\nHidden *text*.\n\n</details>\n\n"
        "<pre><code>x &lt; y\n  z</code></pre>\n"
    )
    assert shape(md(raw)) == [
        ("heading", 2, "Install & run"),
        ("paragraph", 0, "First"),
        ("paragraph", 0, "Second bold"),
        ("table_row", 0, "k | v"),
        ("table_row", 0, "a | 1"),
        ("paragraph", 0, "More"),
        ("paragraph", 0, "Hidden text."),
        ("code", 0, "x < y\n  z"),
    ]


def test_html_comments_holding_a_whole_original_are_dropped() -> None:
    original = "# Original title\n\nThe untranslated original.\n\n- item\n"
    raw = f"# 标题\n\n<!--\n{original}-->\n\n正文。\n"
    assert blocks_text(md(raw)) == ["标题", "正文。"]


def test_scripts_styles_and_svg_blocks_are_dropped() -> None:
    raw = (
        "<style>\n.x { color: red }\n\n.y {}\n</style>\n\nKept.\n\n<script>\nlet a = 1;\n\n"
        "</script>\n\n<svg width=\"10\">\n<circle/>\n\n<text>label</text>\n</svg>\n\nAlso kept.\n"
    )
    assert blocks_text(md(raw)) == ["Kept.", "Also kept."]


def test_template_directives_are_markup() -> None:
    raw = "{{< note >}}\nA note {{% x %}}for {% raw %}readers.\n{{< /note >}}\n"
    assert md(raw).text == "A note for readers."


def test_admonition_fences_are_markup() -> None:
    raw = "/// tip | Tipp\n\nUse it.\n\n///\n\n:::warning\nCareful.\n:::\n\n"
    raw += "!!! note\n    Indented.\n"
    assert blocks_text(md(raw)) == ["Use it.", "Careful.", "Indented."]


# --- front matter, title ----------------------------------------------------------------------


def test_yaml_front_matter_gives_title_heading_and_description() -> None:
    raw = (
        "---\ntitle: \"Getting started\"\ndescription: Install it and run a first query.\n"
        "tags: [a, b]\nweight: 3\n---\n\nBody text.\n"
    )
    doc = md(raw)
    assert doc.title == "Getting started"
    assert shape(doc) == [
        ("heading", 1, "Getting started"),
        ("paragraph", 0, "Install it and run a first query."),
        ("paragraph", 0, "Body text."),
    ]


def test_front_matter_title_with_the_pages_own_h1() -> None:
    doc = md("---\ntitle: 'Short title' # comment\n---\n# Long *page* title\n\nText.\n")
    assert doc.title == "Short title"
    assert [b.kind for b in doc.blocks] == ["heading", "paragraph"]
    assert doc.text.startswith("Long page title")


def test_a_description_that_repeats_the_title_is_dropped() -> None:
    doc = md("---\ntitle: Quick start\ndescription: Quick Start\n---\n\nText.\n")
    assert blocks_text(doc) == ["Quick start", "Text."]


def test_toml_front_matter() -> None:
    doc = md('+++\ntitle = "TOML page"\ndate = 2024-01-01\n+++\n\nText.\n')
    assert doc.title == "TOML page"
    assert blocks_text(doc) == ["TOML page", "Text."]


def test_an_unclosed_front_matter_fence_is_a_rule() -> None:
    doc = md("---\ntitle: not front matter\n")
    assert (doc.title, doc.text) == ("", "title: not front matter")


def test_title_is_the_first_heading_or_nothing_never_markup() -> None:
    assert md("Intro.\n\n## **Second** `level`\n\n# First\n").title == "Second level"
    assert md('<div align="center">\n\n<h1>HTML <em>title</em></h1>\n\n</div>\n').title == (
        "HTML title"
    )
    assert md("Just text.\n").title == ""


# --- contents and navigation ------------------------------------------------------------------


@pytest.mark.parametrize("label", ["Table of Contents", "Contents", "目录", "Inhalt", "**TOC**"])
def test_a_contents_heading_and_its_anchor_list_are_dropped(label: str) -> None:
    raw = f"# Doc\n\n## {label}\n\n- [Intro](#intro)\n- [Use](#use)\n\n## Intro\n\nText.\n"
    assert blocks_text(md(raw)) == ["Doc", "Intro", "Text."]


def test_a_list_of_anchor_links_is_dropped_without_a_heading() -> None:
    raw = (
        "Text.\n\n* [One](#one)\n  * [Two](#two)\n* [Three](#three)\n* [Four](#four)\n\n"
        "<details><summary>Table of Contents</summary>\n\n- [A](#a)\n\n</details>\n"
    )
    assert blocks_text(md(raw)) == ["Text."]


def test_a_list_of_links_to_other_pages_is_kept() -> None:
    raw = "## Contents\n\n- [Install](install.md)\n- [Configure](configure.md)\n"
    assert blocks_text(md(raw)) == ["Contents", "Install", "Configure"]


def test_toc_markers_are_dropped() -> None:
    assert md("[TOC]\n\nText.\n\n[[_TOC_]]\n").text == "Text."


@pytest.mark.parametrize(
    "row",
    [
        "English | [简体中文](README.zh.md) | [日本語](README.ja.md)",
        "**English** · [Deutsch](de.md) · [Français](fr.md)",
        "English | 简体中文 | 日本語",
        "[Home](/) / [Docs](/docs) / [Blog](/blog)",
        "[Docs](https://d.test) • [Discord](https://c.test) • [Twitter](https://t.test)",
        "Languages: [de](de/) [en](en/) [fr](fr/)",
        '<p align="center"><a href="a.md">English</a> | <a href="b.md">中文</a></p>',
    ],
)
def test_navigation_rows_are_dropped(row: str) -> None:
    assert blocks_text(md(f"{row}\n\nReal text with a [link](https://x.test).\n")) == [
        "Real text with a link."
    ]


def test_prose_with_links_is_kept() -> None:
    raw = "See [A](a.md) and [B](b.md).\n\n[Read more](more.md)\n\nEnglish and French.\n"
    assert blocks_text(md(raw)) == ["See A and B.", "Read more", "English and French."]


def test_permalink_marks_are_dropped() -> None:
    assert md("## Setup [¶](#setup)\n\nText [#](#x).\n").text == "Setup\n\nText ."


# --- characters -------------------------------------------------------------------------------


def test_what_was_dropped_is_recorded_with_why() -> None:
    raw = "a\u200bb <!-- c -->\n\n[TOC]\n\n![logo](l.png)\n"
    assert md(raw).cleaned.removed == [
        (1, 2, "invisible"),
        (4, 14, "html-comment"),
        (16, 21, "table-of-contents"),
        (23, 37, "image"),
    ]


def test_character_cleaning_matches_plain_text() -> None:
    line = "Ｆｕｌｌ\u00a0width\u200b, 中文，标点！ x\u00ad y  z\t\tw"
    doc = md(f"{line}\n")
    assert doc.text == clean_text(line).text == "Full width, 中文，标点！ x y z w"


def test_zero_width_and_right_to_left_text() -> None:
    raw = "# عنوان\u200f\n\nשלום\u200b עולם \u202eevil\u202c **bold**\u2066x\u2069\n"
    doc = md(raw)
    assert shape(doc) == [("heading", 1, "عنوان"), ("paragraph", 0, "שלום עולם evil boldx")]
    assert_maps_back(doc, raw, 0, len(doc.text))


def test_crlf_line_ends() -> None:
    doc = md("# T\r\n\r\nA\r\nB\r\n\r\n```\r\ncode\r\n```\r\n")
    assert shape(doc) == [("heading", 1, "T"), ("paragraph", 0, "A\nB"), ("code", 0, "code")]


# --- dispatch ---------------------------------------------------------------------------------


def test_parse_document_dispatches_by_suffix() -> None:
    assert parse_document("# T\n", suffix=".md").format == "markdown"
    assert parse_document("# T\n", suffix=".MARKDOWN").format == "markdown"
    assert parse_document("<p>T</p>", suffix=".htm").format == "html"
    assert parse_document("<p>T</p>", suffix=".HTML").format == "html"
    plain = parse_document("# T\n", suffix=".txt")
    assert (plain.format, plain.blocks, plain.text) == ("text", (), "# T")


def test_text_files_keep_exactly_their_plain_cleaning() -> None:
    for path in sorted((REPO / "corpus").glob("00*.txt"))[:3]:
        raw = decode_bytes(path.read_bytes(), source=path.name)
        doc = parse_document(raw, suffix=path.suffix, source=path.name)
        expected = clean_text(raw, source=path.name)
        assert doc.cleaned.text == expected.text
        assert list(doc.cleaned.origin) == list(expected.origin)
        assert doc.cleaned.removed == expected.removed


def test_bytes_are_refused() -> None:
    with pytest.raises(DocumentError):
        parse_markdown(b"# x")  # type: ignore[arg-type]
