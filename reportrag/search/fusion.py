"""Rank fusion, near-duplicate removal and MMR diversification (pure functions)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

import numpy as np

RRF_K = 60


def rrf(
    rankings: Sequence[Sequence[str]], *, k: int = RRF_K, weights: Sequence[float] | None = None
) -> dict[str, float]:
    """Reciprocal-rank fusion: sum of w / (k + rank) over the lists holding an id (1-based)."""
    weights = weights or [1.0] * len(rankings)
    scores: dict[str, float] = {}
    for ranking, w in zip(rankings, weights, strict=True):
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + w / (k + rank)
    return scores


# Everything but letters and digits: \W is "not str.isalnum() and not _", plus the underscore.
_NOT_ALNUM = re.compile(r"[\W_]+")


def _text_key(text: str) -> str:
    return _NOT_ALNUM.sub("", unicodedata.normalize("NFKC", text).lower())


def dedupe(items: Sequence[tuple[str, str]], limit: int | None = None) -> list[str]:
    """Ids of ``(id, text)`` pairs minus near-duplicates of a better-ranked one.

    Two passages are near-identical when their letters and digits agree after NFKC and case
    folding, or one is contained in the other (a repeated table row, a quoted paragraph).
    With ``limit``, stops once that many are kept (the rest would be cut anyway).
    """
    kept: list[str] = []
    keys: list[str] = []
    for item_id, text in items:
        if limit is not None and len(kept) >= limit:
            break
        key = _text_key(text)
        if key and any(key == k or (len(key) > 20 and (key in k or k in key)) for k in keys):
            continue
        kept.append(item_id)
        keys.append(key)
    return kept


def distinct(items: Sequence[tuple[str, str]], limit: int | None = None) -> list[str]:
    """Ids of ``(id, key)`` pairs, keeping the first of each key (at most ``limit``).

    Keyed by document and content hash, this drops one passage stored under two chunk ids:
    while a document is re-ingested its text can be stored under the new ids before the old
    ones are deleted.
    """
    kept: list[str] = []
    seen: set[str] = set()
    for item_id, key in items:
        if limit is not None and len(kept) >= limit:
            break
        if key not in seen:
            seen.add(key)
            kept.append(item_id)
    return kept


def mmr(
    ids: Sequence[str],
    relevance: dict[str, float],
    vectors: dict[str, np.ndarray],
    *,
    top_k: int,
    lambda_: float = 0.7,
) -> list[str]:
    """Maximal marginal relevance: trade relevance against similarity to already chosen hits."""
    pool = [i for i in ids if i in vectors]
    chosen: list[str] = []
    while pool and len(chosen) < top_k:
        best, best_val = None, -np.inf
        for i in pool:
            redundancy = max((float(vectors[i] @ vectors[j]) for j in chosen), default=0.0)
            val = lambda_ * relevance.get(i, 0.0) - (1 - lambda_) * redundancy
            if val > best_val:
                best, best_val = i, val
        assert best is not None
        chosen.append(best)
        pool.remove(best)
    return chosen + [i for i in ids if i not in vectors][: max(0, top_k - len(chosen))]
