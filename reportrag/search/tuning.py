"""The ranking knobs below ``candidates`` (RRF weights, the pivot's depth)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from reportrag.errors import InputError
from reportrag.search.crosslingual import (
    PIVOT_SOURCE_CANDIDATES,
    PIVOT_SOURCE_HITS,
    PIVOT_WEIGHT,
)

if TYPE_CHECKING:
    from reportrag.settings import Settings


@dataclass(frozen=True)
class Tuning:
    """The ranking knobs below ``candidates``, with the defaults docs/evaluation.md measured.

    ``pivot_hits``: query-language hits carried across the alignment; ``pivot_candidates``:
    candidates per list of the query-language ranking they come from; ``keyword_weight`` and
    ``pivot_weight``: RRF weights of the BM25 list and of the pivoted list, each against
    the dense list's 1. ``bench/tuning.py`` sweeps them.
    """

    pivot_hits: int = PIVOT_SOURCE_HITS
    pivot_candidates: int = PIVOT_SOURCE_CANDIDATES
    # 1.25 since BM25 is scored on one segment (bench/tuning.py, docs/evaluation.md); the
    # setting REPORTRAG_SEARCH_KEYWORD_WEIGHT has the same default.
    keyword_weight: float = 1.25
    pivot_weight: float = PIVOT_WEIGHT

    def __post_init__(self) -> None:
        if self.pivot_hits < 0 or self.pivot_candidates < 1:
            raise InputError("pivot_hits must be >= 0 and pivot_candidates >= 1")
        if self.keyword_weight < 0 or self.pivot_weight < 0:
            raise InputError("fusion weights must be >= 0")

    @classmethod
    def from_settings(cls, settings: Settings) -> Tuning:
        """The knobs the settings configure (REPORTRAG_SEARCH_KEYWORD_WEIGHT), defaults else."""
        return cls(keyword_weight=settings.search_keyword_weight)
