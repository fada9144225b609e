"""bench/chunking.py's bookkeeping: the sizes it accepts and how it compares rows."""

from __future__ import annotations

import pytest

from bench.chunking import DEFAULT_SIZES, add_comparison, main, parse_sizes
from reportrag.settings import Settings


def test_sizes_parse_and_the_default_list_holds_the_default_setting() -> None:
    assert parse_sizes("200:32, 320:48") == [(200, 32), (320, 48)]
    s = Settings()
    assert (s.chunk_tokens, s.chunk_overlap_tokens) in parse_sizes(DEFAULT_SIZES)


@pytest.mark.parametrize("bad", ["", "200", "200:", "a:32", "200:32:1", "200:-1", "16:0",
                                 "200:200", "200:32,200:32", "２００:32"])
def test_a_bad_size_list_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="--sizes"):
        parse_sizes(bad)


def test_the_cli_refuses_a_bad_size_list_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--sizes", "200:300"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bench.chunking: --sizes: '200:300'") and err.count("\n") == 1


def _row(tokens: int, overlap: int, dev: dict[str, int | None],
         ext: dict[str, int | None]) -> dict:
    return {"tokens": tokens, "overlap": overlap,
            "dev": {"ranks": dev}, "extended": {"ranks": ext}}


def test_each_row_is_compared_with_the_default_size() -> None:
    rows = [_row(200, 32, {"a": 2, "b": 1}, {"x": None, "y": 1}),
            _row(320, 48, {"a": 1, "b": 1}, {"x": 3, "y": 1})]
    add_comparison(rows, (320, 48))
    assert (rows[0]["dev"]["better"], rows[0]["dev"]["worse"]) == (0, 1)
    assert (rows[0]["extended"]["better"], rows[0]["extended"]["worse"]) == (0, 1)
    assert (rows[1]["dev"]["better"], rows[1]["dev"]["worse"]) == (0, 0)


def test_without_the_default_size_there_is_nothing_to_compare_with() -> None:
    rows = [_row(200, 32, {"a": 2}, {"x": 1})]
    add_comparison(rows, (320, 48))
    assert rows[0]["dev"]["better"] is None and rows[0]["extended"]["worse"] is None
