"""The encoding hint of a corpus file that is not UTF-8 names an encoding only when the bytes
decode in it AND look like its script (ingest/charset.py), as decode_bytes' message shows."""

from __future__ import annotations

from pathlib import Path

import pytest

from reportrag.errors import DocumentError
from reportrag.ingest.clean import decode_bytes

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
LATIN = "Latin-1/Windows-1252"


def _message(data: bytes) -> str:
    with pytest.raises(DocumentError) as info:
        decode_bytes(data, source="x.txt")
    return info.value.message


def guess_encoding(data: bytes) -> str:
    """The encoding the message names ("" for none)."""
    message = _message(data)
    assert message.startswith("x.txt: not valid UTF-8 "), message
    hint = message.removeprefix("x.txt: not valid UTF-8 ")
    return hint[1 : hint.index("?)")] if hint.startswith("(") else ""


@pytest.mark.parametrize(
    ("text", "codec"),
    [
        ("Der Bär läuft über die Brücke. Größe, Straße, Ärger und Übermut.", "latin-1"),
        ("Ærøskøbing ligger på Ærø. Blåbærgrød med fløde.", "latin-1"),
        ("¿Qué pasó? ¡Mañana será otro día! Niño, corazón, canción.", "latin-1"),
        ("Le café « crème » coûte 3 € — c’est très cher… Noël à l’hôtel.", "cp1252"),
        ("Não há razão para preocupação: a situação é estável.", "latin-1"),
    ],
)
def test_latin_1_text_is_named_latin_1_not_gbk(text: str, codec: str) -> None:
    assert guess_encoding(text.encode(codec)) == LATIN


def test_a_german_article_of_the_corpus_in_latin_1_is_named_latin_1() -> None:
    text = (CORPUS / "003_18194aaf734a0421.txt").read_text(encoding="utf-8")
    data = text.encode("latin-1", errors="ignore")  # its few Greek/Cyrillic words dropped
    assert guess_encoding(data) == LATIN


@pytest.mark.parametrize(
    ("text", "codec", "label"),
    [
        ("开源软件的商业化是一个重要的话题。大模型需要大量的GPU集群进行训练。", "gbk", "GBK"),
        ("開源軟體的商業化是一個重要的話題。大模型需要大量的GPU叢集進行訓練。", "big5", "Big5"),
        ("これは日本語の文章です。オープンソースの商業化について説明します。", "shift_jis",
         "Shift-JIS"),
    ],
)
def test_cjk_encodings_are_still_named(text: str, codec: str, label: str) -> None:
    assert guess_encoding(text.encode(codec)) == label


def test_the_chinese_report_of_the_corpus_in_gbk_is_named_gbk() -> None:
    text = (CORPUS / "001_01d7e7f86c812082.txt").read_text(encoding="utf-8")
    assert guess_encoding(text.encode("gb18030")) == "GBK"


@pytest.mark.parametrize(
    "data",
    [
        "Привет, как дела? Это русский текст.".encode("cp1251"),  # decodes as cp1252: no
        ("开源软件的商业化是一个重要的话题。" * 20).encode()[:301] + b"\xff",  # damaged UTF-8
        bytes(range(0x80, 0x100)) * 4,  # every high byte: no script at all
    ],
    ids=["cyrillic-cp1251", "damaged-utf8", "high-bytes"],
)
def test_no_guess_when_none_would_be_honest(data: bytes) -> None:
    assert guess_encoding(data) == ""
    message = _message(data)
    assert "not valid UTF-8 at byte" in message and "?)" not in message
