"""Align the chunks of two translated documents: which passage of one is which of the other.

Chunks are cut per language, so their boundaries do not coincide. :func:`align_pair` finds a
monotonic (order-preserving) alignment by dynamic programming over *beads*: 1-1, 1-2 and 2-1
(two chunks of one side merged), 1-0 and 0-1 (a chunk with no counterpart).
:func:`align_translations` does it for every declared translation pair in the store and
writes the counterparts that changed.

**Score** of a bead (in z units, so no constant depends on the model's cosine scale):

* the cosine of the two sides' vectors (a merged side: the re-normalised mean) as a robust
  z-score against its row's and its column's background (median and MAD of that unit's
  similarity to every unit of the other document; short rows shrink towards the pooled
  spread), averaged over both. The background absorbs what is not about meaning: a chunk
  close to everything (tables, lists), the same-language boost a Chinese table row of the
  English edition gets against every Chinese chunk, the inflation of a merged vector. When
  the store holds other documents, the passages of those most like the pair join that
  background (:class:`Background`), so short documents are judged against a real population;
* plus ``anchor_weight`` × the idf-weighted cosine of the anchors (numbers, Latin-script
  names, section numbers) both sides share, see :mod:`reportrag.ingest.anchors`.

A bead is worth ``(score - pair_threshold) * (chunks in it) / 2``, minus ``merge_penalty`` for a
merge; skipping a chunk is worth 0. So a chunk with no convincing partner (captions only, a
table of contents, a deleted passage) is skipped rather than forced onto a neighbour, and a
merge must earn its keep against a 1-1 bead plus a skip.

**Confidence** = ``own × region × document``, three probabilities (logistic curves):

* ``own = sigmoid(own_slope * (score - own_center))``: is this bead a match, if the region is
  parallel at all? (score 1 → 0.5, 2 → 0.88, 3 → 0.98)
* ``region = sigmoid(context_slope * (context - context_center))``: is the text around it
  parallel? ``context`` is the mean score of the ``context_beads`` nearest beads on one side
  (the better side, so a bead next to an insertion keeps its support), each discounted by
  ``exp(-gap / gap_scale)`` for the chunks skipped in between; document ends count as beads
  of score ``boundary_score`` (two editions begin and end together). Two articles on one
  topic always share a few similar passages, but such beads are isolated amid skips;
* ``document = sigmoid(coverage_slope * (coverage - coverage_center))``: are these documents
  translations? ``coverage`` is the share of chunks (of the better-covered side, so a partial
  translation still counts) in beads with ``own × region ≥ 0.5``. 000/001 reach 0.98, every
  unrelated pair of the corpus ≤ 0.03: a chance run of similar passages gets nothing.

The curves' centres sit where the evidence is even (a score of one background spread; a
neighbourhood of middling beads; half the document aligned). Checked on the 000/001 gold
set with the unrelated corpus pairs as negatives: links at ≥ 0.9 are right 98 % of the time
and no link of an unrelated pair reaches 0.5 (``bench/alignment.py`` prints the table).

**Secondary links**: where two beads touch, the last chunk of one may also hold the start of
the next bead's first chunk on the other side (the boundaries fall in different places, and
consecutive chunks share an overlap). That boundary pair becomes a secondary link when its
own score is within ``secondary_slack`` of the primary partner's (of either chunk): the
chunk resembles both about equally. Its confidence uses its own score with the bead's
region and document factors and never exceeds the bead's.

**Chunks in the other language** (the English edition's Chinese table rows) are aligned like
the rest: they are verbatim copies of rows of the Chinese edition, so their counterparts
are real ("this passage appears in the other edition"; ``Counterpart.lang`` says it is
Chinese), the row-and-column background removes their same-language advantage, and
dropping them would leave the tables at the end of both editions unlinked.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from reportrag.ingest.alignscore import Background, Shape, score_matrices
from reportrag.ingest.anchors import AnchorIndex
from reportrag.types import Chunk, Counterpart

log = logging.getLogger(__name__)

__all__ = ["Alignment", "AlignParams", "Background", "Bead", "Link", "align_pair"]


@dataclass(frozen=True)
class AlignParams:
    """Knobs of the aligner (defaults tuned on the 000/001 gold set; see module docstring)."""

    shapes: tuple[Shape, ...] = ((1, 1), (1, 2), (2, 1))
    anchor_weight: float = 1.0
    pair_threshold: float = 1.5
    merge_penalty: float = 0.6
    context_beads: int = 2
    gap_scale: float = 2.0
    boundary_score: float = 3.0
    own_center: float = 1.0
    own_slope: float = 2.0
    context_center: float = 2.5
    context_slope: float = 3.0
    score_cap: float = 6.0
    coverage_center: float = 0.5
    coverage_slope: float = 10.0
    secondary_slack: float = 0.3


DEFAULT_PARAMS = AlignParams()


@dataclass(frozen=True)
class Bead:
    """Positions (in the input lists) of the chunks aligned together; empty side = skipped."""

    src: tuple[int, ...]
    tgt: tuple[int, ...]
    score: float = 0.0
    confidence: float = 0.0


@dataclass(frozen=True)
class Link:
    """One src chunk ↔ tgt chunk link; ``primary`` if both are in the same bead."""

    src: int
    tgt: int
    confidence: float
    primary: bool = True


@dataclass
class Alignment:
    """The beads of one document pair, the links they imply and summary statistics."""

    src: list[Chunk]
    tgt: list[Chunk]
    beads: list[Bead]
    links: list[Link]
    min_confidence: float = 0.5

    @property
    def pairs(self) -> list[Bead]:
        """Beads with chunks on both sides."""
        return [b for b in self.beads if b.src and b.tgt]

    @property
    def kept_links(self) -> list[Link]:
        """Links at or above ``min_confidence``."""
        return [lk for lk in self.links if lk.confidence >= self.min_confidence]

    @property
    def linked_fraction(self) -> tuple[float, float]:
        """Share of src and of tgt chunks with at least one kept link."""
        kept = self.kept_links
        src = {lk.src for lk in kept}
        tgt = {lk.tgt for lk in kept}
        return (
            len(src) / len(self.src) if self.src else 0.0,
            len(tgt) / len(self.tgt) if self.tgt else 0.0,
        )

    @property
    def mean_confidence(self) -> float:
        """Mean confidence of the paired beads (0 when there are none)."""
        pairs = self.pairs
        return float(np.mean([b.confidence for b in pairs])) if pairs else 0.0

    def counterparts(self) -> dict[str, list[Counterpart]]:
        """chunk_id → counterparts at or above ``min_confidence``, both directions, best first."""
        out: dict[str, list[Counterpart]] = {}
        for lk in self.kept_links:
            s, t = self.src[lk.src], self.tgt[lk.tgt]
            out.setdefault(s.chunk_id, []).append(Counterpart(t.chunk_id, t.lang, lk.confidence))
            out.setdefault(t.chunk_id, []).append(Counterpart(s.chunk_id, s.lang, lk.confidence))
        for cps in out.values():
            cps.sort(key=lambda c: (-c.confidence, c.chunk_id))
        return out


def _best_path(
    scores: dict[Shape, np.ndarray], n: int, m: int, params: AlignParams
) -> list[tuple[range, range]]:
    """The highest-value monotonic bead sequence (row-vectorised dynamic programming)."""
    shapes = [s for s in params.shapes if scores[s].size]
    values = [
        (scores[s] - params.pair_threshold) * (s[0] + s[1]) / 2
        - (0.0 if s == (1, 1) else params.merge_penalty)
        for s in shapes
    ]
    best = np.full((n + 1, m + 1), -np.inf)
    back = np.zeros((n + 1, m + 1), dtype=np.int8)  # 1: skip src, 2: skip tgt, 3+k: shapes[k]
    cols = np.arange(m + 1)
    for i in range(n + 1):
        row = np.full(m + 1, -np.inf)
        arg = np.zeros(m + 1, dtype=np.int8)
        if i == 0:
            row[0] = 0.0
        else:
            row[:] = best[i - 1]
            arg[:] = 1
            for k, (a, b) in enumerate(shapes):
                if i < a:
                    continue
                cand = np.full(m + 1, -np.inf)
                cand[b:] = best[i - a, : m + 1 - b] + values[k][i - a, : m + 1 - b]
                better = cand > row
                row[better] = cand[better]
                arg[better] = 3 + k
        running = np.maximum.accumulate(row)  # then skip tgt chunks (0-1 beads, worth 0)
        origin = np.maximum.accumulate(np.where(row >= running, cols, 0))
        arg[origin != cols] = 2
        best[i], back[i] = running, arg
    path: list[tuple[range, range]] = []
    i, j = n, m
    while i > 0 or j > 0:
        code = int(back[i, j])
        a, b = (1, 0) if code == 1 else (0, 1) if code == 2 else shapes[code - 3]
        path.append((range(i - a, i), range(j - b, j)))
        i, j = i - a, j - b
    return path[::-1]


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, x))))


@dataclass(frozen=True)
class _Span:
    src: range
    tgt: range
    score: float


def _context(spans: list[_Span], k: int, n: int, m: int, p: AlignParams) -> float:
    """Best side's gap-discounted mean score of bead k's neighbours (document ends count)."""
    ends = (
        _Span(range(0, 0), range(0, 0), p.boundary_score),
        _Span(range(n, n), range(m, m), p.boundary_score),
    )
    sides = []
    for step in (-1, 1):
        total, count, gap, here = 0.0, 0, 0, spans[k]
        for idx in range(k + step, k + step * (p.context_beads + 1), step):
            at_end = not 0 <= idx < len(spans)
            other = ends[step > 0] if at_end else spans[idx]
            first, last = (other, here) if step < 0 else (here, other)
            gap += (last.src.start - first.src.stop) + (last.tgt.start - first.tgt.stop)
            total += math.exp(-gap / p.gap_scale) * min(other.score, p.score_cap)
            count += 1
            if at_end:
                break
            here = other
        sides.append(total / count)
    return max(sides)


def _coverage(spans: list[_Span], local: list[float], n: int, m: int) -> float:
    """Share of the better-covered document's chunks in beads convincing on their own."""
    strong = [sp for sp, c in zip(spans, local, strict=True) if c >= 0.5]
    src = sum(len(sp.src) for sp in strong) / n
    tgt = sum(len(sp.tgt) for sp in strong) / m
    return max(src, tgt)


def _links(
    spans: list[_Span],
    own: list[float],
    region: list[float],
    single: np.ndarray,
    doc: float,
    p: AlignParams,
) -> tuple[list[float], list[Link]]:
    """Bead confidences, and links: every pair inside a bead, plus straddling neighbours."""
    confs = [round(o * r * doc, 3) for o, r in zip(own, region, strict=True)]
    links: dict[tuple[int, int], Link] = {}
    for sp, conf in zip(spans, confs, strict=True):
        for i in sp.src:
            for j in sp.tgt:
                links[(i, j)] = Link(i, j, conf, True)
    for k in range(len(spans) - 1):
        a, b = spans[k], spans[k + 1]
        if b.src.start != a.src.stop or b.tgt.start != a.tgt.stop:
            continue  # not touching: nothing straddles
        for i, j, mine, theirs, bead in (
            (a.src[-1], b.tgt[0], a.tgt, b.src, k),
            (b.src[0], a.tgt[-1], b.tgt, a.src, k + 1),
        ):
            score = float(single[i, j])
            best_i = max(float(single[i, x]) for x in mine)
            best_j = max(float(single[y, j]) for y in theirs)
            if score < p.pair_threshold or score < min(best_i, best_j) - p.secondary_slack:
                continue
            own_ij = _sigmoid(p.own_slope * (score - p.own_center))
            conf = min(round(own_ij * region[bead] * doc, 3), confs[bead])
            links.setdefault((i, j), Link(i, j, conf, False))
    return confs, sorted(links.values(), key=lambda lk: (lk.src, lk.tgt))


def align_pair(
    src: list[Chunk],
    src_vecs: np.ndarray,
    tgt: list[Chunk],
    tgt_vecs: np.ndarray,
    *,
    min_confidence: float = 0.5,
    params: AlignParams = DEFAULT_PARAMS,
    background: Background | None = None,
) -> Alignment:
    """Monotonic bead alignment of two chunk sequences (document order) with confidences.

    With ``background`` (passages of other documents in each language), similarities are
    measured against those as well as against the other document (:class:`Background`).
    """
    if len(src) != len(src_vecs) or len(tgt) != len(tgt_vecs):
        raise ValueError("each chunk list needs exactly one vector per chunk")
    n, m, p = len(src), len(tgt), params
    if not n or not m:
        beads = [Bead((i,), ()) for i in range(n)] + [Bead((), (j,)) for j in range(m)]
        return Alignment(src, tgt, beads, [], min_confidence)
    anchors = AnchorIndex.build([c.text for c in src], [c.text for c in tgt])
    scores = score_matrices(_normalised(src_vecs), _normalised(tgt_vecs), anchors,
                            shapes=p.shapes, anchor_weight=p.anchor_weight,
                            background=background)
    path = _best_path(scores, n, m, p)
    spans = [
        _Span(s, t, float(scores[(len(s), len(t))][s.start, t.start])) for s, t in path if s and t
    ]
    own = [_sigmoid(p.own_slope * (sp.score - p.own_center)) for sp in spans]
    region = [
        _sigmoid(p.context_slope * (_context(spans, k, n, m, p) - p.context_center))
        for k in range(len(spans))
    ]
    local = [o * r for o, r in zip(own, region, strict=True)]
    doc = _sigmoid(p.coverage_slope * (_coverage(spans, local, n, m) - p.coverage_center))
    confs, links = _links(spans, own, region, scores[(1, 1)], doc, p)
    paired = {
        (sp.src.start, sp.tgt.start): (sp.score, c) for sp, c in zip(spans, confs, strict=True)
    }
    beads = [
        Bead(tuple(s), tuple(t), *paired[(s.start, t.start)])
        if s and t
        else Bead(tuple(s), tuple(t))
        for s, t in path
    ]
    return Alignment(src, tgt, beads, links, min_confidence)


def _normalised(vecs: np.ndarray) -> np.ndarray:
    arr = np.asarray(vecs, dtype=np.float32)
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    return arr / np.where(norms > 0, norms, 1.0)


# -- document pairs in the store ---------------------------------------------------------
