"""Language detection: script ratios for CJK and mixed text, lingua for Latin script."""

from __future__ import annotations

import pytest

from reportrag.langid import LanguageDetector, default_detector, script_profile


@pytest.fixture(scope="module")
def detector() -> LanguageDetector:
    d = default_detector()
    d.warm_up()  # loads lingua's models once for the whole module
    return d


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        # a Chinese table row full of Latin model names is still Chinese
        (
            "元语智能 | 出资设立 | 2022-11-24 00:00:00 | — | 功能型对话大模型 | ChatYuan-large-v2 "
            "| 171 | 669 |",
            "zh",
        ),
        ("根据 OpenAI 官网最新数据,使用 ChatGPT4 模型,输入为 0.03 美元 / 1000 tokens。", "zh"),
        # an English paragraph quoting one Chinese name is still English
        (
            "In terms of laws and regulations, Zhang Guofeng (张国锋), deputy director of the "
            "Institute of Artificial Intelligence, said that legislation must keep pace.",
            "en",
        ),
        (
            "Die Entwicklung großer Modelle steckt noch in den Kinderschuhen und erfordert noch "
            "Versuch und Irrtum.",
            "de",
        ),
        (
            "Les modèles de langage open source réduisent considérablement les coûts pour les "
            "entreprises.",
            "fr",
        ),
        ("Los modelos de código abierto reducen los costes para las empresas.", "es"),
        ("Открытые модели снижают затраты для компаний.", "ru"),
        ("オープンソースの大規模言語モデルはコストを削減します。", "ja"),
        ("오픈 소스 대형 언어 모델은 비용을 줄입니다.", "ko"),
        ("开源", "zh"),
    ],
)
def test_detect(detector: LanguageDetector, text: str, lang: str) -> None:
    assert detector.detect(text) == lang


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   \n",
        "12345 -- 3.5% | 2023",
        "?!…",
        "AI",
        "Baichuan2-13B-Chat | 321 | 133k | |||||",
        "tigerbot-70b-base-v1 | 15 | 3.25k",
    ],
)
def test_no_language_gives_default(detector: LanguageDetector, text: str) -> None:
    assert detector.detect(text) == "und"
    assert detector.detect(text, default="en") == "en"


def test_text_outside_the_set_is_unknown_not_guessed(detector: LanguageDetector) -> None:
    assert detector.detect("Τα μοντέλα ανοιχτού κώδικα μειώνουν το κόστος.") == "und"


@pytest.mark.parametrize(
    ("query", "lang"),
    [
        ("开源大模型的商业模式", "zh"),
        ("What are the business models of open source LLMs?", "en"),
        ("Geschäftsmodelle für Open-Source-Modelle", "de"),
        ("LLaMA2 许可证", "zh"),
        ("open source", "und"),  # too short to tell English from French: no guess
    ],
)
def test_detect_query(detector: LanguageDetector, query: str, lang: str) -> None:
    assert detector.detect_query(query) == lang


def test_one_lingua_model_shared_between_instances(detector: LanguageDetector) -> None:
    assert LanguageDetector()._lingua() is detector._lingua()
    assert default_detector() is detector


def test_restricted_language_set() -> None:
    only = LanguageDetector(["zh", "en"])
    # a single Latin candidate needs no lingua at all
    assert only.detect("Die Entwicklung großer Modelle steckt noch in den Kinderschuhen.") == "en"
    assert only._lingua() is None
    assert LanguageDetector(["de"]).detect("开源大模型") == "und"


def test_unknown_language_code_rejected() -> None:
    with pytest.raises(ValueError, match="xx"):
        LanguageDetector(["en", "xx"])


def test_script_profile_counts() -> None:
    p = script_profile("百川 Baichuan-7B | 795 | Ωμέγα Привет かな 한국")
    assert (p.han, p.kana, p.hangul, p.cyrillic, p.other) == (2, 2, 2, 6, 5)
    assert p.latin == len("BaichuanB") and p.latin_words == 1
