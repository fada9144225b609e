"""Bead scores of the aligner: cosine similarities as robust z-scores, plus shared anchors.

See :mod:`reportrag.ingest.align` for how the scores are used; this module holds the
arithmetic (units of merged chunks, the row and column backgrounds, the anchor bonus).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reportrag.ingest.anchors import AnchorIndex, merge_rows, overlap

Shape = tuple[int, int]
SPREAD_PRIOR = 30  # pseudo-observations of the pooled spread in each row's robust z-score


def _units(vecs: np.ndarray, width: int) -> np.ndarray:
    """Re-normalised means of ``width`` consecutive vectors (row k: vectors k..k+width-1)."""
    n = len(vecs) - width + 1
    if n <= 0:
        return vecs[:0]
    total = sum(vecs[k : k + n] for k in range(width))
    norms = np.linalg.norm(total, axis=1, keepdims=True)
    return total / np.where(norms > 0, norms, 1.0)


def _robust_z(sim: np.ndarray, axis: int) -> np.ndarray:
    med = np.median(sim, axis=axis, keepdims=True)
    dev = sim - med
    mad = 1.4826 * np.median(np.abs(dev), axis=axis, keepdims=True)
    # A row of a short document has few entries and so a noisy spread: shrink it towards the
    # spread of the whole matrix, as if that were SPREAD_PRIOR more observations.
    pooled = 1.4826 * float(np.median(np.abs(dev)))
    count = sim.shape[axis]
    spread = np.sqrt((count * mad**2 + SPREAD_PRIOR * pooled**2) / (count + SPREAD_PRIOR))
    return dev / np.maximum(spread, 1e-4)


@dataclass(frozen=True)
class Background:
    """Passages of other documents, in each side's language (unit vectors): the population a
    row's and a column's similarities are measured against besides the other document.

    A short document has few rows and columns: in a 3 × 3 matrix a chunk's median
    similarity is that to the second-best chunk of the same topic, and the true match
    stands out by little. Against passages of other documents it stands out clearly.
    ``tgt_lang`` is the background of the source's rows, ``src_lang`` that of the target's
    columns (docs/evaluation.md#small-documents).
    """

    src_lang: np.ndarray
    tgt_lang: np.ndarray


def score_matrices(
    src_vecs: np.ndarray,
    tgt_vecs: np.ndarray,
    anchors: AnchorIndex,
    *,
    shapes: tuple[Shape, ...],
    anchor_weight: float,
    background: Background | None = None,
) -> dict[Shape, np.ndarray]:
    """Score of every bead of each shape: entry [s, t] is the bead starting at src s, tgt t."""
    out: dict[Shape, np.ndarray] = {}
    for a, b in {(1, 1), *shapes}:
        u, v = _units(src_vecs, a), _units(tgt_vecs, b)
        if not len(u) or not len(v):
            out[(a, b)] = np.zeros((len(u), len(v)), dtype=np.float32)
            continue
        sim = u @ v.T
        if background is None:
            z = 0.5 * (_robust_z(sim, 1) + _robust_z(sim, 0))
        else:
            n, m = sim.shape
            rows = _robust_z(np.hstack([sim, u @ background.tgt_lang.T]), 1)[:, :m]
            cols = _robust_z(np.vstack([sim, background.src_lang @ v.T]), 0)[:n, :]
            z = 0.5 * (rows + cols)
        shared = overlap(merge_rows(anchors.src, a), merge_rows(anchors.tgt, b))
        out[(a, b)] = (z + anchor_weight * shared).astype(np.float32)
    return out
