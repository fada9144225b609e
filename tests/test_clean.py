"""Decoding and cleaning: error messages, cleaning rules on the real corpus, exact origin maps."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

from reportrag.errors import DocumentError
from reportrag.ingest.clean import CleanedText, clean_text, decode_bytes

CORPUS = Path(__file__).resolve().parents[1] / "corpus"


def corpus_raw(prefix: str) -> str:
    (path,) = CORPUS.glob(f"{prefix}_*.txt")
    return decode_bytes(path.read_bytes(), source=path.name)


@pytest.fixture(scope="module")
def cleaned() -> dict[str, tuple[str, CleanedText]]:
    out = {}
    for prefix in ("000", "001", "002", "003", "004"):
        raw = corpus_raw(prefix)
        out[prefix] = (raw, clean_text(raw, source=prefix))
    return out


# --- decode_bytes ----------------------------------------------------------------------------


def test_decode_accepts_utf8_with_and_without_bom() -> None:
    text = "开源 open source\n"
    assert decode_bytes(text.encode(), source="a.txt") == text
    assert decode_bytes(b"\xef\xbb\xbf" + text.encode(), source="a.txt") == text


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ("开源大模型的商业模式，主要包括以下几种".encode("gbk"), "not valid UTF-8 (GBK?)"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
        (bytes(range(1, 9)) * 50 + b"some text", "binary"),
        ("hello".encode("utf-16"), "UTF-16"),
        (b"", "empty"),
        (b" \n\t\r\n  \n", "whitespace-only"),
    ],
)
def test_decode_rejects_non_text_with_one_line_message(data: bytes, needle: str) -> None:
    with pytest.raises(DocumentError) as info:
        decode_bytes(data, source="corpus/bad.txt")
    message = str(info.value)
    assert needle in message
    assert message.startswith("corpus/bad.txt: ")
    assert "\n" not in message


def test_decode_gbk_message_says_how_to_fix() -> None:
    with pytest.raises(DocumentError, match="convert to UTF-8"):
        decode_bytes("商业化篇 一. 概述".encode("gbk"), source="x.txt")


def test_decode_enforces_size_cap() -> None:
    with pytest.raises(DocumentError, match="larger than 1,000 bytes"):
        decode_bytes(b"a" * 1001, source="big.txt", max_bytes=1000)
    assert decode_bytes(b"a" * 1000, source="ok.txt", max_bytes=1000) == "a" * 1000


def test_clean_rejects_bytes() -> None:
    with pytest.raises(DocumentError, match="expected decoded text"):
        clean_text(b"abc", source="x")  # type: ignore[arg-type]


# --- origin map ------------------------------------------------------------------------------


def assert_origin_exact(raw: str, c: CleanedText) -> None:
    assert len(c.origin) == len(c.text) + 1 and c.origin[-1] == len(raw)
    assert all(c.origin[i] <= c.origin[i + 1] for i in range(len(c.text)))
    for i, ch in enumerate(c.text):
        s, e = c.to_raw_span(i, i + 1)
        src = raw[s:e]
        # each clean char comes from the same char, its NFKC form, or whitespace it replaced
        assert (
            src == ch
            or ch in unicodedata.normalize("NFKC", src)
            or (ch.isspace() and src.isspace())
        ), (i, ch, src)


@pytest.mark.parametrize("prefix", ["000", "001", "002", "003", "004"])
def test_origin_map_is_exact_on_corpus(
    cleaned: dict[str, tuple[str, CleanedText]], prefix: str
) -> None:
    raw, c = cleaned[prefix]
    assert_origin_exact(raw, c)
    # a word in the clean text maps back to the same word in the raw file
    start = len(c.text) // 2
    start = c.text.index(" ", start) + 1 if " " in c.text[start:] else start
    end = start + 12
    s, e = c.to_raw_span(start, end)
    assert raw[s:e] == c.text[start:end]
    assert c.to_clean_offset(s) == start


def test_origin_through_nfkc_and_whitespace() -> None:
    raw = "\ufeffＧＰＴ－４\u00a0is  ﬁne\tand Cafe\u0301\r\n\n\n\nnext \n"
    c = clean_text(raw)
    assert c.text == "GPT-4 is fine and Café\n\nnext"
    assert_origin_exact(raw, c)
    i = c.text.index("é")
    assert raw[slice(*c.to_raw_span(i, i + 1))] == "e\u0301"  # both raw chars, not just "e"
    i = c.text.index("fine")
    assert c.to_raw_span(i, i + 4) == (raw.index("ﬁ"), raw.index("ﬁ") + 3)
    assert ("invisible" in {r for _, _, r in c.removed}) and c.removed[0][:2] == (0, 1)


def test_fullwidth_cjk_punctuation_is_kept(cleaned: dict[str, tuple[str, CleanedText]]) -> None:
    raw, c = cleaned["004"]
    assert raw.count("，") == c.text.count("，") == 100
    assert c.text.count("：") == raw.count("：")
    assert clean_text("ＡＢＣ，１２３：好（是）").text == "ABC，123：好（是）"


def test_whitespace_rules() -> None:
    c = clean_text("\n\n  Title\t \n\n\n\n\nfirst   line\t\tx \n  - item\n\tcode\n\n")
    assert c.text == "Title\n\nfirst line x\n  - item\n code"


# --- chrome and debris on the corpus ---------------------------------------------------------


def test_page_chrome_dropped_from_001(cleaned: dict[str, tuple[str, CleanedText]]) -> None:
    raw, c = cleaned["001"]
    assert c.text.startswith("商业化篇\n\n一. 概述")
    for chrome in (
        "Skip to content",
        "Latest commit",
        "History",
        "loc)",
        "outline",
        "deep",
        "commercialization.md",
        "image0",
    ):
        assert chrome not in c.text
    chrome_spans = [(s, e) for s, e, r in c.removed if r == "page-chrome"]
    assert len(chrome_spans) == 1 and chrome_spans[0][0] == 0
    assert raw[chrome_spans[0][1] :].lstrip().startswith("商业化篇")


def test_language_menu_dropped_but_title_and_date_kept(
    cleaned: dict[str, tuple[str, CleanedText]],
) -> None:
    raw, c = cleaned["003"]
    lines = c.text.split("\n")
    assert lines[0] == "Was ist der Kampf um Open und Closed Source für große Modelle?"
    assert lines[1] == "2024-08-14"
    assert lines[2].startswith("Streitigkeiten")
    assert "Русский" not in c.text and "Ελληνικά" not in c.text
    assert [r for _, _, r in c.removed] == ["language-menu"]
    assert "Source?Die Entwicklung" in c.text  # a real question glued to the next sentence


def test_question_mark_debris_removed_real_questions_kept(
    cleaned: dict[str, tuple[str, CleanedText]],
) -> None:
    _, c = cleaned["002"]
    for fixed in (
        "were proprietary. But",
        "products is thus publicly",
        "ecosystem. Second,",
        "it allows to build",
        "Bughin, J (2023), Is the impact",
        "pp. 197-234.\n",
        "business cases.\n",
        "used in the future.\nReferences",
    ):
        assert fixed in c.text, fixed
    for real in (
        "Is Open Source a fad?",
        "doomed to fail? Not",
        "which one?",
        "overhyped? Insights",
    ):
        assert real in c.text, real
    assert c.text.count("?") == 4
    assert "\n?\n" not in c.text


def test_stray_chinese_line_dropped_but_table_rows_kept(
    cleaned: dict[str, tuple[str, CleanedText]],
) -> None:
    _, c002 = cleaned["002"]
    assert "领英推荐" not in c002.text
    assert "have emerged:\n1) Open source LLMs" in c002.text
    raw000, c000 = cleaned["000"]
    assert c000.text == raw000.strip("\n")  # nothing in the English report is chrome
    assert "百川智能 | A 轮 | 2023-10-17" in c000.text
    assert "三维分子预训练模型 | Uni-Mol-Data" in c000.text


def test_clean_chinese_markdown_untouched(cleaned: dict[str, tuple[str, CleanedText]]) -> None:
    raw, c = cleaned["004"]
    assert c.text == raw.strip("\n") and not c.removed
    assert "### Meta\n" in c.text  # a short Latin line in a Chinese text is not chrome


# --- the same rules on small inputs ----------------------------------------------------------


def test_chrome_needs_a_distinctive_line() -> None:
    doc = "History\n\nHistory of open source is long. It began in 1983.\n"
    assert clean_text(doc).text == doc.strip()
    doc = "Skip to content\nLatest commit\nREADME.md\nRaw\nBlame\n\n# Title\nBody text."
    c = clean_text(doc)
    assert c.text == "# Title\nBody text."
    assert c.removed == [(0, doc.index("Blame") + 6, "page-chrome")]


def test_stray_cjk_line_rules() -> None:
    latin = "This is an English paragraph about open source models and licences." * 5
    doc = f"{latin}\n点赞分享\n{latin}\n"
    assert "点赞分享" not in clean_text(doc).text
    # two adjacent Chinese lines are a passage, a Chinese line next to a Chinese cell a table
    passage = f"{latin}\n引用原文\n第二行中文\n{latin}"
    assert clean_text(passage).text == passage.strip()
    table = f"{latin}\n百川智能\n智谱 | 12 |\n{latin}"
    assert clean_text(table).text == table.strip()
    numbered = f"{latin}\n第 3 章\n{latin}"  # digits: not a UI string
    assert clean_text(numbered).text == numbered.strip()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Pourquoi ?\nParce que.", "Pourquoi ?\nParce que."),  # French spacing
        ("See https://x.org/search?q=open for more.", "See https://x.org/search?q=open for more."),
        ("Really...? Yes.", "Really...? Yes."),
        ("We don?t know.", "We dont know."),
        ("Is it? no, it is not?", "Is it? no, it is not?"),
        ("A (?really) odd one.", "A (really) odd one."),
    ],
)
def test_question_mark_rules(raw: str, expected: str) -> None:
    assert clean_text(raw).text == expected


def test_crlf_and_control_chars() -> None:
    raw = "a\r\nb\x07c\u200b\r\n"
    c = clean_text(raw)
    assert c.text == "a\nbc"
    assert c.to_raw_span(0, 3) == (0, 4)
    assert c.to_raw_span(0, len(c.text)) == (0, raw.index("c") + 1)


def test_empty_and_blank_inputs_give_empty_text() -> None:
    for raw in ("", "\n\n", " \u200b \n"):
        c = clean_text(raw)
        assert c.text == "" and list(c.origin) == [len(raw)]
