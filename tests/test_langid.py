"""Language detection: script ratios for CJK and mixed text, lingua for Latin script."""

from __future__ import annotations

import pytest

from reportrag.langid import (
    LanguageDetector,
    chunk_language,
    default_detector,
    detect_query,
    document_language,
    script_profile,
)


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
    assert LanguageDetector().lingua_detector() is detector.lingua_detector()
    assert default_detector() is detector


def test_restricted_language_set() -> None:
    only = LanguageDetector(["zh", "en"])
    # a single Latin candidate needs no lingua at all
    assert only.detect("Die Entwicklung großer Modelle steckt noch in den Kinderschuhen.") == "en"
    assert only.lingua_detector() is None
    assert LanguageDetector(["de"]).detect("开源大模型") == "und"


def test_unknown_language_code_rejected() -> None:
    with pytest.raises(ValueError, match="xx"):
        LanguageDetector(["en", "xx"])


def test_script_profile_counts() -> None:
    p = script_profile("百川 Baichuan-7B | 795 | Ωμέγα Привет かな 한국")
    assert (p.han, p.kana, p.hangul, p.cyrillic, p.other) == (2, 2, 2, 6, 5)
    assert p.latin == len("BaichuanB") and p.latin_words == 1


# --- document, chunk and query language -------------------------------------------------------

ZH_README = """# 快速开始

本文介绍如何使用 Docker 部署 Nacos 并完成服务注册。

```bash
git clone https://github.com/nacos-group/nacos-docker.git
cd nacos-docker
docker-compose -f example/standalone-derby.yaml up
```

* 服务注册

```shell
curl -X POST 'http://127.0.0.1:8848/nacos/v1/ns/instance?serviceName=nacos.naming&ip=20.18.7.10'
```

| 参数 | 说明 | 默认值 |
| --- | --- | --- |
| `JVM_XMS` | -Xms | 1g |
| `MODE` | cluster/standalone | cluster |
"""

EN_DOC = (
    "The apiserver is configured to listen for remote connections on a secure port. "
    "One or more forms of authorization should be enabled, especially if anonymous requests "
    "are allowed. Nodes should be provisioned with the public root certificate for the cluster "
    "so that they can connect securely to the apiserver along with valid client credentials."
)
EN_PARAGRAPH = (
    "This tutorial assumes that you have already set up a cluster. You also need to install "
    "the command line tool, and you should read the installation instructions first."
)
DE_DOC = (
    "Ein Controller überwacht mindestens einen Kubernetes Ressourcentyp. Diese Objekte haben "
    "ein Spezifikationsfeld, das den Wunschzustand darstellt. Der Controller sendet Nachrichten "
    "an den API Server, die nützliche Effekte haben, und der Job Controller erstellt Pods."
)


def test_document_language_declared_wins() -> None:
    assert document_language([DE_DOC], declared=" EN ") == ("en", 1.0)


@pytest.mark.parametrize(
    ("texts", "lang"),
    [
        ([ZH_README], "zh"),  # commands, URLs and a table of identifiers do not outvote it
        ([EN_DOC, "元语智能 | 出资设立 | 功能型对话大模型"], "en"),
        ([DE_DOC, "kubectl get pods", "Controller Manager"], "de"),
        ([EN_PARAGRAPH, DE_DOC, DE_DOC], "de"),  # weighted by amount, not by block count
        ([EN_PARAGRAPH, EN_DOC, DE_DOC], "en"),
    ],
)
def test_document_language_detected(texts: list[str], lang: str) -> None:
    guess = document_language(texts)
    assert guess.lang == lang
    assert 0.3 < guess.confidence <= 1.0


def test_document_language_without_prose() -> None:
    assert document_language(["```\nmake build\n```", "| a_b | 1 |", ""]) == ("und", 0.0)
    # a few words are a guess, not a certainty
    assert document_language(["Quick start"]).confidence < 0.2


@pytest.mark.parametrize(
    "text",
    [
        "```json\n{\n  \"type\": \"roundrobin\",\n  \"nodes\": {\"127.0.0.1:1980\": 1}\n}\n```",
        "curl http://127.0.0.1:9180/apisix/admin/routes/1 -H \"X-API-KEY: $admin_key\" -X PUT",
        "| `max_kept` | integer | 168 |\n| `max_size` | integer | -1 |",
        "## Semantic DOM\n\n<code src=\"./demo/_semantic.tsx\"></code>",
        "<!--\nThe connections from the apiserver to the kubelet are used for fetching logs for "
        "pods, attaching to running pods and providing port forwarding.\n-->",
    ],
)
def test_chunk_without_prose_of_its_own_inherits(text: str) -> None:
    assert chunk_language(text, "zh") == "zh"
    assert chunk_language(text, "de") == "de"


def test_chunk_with_a_genuinely_other_language_paragraph() -> None:
    assert chunk_language(EN_PARAGRAPH + "\n\n```bash\nminikube start\n```", "zh") == "en"
    assert chunk_language(DE_DOC, "en") == "de"
    assert chunk_language(EN_DOC, "de") == "en"
    zh_rows = (
        "百川智能 | A 轮 | 3 亿美元 | 在知识问答、文本创作领域表现突出 | Baichuan-7B | 795 |\n"
        "智谱 AI | B 轮 | 12 亿人民币 | 多模态理解、工具调用、代码解释、逻辑推理 | ChatGLM-6B |"
    )
    assert chunk_language(zh_rows, "en") == "zh"


def test_chunk_needs_enough_and_clear_prose_to_differ() -> None:
    # one short English sentence in a Chinese document: not enough to call the chunk English
    assert chunk_language("Learn how to manage collection alias in Milvus.", "zh") == "zh"
    # Chinese prose with English terms stays Chinese; an English paragraph with one name too
    zh = "使用 `abort` 操作创建带有 fault-injection 插件的 Route 和 Upstream。"
    assert chunk_language(zh, "zh") == "zh"
    assert chunk_language(EN_DOC + " Zhang Guofeng (张国锋) said so.", "en") == "en"
    # a German chunk full of English technical terms stays German
    de = (
        "Der Deployment Controller und Job Controller sind Beispiele für Controller, die Teil "
        "von Kubernetes selbst sind. Sie finden auch Controller, die außerhalb des Control Planes "
        "laufen, um Kubernetes zu erweitern."
    )
    assert chunk_language(de, "de") == "de"
    # a run of English words without sentences (a keyword list) is no paragraph
    terms = "Cloud Native Software Delivery Cloud Agile Project Management Cloud Operating System"
    assert chunk_language(terms + " Distributed Data Science Computing Framework", "zh") == "zh"


def test_chunk_without_document_language_guesses() -> None:
    assert chunk_language(DE_DOC, "") == "de"
    assert chunk_language("开源大模型的商业模式", "und") == "zh"
    assert chunk_language("$ make build && make test", "") == "und"


@pytest.mark.parametrize(
    ("query", "lang"),
    [
        ("How does the proxy work?", "en"),
        ("How do I run LocalSend in portable mode?", "en"),
        ("Max length of a Milvus alias?", "en"),
        ("APISIX 如何配置 mTLS？", "zh"),
        ("APISIX 如何为 Admin API 配置 mTLS？", "zh"),
        ("Nacos Docker 快速开始", "zh"),
        ("What does 开源 mean?", "en"),  # English grammar around one Chinese term
        ("Wie aktiviere ich cgroup v2?", "de"),
        ("Welcher Port wird verwendet?", "de"),
        ("Was ist ein Controller?", "de"),
    ],
)
def test_detect_query_short_and_mixed(detector: LanguageDetector, query: str, lang: str) -> None:
    assert detector.detect_query(query) == lang
    assert detect_query(query, candidates=("en", "zh", "de")) == lang


def test_detect_query_candidates(detector: LanguageDetector) -> None:
    # among the collection's languages a two-word query can be placed; among eleven it cannot
    assert detector.detect_query("open source") == "und"
    assert detect_query("open source", candidates=("en", "zh", "de")) == "en"
    # an English question is not German because German is the only alphabetic candidate
    assert detect_query("Which port does it use?", candidates=("zh", "de")) == ""
    assert detect_query("Welchen Port nutzt es?", candidates=("zh", "de")) == "de"
    assert detector.detect_query("kubectl", candidates=["en", "de"]) == "und"
    assert detect_query("1.2.3 --help", candidates=("en",), default="x") == "x"
