"""Bad input: truncated, unclosed, deeply nested, huge and invisible-laden files all parse.

Speed is not asserted here (``python -m bench.parse`` measures it); these inputs are the ones
that make a backtracking regex or a recursive walker blow up.
"""

from __future__ import annotations

import pytest

from bench.parse import (
    emphasis_bomb,
    giant_code,
    giant_table,
    invisible_mix,
    long_list,
    nested_divs,
    one_line,
)
from reportrag.ingest.html import parse_html
from reportrag.ingest.markdown import parse_markdown
from tests.parsing import parse_md as md
from tests.parsing import parse_page as parse

# --- Markdown -----------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "raw",
    [
        "# Title\n\n```python\ndef f():\n    return [",  # mid-fence
        "| a | b |\n|---|---|\n| 1 | 2 |\n| 3 ",  # mid-table
        "Text <a href=\"https://x.test\" title='unfinished",  # mid-tag
        "<div><p>Text <b>bold",  # unclosed HTML
        "<!-- comment that never ends\n\nmore",
        "<script>\nnever closed\n\nmore",
        "[link](https://x.test",
        "![image](",
        "---\ntitle: x",
        "&#",
        "<",
        "|",
    ],
)
def test_truncated_input_parses(raw: str) -> None:
    md(raw)


def test_a_tag_cut_off_at_the_end_does_not_leak() -> None:
    assert md('Some text <div class="x').text == "Some text"
    assert md("```\ncode <div class=").text == "code <div class="  # code stays verbatim


def test_deeply_nested_html() -> None:
    raw = nested_divs(100_000)
    doc = md(raw)
    assert doc.text == "deep text"


def test_ten_megabyte_single_line() -> None:
    raw = one_line(10_000_000)
    doc = parse_markdown(raw)
    assert len(doc.blocks) == 1 and "\n" not in doc.text
    assert "example.com" not in doc.text and "*" not in doc.text
    assert doc.text.startswith("lorem ipsum dolor sit amet link consectetur")


def test_ten_thousand_item_list() -> None:
    doc = md(long_list(10_000))
    assert len(doc.blocks) == 10_000
    assert doc.text[doc.blocks[-1].start : doc.blocks[-1].end] == "item number 9999 with some text"


def test_one_giant_table() -> None:
    doc = md(giant_table(10_000))
    assert len(doc.blocks) == 10_001
    assert doc.text[doc.blocks[-1].start : doc.blocks[-1].end] == "9999 | name 9999 | 29997"


def test_one_giant_code_block() -> None:
    raw = giant_code(30_000)
    doc = md(raw)
    assert [b.kind for b in doc.blocks] == ["code"]
    assert doc.text == raw.removeprefix("```python\n").removesuffix("\n```\n")


def test_unmatched_openers() -> None:
    doc = md(emphasis_bomb(5_000))
    assert len(doc.blocks) == 1


def test_invisible_characters_in_bulk() -> None:
    doc = md(invisible_mix(2_000))
    assert not any(ch in doc.text for ch in "\u200b\u200f\u202e\u2066")


# --- HTML ---------------------------------------------------------------------------------------


def page(body: str) -> str:
    return f"<!DOCTYPE html>\n<html><head><title>T</title></head>\n<body>\n{body}\n</body></html>\n"


def test_deeply_nested_and_unclosed() -> None:
    doc = parse("<div>" * 100_000 + "deep" + "<span>" * 50_000 + "er")
    assert doc.text == "deeper"


@pytest.mark.parametrize(
    "raw",
    [
        "<p>cut mid <a href=\"https://x.test",
        "<table><tr><td>a</td><td>b",
        "<ul><li>a<li>b",
        "<script>never closed <p>text</p>",
        "<!-- never closed <p>text</p>",
        "</div></p></li> stray ends",
        "<p>a</b></i></em>b</p>",
        "<",
        "&",
        "<![CDATA[x]]><?php echo 1 ?><!DOCTYPE x>text",
    ],
)
def test_broken_html_parses(raw: str) -> None:
    parse(raw)


def test_a_cut_tag_does_not_leak() -> None:
    assert parse("<p>Text <div class=\"x").text == "Text"
    assert parse("<p>Text </a").text == "Text"


def test_long_single_line_page() -> None:
    raw = page("<p>" + "word <b>bold</b> &amp; more " * 20_000 + "</p>")
    doc = parse_html(raw)
    assert len(doc.blocks) == 1 and "<" not in doc.text
