"""Prose extraction: only natural-language words may vote on a text's language."""

from __future__ import annotations

import pytest

from reportrag.prose import has_cjk, prose_text


def words(text: str) -> list[str]:
    return prose_text(text).split()


@pytest.mark.parametrize(
    "text",
    [
        "Run the server now.",
        "运行 示例代码",
        "Die Entwicklung großer Modelle steckt noch in den Kinderschuhen.",
    ],
)
def test_plain_prose_is_kept_word_for_word(text: str) -> None:
    assert words(text) == text.rstrip(".").split()


def test_idempotent() -> None:
    raw = "## 使用 `kubectl` 部署\n\nSee [the guide](https://x.io/a) for more, e.g. `--port`.\n"
    once = prose_text(raw)
    assert prose_text(once) == once


def test_fenced_code_and_its_comments_are_dropped() -> None:
    text = (
        "执行以下命令，运行示例代码：\n\n```bash\n# install the dependencies first\n"
        "pip install pymilvus\nexport PATH=$HOME/bin:$PATH\n```\n\n运行结果如下所示"
    )
    assert prose_text(text) == "执行以下命令 运行示例代码\n运行结果如下所示"


def test_chunk_that_starts_inside_a_code_block() -> None:
    # the first fence closes a block opened in the previous chunk: what precedes it is code
    # (even the line of output that reads like English), the sentence after it is not
    text = (
        "    plugin_attr:\n      log-rotate:\n        interval: 3600\n"
        "heapster was successfully enabled\n```\n\n配置完成，你需要重新加载 APISIX。"
    )
    assert prose_text(text) == "配置完成 你需要重新加载"


def test_info_string_fence_only_opens() -> None:
    text = "Install it:\n\n```shell\nnpm install antd --save\n```\n\nThen import the styles."
    assert prose_text(text) == "Install it\nThen import the styles"


def test_code_shaped_lines_without_fences() -> None:
    text = "\n".join(
        [
            "const token = Cookie.get('apisix-csrf-token');",
            "return node;",
            "export default (props) => {",
            "};",
            '    "type": "roundrobin",',
            "$ hexo server --port 4000",
            "curl -i http://127.0.0.1:9080/get -H 'X-API-KEY: abc'",
            "hit: (distance: 0.0, id: 2998), random field: -11.0",
            "=== Start loading ===",
            "NAME READY STATUS RESTARTS AGE",
            "hello-node-5f76cf6ccf-br9b5 1/1 Running 0 1m",
            "nacos.core.member.lookup.type=${addressPluginName}",
            "<<<<<<< HEAD",
        ]
    )
    assert prose_text(text) == ""


def test_yaml_and_front_matter() -> None:
    text = (
        "---\ntitle: Nacos Docker 快速开始\nkind: Deployment\nweight: 50\n"
        "description: This page shows how to run Nacos in Docker.\n---"
    )
    # values that read as text stay; one word after an identifier key is a name, not prose
    assert prose_text(text) == "Nacos Docker 快速开始\nThis page shows how to run Nacos in Docker"


def test_yaml_value_with_trailing_comment_is_configuration() -> None:
    assert prose_text("interval: 3600 # rotate interval (unit: second)") == ""


def test_hash_comment_blocks_are_not_headings() -> None:
    licence = (
        "# Licensed to the Apache Software Foundation (ASF) under one\n"
        "# or more contributor license agreements.\n#\n"
    )
    assert prose_text(licence) == ""
    assert prose_text("# Quick Start\n\nRun it.") == "Quick Start\nRun it"


def test_html_comments_are_hidden_text_even_when_cut() -> None:
    text = "<!--\nThe English original of the paragraph.\n-->\n中文的段落。"
    assert prose_text(text) == "中文的段落"
    # a chunk that starts inside a comment, and one that ends inside another
    assert prose_text("the end of an English original\n-->\n中文的段落。") == "中文的段落"
    assert prose_text("中文的段落。\n<!--\nThe English original") == "中文的段落"


def test_shortcodes_and_template_comments() -> None:
    text = (
        '{{< glossary_tooltip text="Pod" term_id="pod" >}} Objekte werden erstellt.\n'
        "{{< comment >}}\nhidden note\n{{< /comment >}}\n{% youtube Rl48Yk4A_V8 %}"
    )
    assert prose_text(text) == "Objekte werden erstellt"


def test_inline_markup() -> None:
    text = (
        "Use [the js-cookie library](https://github.com/js-cookie/js-cookie) to read "
        "`apisix-csrf-token`, see ![img](a.png) <b>bold</b> or mail ops@example.com."
    )
    assert words(text) == "Use the js-cookie library to read see bold or mail".split()


def test_identifiers_numbers_flags_and_urls_do_not_vote() -> None:
    text = (
        "Set max_kept to 168 with --max-kept or -k, in conf/config.yaml, "
        "via ConfigProvider and mTLS on v2.3.0 (see https://apisix.apache.org) at 10:17:24."
    )
    assert words(text) == "Set to with or in via and on see at".split()


def test_acronyms_do_not_vote_but_short_words_do() -> None:
    assert words("APIs and HTTPS over TLS") == ["and", "over"]
    assert words("Es gibt zwei Versionen.") == ["Es", "gibt", "zwei", "Versionen"]


def test_table_rows_keep_prose_cells_only() -> None:
    rows = (
        "| Name | Type | Required | Description |\n|---|---|---|---|\n"
        "| name | string | False | Name of the token in the generated cookie. |\n"
        "| key | string | 是 | 加密 Token 的密钥。 |\n"
        "| value | `string` | - | 5.28.0 |"
    )
    assert prose_text(rows) == "Name of the token in the generated cookie\n是 加密 Token 的密钥"


def test_cjk_is_split_from_latin() -> None:
    assert words("使用Nacos的Java客户端") == ["使用", "Nacos", "的", "Java", "客户端"]
    assert has_cjk("表 4.1") and not has_cjk("Table 4.1")
