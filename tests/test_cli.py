"""The `reportrag` command line on the ingested corpus: JSON outputs and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reportrag.api.cli import main as cli_main
from reportrag.settings import get_settings

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture()
def env(lite_settings, monkeypatch):
    monkeypatch.setenv("REPORTRAG_DATA_DIR", str(lite_settings.data_dir))
    monkeypatch.setenv("REPORTRAG_MODEL", lite_settings.model)
    monkeypatch.setenv("REPORTRAG_CORPUS_DIR", str(lite_settings.corpus_dir))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli_main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_search_json_has_the_api_shape(env, capsys) -> None:
    code, out, _ = _run(
        capsys,
        "search",
        "How many A100 GPUs does ChatGPT need?",
        "--lang",
        "zh",
        "--top-k",
        "3",
        "--json",
    )
    body = json.loads(out)
    assert code == 0 and body["mode"] == "crosslingual" and len(body["hits"]) == 3
    assert {
        "chunk_id",
        "doc_id",
        "title",
        "lang",
        "section",
        "text",
        "score",
        "dense_score",
        "keyword_score",
        "char_start",
        "char_end",
    } <= set(body["hits"][0])
    assert all(h["lang"] == "zh" for h in body["hits"])


def test_model_info_and_embed(env, capsys) -> None:
    code, out, _ = _run(capsys, "model", "info", "--json")
    info = json.loads(out)
    assert code == 0 and info["dim"] == 384 and info["max_tokens"] == 512
    assert info["fingerprint"]["model"] == "intfloat/multilingual-e5-small"
    code, out, _ = _run(capsys, "embed", "open source", "开源", "--query", "--json")
    vecs = json.loads(out)["vectors"]
    assert code == 0 and len(vecs) == 2 and len(vecs[0]) == 384


def test_eval_writes_json(env, capsys, tmp_path: Path) -> None:
    out_file = tmp_path / "eval.json"
    code, out, _ = _run(
        capsys,
        "eval",
        str(REPO / "eval" / "dev_queries.jsonl"),
        "--modes",
        "dense",
        "--json",
        str(out_file),
    )
    report = json.loads(out_file.read_text(encoding="utf-8"))
    assert code == 0 and "overall" in out
    assert report["summary"]["dense"]["overall"]["n"] == 16
    assert 0.5 <= report["summary"]["dense"]["overall"]["recall@10"] <= 1.0


@pytest.mark.parametrize(
    "argv,code,needle",
    [
        (["search", "x", "--top-k", "0"], 2, "--top-k"),
        (["search", "x", "--lang", "english!"], 2, "lang"),
        (["search", "   "], 2, "empty"),
        (["eval", "/no/such/file.jsonl"], 2, "file.jsonl"),
        (["chunks", "no-such-doc"], 5, "no-such-doc"),
    ],
)
def test_cli_errors_are_one_line(env, capsys, argv: list[str], code: int, needle: str) -> None:
    got, out, err = _run(capsys, *argv)
    lines = err.strip().splitlines()
    assert got == code and len(lines) == 1 and needle in lines[0], (got, err)


@pytest.mark.parametrize("value", ["", "int4", "INT8", "fp32; rm -rf /", "ｉｎｔ８", "x" * 5000])
def test_a_bad_query_precision_is_one_line_and_exit_2(env, capsys, monkeypatch, value) -> None:
    monkeypatch.setenv("REPORTRAG_QUERY_PRECISION", value)
    get_settings.cache_clear()
    code, out, err = _run(capsys, "model", "info")
    lines = err.strip().splitlines()
    assert code == 2 and out == ""
    assert len(lines) == 1 and lines[0].startswith(
        "reportrag: error: setting REPORTRAG_QUERY_PRECISION:"), err
    assert len(lines[0]) < 300  # the bad value is not echoed back in full


@pytest.mark.parametrize("value", ["", "abc", "-1", "10.5", "nan", "inf", "１.２５",
                                   "1.25; rm -rf /", "9" * 5000])
def test_a_bad_keyword_weight_is_one_line_and_exit_2(env, capsys, monkeypatch, value) -> None:
    monkeypatch.setenv("REPORTRAG_SEARCH_KEYWORD_WEIGHT", value)
    get_settings.cache_clear()
    code, out, err = _run(capsys, "search", "open source")
    lines = err.strip().splitlines()
    assert code == 2 and out == ""
    assert len(lines) == 1 and lines[0].startswith(
        "reportrag: error: setting REPORTRAG_SEARCH_KEYWORD_WEIGHT:"), err
    assert len(lines[0]) < 300  # the bad value is not echoed back in full


@pytest.mark.parametrize(
    ("name", "value"),
    [("REPORTRAG_LITE_PROCESS", v) for v in ("", "maybe", "ｔｒｕｅ", "1; rm -rf /", "y" * 5000)]
    + [("REPORTRAG_LITE_ADDRESS", v) for v in ("", "127.0.0.1:1", "http://h:1/;rm -rf /",
                                               "ftp://127.0.0.1:2", "http://" + "h" * 5000)],
)
def test_a_bad_lite_setting_is_one_line_and_exit_2(env, capsys, monkeypatch, name, value) -> None:
    monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    code, out, err = _run(capsys, "serve", "--port", "1")
    lines = err.strip().splitlines()
    assert code == 2 and out == ""
    assert len(lines) == 1 and lines[0].startswith(f"reportrag: error: setting {name}:"), err
    assert len(lines[0]) < 300  # the bad value is not echoed back in full
