"""bench/tuning.py's bookkeeping: the settings it sweeps and how it compares rankings."""

from __future__ import annotations

from dataclasses import replace

from bench.tuning import compare, variants
from reportrag.search.service import Tuning


def test_the_default_comes_first_and_every_setting_is_a_valid_tuning() -> None:
    rows = variants(40)
    assert rows[0] == ("default", 40, {})
    labels = [label for label, _, _ in rows]
    assert len(labels) == len(set(labels))
    for _, candidates, overrides in rows:
        assert candidates >= 1
        replace(Tuning(), **overrides)  # a knob that does not exist would raise here


def test_compare_counts_moves_and_ranks_a_miss_below_every_hit() -> None:
    base = {"a": 1, "b": 3, "c": None, "d": 2}
    other = {"a": 2, "b": 1, "c": 9, "d": 2}
    assert compare(base, other) == (2, 1)  # b and c moved up, a down, d stayed
    assert compare(other, base) == (1, 2)
    assert compare(base, base) == (0, 0)
