"""Chunking: headings and section paths, token limits, no lost text, per-chunk language.

These tests use a fake token counter (2 special tokens + one token per 3 UTF-8 bytes) so they
run in seconds. The real-model check (every chunk within the embedding tokenizer's limit,
``passage: `` prefix and special tokens included) happens elsewhere: in the ``slow``-marked
pipeline tests that load the model. chunk_document treats count_tokens as opaque, so nothing
here depends on which counter is used.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from reportrag.errors import ConfigError
from reportrag.ingest.chunking import chunk_document, reassemble
from reportrag.ingest.clean import CleanedText, clean_text, decode_bytes
from reportrag.ingest.headings import find_sections, is_caption
from reportrag.ingest.outline import context_line
from reportrag.ingest.splitting import split_spans
from reportrag.langid import LanguageDetector, default_detector, document_language
from reportrag.types import Chunk, DocumentMeta, content_hash, make_chunk_id

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
PREFIXES = ("000", "001", "002", "003", "004")
MAX_TOKENS, OVERLAP = 200, 24


def fake_count(text: str) -> int:
    return 2 + len(text.encode()) // 3


@pytest.fixture(scope="module")
def detector() -> LanguageDetector:
    d = default_detector()
    d.warm_up()
    return d


@pytest.fixture(scope="module")
def corpus(detector: LanguageDetector) -> dict[str, tuple[str, CleanedText, list[Chunk]]]:
    out = {}
    for prefix in PREFIXES:
        (path,) = CORPUS.glob(f"{prefix}_*.txt")
        raw = decode_bytes(path.read_bytes(), source=path.name)
        cleaned = clean_text(raw, source=path.name)
        meta = DocumentMeta(
            doc_id=f"doc{prefix}",
            path=str(path),
            title=f"T{prefix}",
            lang=document_language([cleaned.text], detector=detector).lang,
            kind="report",
            date="2024-01-01",
        )
        chunks = chunk_document(
            meta,
            cleaned,
            count_tokens=fake_count,
            max_tokens=MAX_TOKENS,
            overlap_tokens=OVERLAP,
            detector=detector,
        )
        out[prefix] = (raw, cleaned, chunks)
    return out


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


# --- headings --------------------------------------------------------------------------------


def paths(text: str) -> list[str]:
    return [s.path for s in find_sections(text)]


def test_numbered_headings_build_paths() -> None:
    text = (
        "Report\n1. Overview\nIntro text.\n2. Ecosystem\n2.1 Supply\nBody.\n2.1.1 Cost\n"
        "Body.\n2.2 Demand\nBody.\n3. Risks\nBody."
    )
    assert paths(text) == [
        "",
        "1. Overview",
        "2. Ecosystem",
        "2. Ecosystem › 2.1 Supply",
        "2. Ecosystem › 2.1 Supply › 2.1.1 Cost",
        "2. Ecosystem › 2.2 Demand",
        "3. Risks",
    ]
    sections = find_sections(text)
    assert sections[0].start == 0 and sections[-1].end == len(text)
    assert all(a.end == b.start for a, b in zip(sections, sections[1:], strict=False))
    assert text[sections[3].start :].startswith("2.1 Supply\n")


def test_not_headings() -> None:
    text = (
        "2.1 Market\nText.\n2023 年市场热度保持\n3 companies raised money.\n"
        "2.5 亿美元的融资\n图 2.21 向量数据库评价结果\nTable 2 Funding rounds\n"
        "1. Apple\n2. Pear\n3. Plum\n4.2.3 Not under 4\nName | 2.2 Value |\n"
        "2.2 A sentence that ends with a full stop.\n2.3 Next\n"
    )
    assert paths(text) == ["2.1 Market", "2.3 Next"]


def test_chinese_and_markdown_headings() -> None:
    text = (
        "商业化篇\n\n一. 概述\n\n正文。\n\n二、开源与 AI\n\n（一）背景\n\n正文。\n\n"
        "（二）现状\n\n2.1 模型\n\n正文。\n\n三. 风险\n\n（一）安全\n\n正文。"
    )
    assert paths(text) == [
        "",
        "一. 概述",
        "二、开源与 AI",
        "二、开源与 AI › （一）背景",
        "二、开源与 AI › （二）现状",
        "二、开源与 AI › 2.1 模型",
        "三. 风险",
        "三. 风险 › （一）安全",
    ]
    markdown = (
        "## 概述\n\n正文。\n\n## 案例\n\n### Meta\n\n正文。\n\n#### 细节\n\n### 其他 ##\n\n正文。"
    )
    assert paths(markdown) == ["概述", "案例", "案例 › Meta", "案例 › Meta › 细节", "案例 › 其他"]


def test_is_caption() -> None:
    assert is_caption("图 2.21 向量数据库评价结果") and is_caption("表 4.1 国内开源软件")
    assert is_caption("Figure 3 Growth of LLM projects") and is_caption("Exhibit 1: OS LLM")
    assert not is_caption("2.1 图像生成") and not is_caption("Tables are useful")


def test_sections_found_in_corpus(corpus: dict[str, tuple[str, CleanedText, list[Chunk]]]) -> None:
    p000 = paths(corpus["000"][1].text)
    assert any(
        p.endswith("› 2.3.5 Successful cases of open source on the developer's tool side")
        and "› 2.3 Making AI developer tools" in p
        and p.startswith("2. ")
        for p in p000
    )
    assert len(p000) >= 40
    p001 = paths(corpus["001"][1].text)
    assert "二. 开源生态助力 AI 快速发展 › 2.1 预训练大模型迅速发展,开源功不可没" in p001
    assert any(p.startswith("四. 开源项目资本市场情况 › 4.2 中国市场状况 › 4.2.3") for p in p001)
    assert not any("图 " in p or "表 " in p for p in p001)  # captions never open sections
    p004 = paths(corpus["004"][1].text)
    assert "案例分析 › Stability AI" in p004 and "总结 › Works cited" in p004
    assert not any(p.split(" › ")[-1][:2] in ("1.", "2.") for p in p004)  # not the references
    assert paths(corpus["003"][1].text) == [""]


# --- chunks ----------------------------------------------------------------------------------


def clean_offset(cleaned: CleanedText, chunk: Chunk) -> int:
    start = cleaned.to_clean_offset(chunk.char_start)
    assert cleaned.text[start : start + len(chunk.text)] == chunk.text
    return start


@pytest.mark.parametrize("prefix", PREFIXES)
def test_chunks_lose_no_text_and_fit(
    corpus: dict[str, tuple[str, CleanedText, list[Chunk]]], prefix: str
) -> None:
    raw, cleaned, chunks = corpus[prefix]
    assert chunks
    for c in chunks:
        assert c.token_count == fake_count(c.text) <= MAX_TOKENS
        assert c.text == c.text.strip()
        # the raw span starts and ends with the chunk's own characters
        k = min(8, len(c.text))
        assert raw[c.char_start : c.char_start + k] == c.text[:k]
        assert raw[c.char_end - k : c.char_end] == c.text[-k:]
    rebuilt = reassemble((clean_offset(cleaned, c), c.text) for c in chunks)
    assert squash(rebuilt) == squash(cleaned.text)


@pytest.mark.parametrize("prefix", PREFIXES)
def test_chunk_metadata(
    corpus: dict[str, tuple[str, CleanedText, list[Chunk]]], prefix: str
) -> None:
    _, _, chunks = corpus[prefix]
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))
    for c in chunks:
        # BM25 reads the context line ("title › section") first, then the text.
        assert c.context.startswith(f"T{prefix}") and c.context == context_line(c.title, c.section)
        assert c.content_hash == content_hash(c.text)
        assert c.indexed_text == f"{c.context}\n\n{c.text}"
        assert c.chunk_id == make_chunk_id(f"doc{prefix}", c.ordinal, c.content_hash)
        assert (c.doc_id, c.title, c.kind, c.date) == (
            f"doc{prefix}",
            f"T{prefix}",
            "report",
            "2024-01-01",
        )
    assert chunks[0].prev_id == "" and chunks[-1].next_id == ""
    for a, b in zip(chunks, chunks[1:], strict=False):
        assert a.next_id == b.chunk_id and b.prev_id == a.chunk_id
        assert a.char_start < b.char_start


def test_each_section_starts_with_its_heading(
    corpus: dict[str, tuple[str, CleanedText, list[Chunk]]],
) -> None:
    for prefix in ("000", "001", "004"):
        chunks = corpus[prefix][2]
        firsts = [c for i, c in enumerate(chunks) if i == 0 or chunks[i - 1].section != c.section]
        assert len(firsts) > 10
        for c in firsts:
            if c.section:
                assert c.section.split(" › ")[-1].rstrip("…") in c.text, (prefix, c.section)


@pytest.mark.parametrize(
    ("prefix", "lead_in", "content"),
    [
        ("000", "\nSupply-side benefits\n", "Open-source developer tools are conducive"),
        ("001", "2.3.2 开发者工具开源有重要意义", "开源开发者工具有利于使产品"),
        ("004", "## 开源大模型的优势", "开源大模型为企业和开发者带来诸多优势"),
        ("004", "## 未来发展趋势", "**社区化:**"),
    ],
)
def test_sub_headings_stay_with_what_they_introduce(
    corpus: dict[str, tuple[str, CleanedText, list[Chunk]]], prefix: str, lead_in: str, content: str
) -> None:
    holders = [c for c in corpus[prefix][2] if lead_in in "\n" + c.text + "\n"]
    assert holders and all(content in c.text for c in holders)


def test_no_crumbs(corpus: dict[str, tuple[str, CleanedText, list[Chunk]]]) -> None:
    sizes = [c.token_count for p in PREFIXES for c in corpus[p][2]]
    assert min(sizes) >= 15 and sorted(sizes)[len(sizes) // 2] > MAX_TOKENS // 2


def test_captions_stay_on_their_own_line(
    corpus: dict[str, tuple[str, CleanedText, list[Chunk]]],
) -> None:
    _, cleaned, chunks = corpus["001"]
    captions = [ln for ln in cleaned.text.split("\n") if is_caption(ln)]
    assert len(captions) > 40
    for cap in captions:
        holders = [c for c in chunks if cap in c.text]
        assert holders
        for c in holders:
            at = c.text.index(cap)
            assert at == 0 or c.text[at - 1] == "\n"


def test_chunk_languages(corpus: dict[str, tuple[str, CleanedText, list[Chunk]]]) -> None:
    assert {p: {c.doc_lang for c in corpus[p][2]} for p in PREFIXES} == {
        "000": {"en"}, "001": {"zh"}, "002": {"en"}, "003": {"de"}, "004": {"zh"}
    }
    langs = {p: [c.lang for c in corpus[p][2]] for p in PREFIXES}
    assert set(langs["001"]) == {"zh"}
    assert set(langs["002"]) == {"en"}
    assert set(langs["003"]) == {"de"}
    chunks000 = corpus["000"][2]
    table = [c for c in chunks000 if "百川智能" in c.text or "零一万物" in c.text]
    assert table and all(c.lang == "zh" for c in table)
    body = [c for c in chunks000 if "4.2.3" not in c.section]
    assert len(body) > 100 and all(c.lang == "en" for c in body)
    chunks004 = corpus["004"][2]
    assert all(c.lang == "zh" for c in chunks004 if not c.section.endswith("Works cited"))
    assert sum(c.lang == "zh" for c in chunks004) > 0.8 * len(chunks004)


def test_chunk_ids_are_deterministic(
    detector: LanguageDetector, corpus: dict[str, tuple[str, CleanedText, list[Chunk]]]
) -> None:
    _, cleaned, chunks = corpus["002"]
    meta = DocumentMeta(
        doc_id="doc002", path="x", title="T002", lang="xx", kind="report", date="2024-01-01"
    )
    again = chunk_document(
        meta,
        cleaned,
        count_tokens=fake_count,
        max_tokens=MAX_TOKENS,
        overlap_tokens=OVERLAP,
        detector=detector,
    )
    assert [c.chunk_id for c in again] == [c.chunk_id for c in chunks]


# --- limits and edge cases -------------------------------------------------------------------


def superlinear_count(text: str) -> int:
    # joining pieces costs more than the pieces: forces the over-long fallback to split
    n = len(text.encode())
    return 3 + n // 3 + (n // 40) ** 2


@pytest.mark.parametrize("count", [fake_count, superlinear_count])
@pytest.mark.parametrize(
    "text",
    [
        "x" * 5000,
        "开" * 3000,
        ("word " * 400 + "\n") * 3,
        "1. Title\n" + "句子很长而且没有标点" * 200 + "。\n短句。",
    ],
)
def test_hard_inputs_fit_without_losing_text(
    detector: LanguageDetector, text: str, count: Callable[[str], int]
) -> None:
    cleaned = clean_text(text)
    meta = DocumentMeta(doc_id="d", path="p", title="t", lang="en")
    chunks = chunk_document(
        meta, cleaned, count_tokens=count, max_tokens=64, overlap_tokens=8, detector=detector
    )
    assert all(count(c.text) <= 64 for c in chunks)
    rebuilt = reassemble((clean_offset(cleaned, c), c.text) for c in chunks)
    assert squash(rebuilt) == squash(cleaned.text)


def test_token_counter_called_linearly(
    corpus: dict[str, tuple[str, CleanedText, list[Chunk]]],
) -> None:
    calls = 0

    def counting(text: str) -> int:
        nonlocal calls
        calls += 1
        return fake_count(text)

    cleaned = corpus["000"][1]
    spans = split_spans(
        cleaned.text,
        find_sections(cleaned.text),
        count_tokens=counting,
        max_tokens=MAX_TOKENS,
        overlap_tokens=OVERLAP,
    )
    assert calls < 15 * len(spans) + 100  # a few per chunk, not per character or pair


def test_empty_document_has_no_chunks(detector: LanguageDetector) -> None:
    meta = DocumentMeta(doc_id="d", path="p", title="t", lang="en")
    assert (
        chunk_document(
            meta,
            clean_text("\n \n"),
            count_tokens=fake_count,
            max_tokens=64,
            overlap_tokens=8,
            detector=detector,
        )
        == []
    )


@pytest.mark.parametrize(("max_tokens", "overlap"), [(2, 0), (10, 8), (10, -1)])
def test_impossible_limits_rejected(
    detector: LanguageDetector, max_tokens: int, overlap: int
) -> None:
    meta = DocumentMeta(doc_id="d", path="p", title="t", lang="en")
    with pytest.raises(ConfigError):
        chunk_document(
            meta,
            clean_text("Some text here."),
            count_tokens=fake_count,
            max_tokens=max_tokens,
            overlap_tokens=overlap,
            detector=detector,
        )


def test_reassemble_drops_overlaps_and_gaps() -> None:
    assert reassemble([(6, "world!"), (0, "hello wor")]) == "hello world!"
    assert reassemble([(0, "ab"), (1, "b"), (4, "ef")]) == "abef"


def _md_chunks(raw: str, max_tokens: int = MAX_TOKENS) -> list[Chunk]:
    from tests.parsing import parse_md

    meta = DocumentMeta(doc_id="card", path="card.md", title="Card", lang="en", kind="doc",
                        date="")
    return chunk_document(meta, parse_md(raw), count_tokens=fake_count, max_tokens=max_tokens,
                          overlap_tokens=OVERLAP)


LONG = " ".join(f"The grid row {i} lists one more property of the card." for i in range(40))


def test_small_sections_join_the_sections_after_them_within_their_parent() -> None:
    raw = ("# Card\n\nA container for displaying information.\n\n"
           "## When To Use\n\nA card can show content about a single subject.\n\n"
           f"## API\n\n{LONG}\n")
    chunks = _md_chunks(raw)
    # The title's one line and the short "When To Use" become one passage, in their parent.
    first = chunks[0]
    assert "A container for displaying information." in first.text
    assert "A card can show content about a single subject." in first.text
    assert first.section == "Card"
    # A section too big to join keeps its own path; nothing is lost or repeated.
    assert all(c.section == "Card › API" for c in chunks[1:]) and len(chunks) >= 2
    assert "When To Use" in first.text and "grid row 0 " not in first.text


def test_a_small_last_section_joins_the_one_before_and_unrelated_tops_stay_apart() -> None:
    raw = (f"# Card\n\n{LONG[:300]}\n\n## Notes\n\nKeep it short.\n\n"
           "# Other\n\nA different top-level topic altogether, with a few words.\n")
    chunks = _md_chunks(raw)
    sections = [c.section for c in chunks]
    # "Notes" (small, last of Card) joins the Card text before it; "Other" shares no section.
    assert "Keep it short." in chunks[sections.index("Card")].text
    assert sections[-1] == "Other" and "Keep it short." not in chunks[-1].text


def test_joined_sections_still_fit_the_token_limit() -> None:
    raw = "# Guide\n\n" + "".join(f"## Step {i}\n\nDo thing {i}.\n\n" for i in range(200))
    chunks = _md_chunks(raw, max_tokens=160)
    assert all(fake_count(c.text) <= 160 for c in chunks)
    # Two hundred tiny steps are joined into far fewer passages, every step kept.
    assert len(chunks) < 100
    joined = reassemble((c.char_start, c.text) for c in chunks)
    assert all(f"Do thing {i}." in joined for i in range(200))
