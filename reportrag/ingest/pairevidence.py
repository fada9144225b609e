"""Stages 1 and 2 of the translation detector: candidate pairs, and the evidence for each.

See :mod:`reportrag.ingest.pairs` for what the stages do and how they were calibrated.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

from reportrag.ingest.align import align_pair
from reportrag.ingest.pairmodel import (
    DEFAULT_PAIR_PARAMS,
    LINK_CONFIDENCE,
    UNKNOWN_LANGS,
    DocumentSample,
    PairEvidence,
    PairParams,
    ordered_pair,
)

# -- stage 1: candidates ---------------------------------------------------------------------


def _unit_rows(x: np.ndarray) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    return arr / np.where(norms > 0, norms, 1.0)


def _top_mean(sim: np.ndarray, k: int, axis: int) -> np.ndarray:
    """Mean of the ``k`` largest entries along ``axis`` (all of them when fewer)."""
    size = sim.shape[axis]
    if size == 0:
        return np.zeros(sim.shape[1 - axis], dtype=np.float32)
    k = min(k, size)
    part = -np.partition(-sim, k - 1, axis=axis)
    top = part[:k] if axis == 0 else part[:, :k]
    return top.mean(axis=axis)


def _pools(
    docs: Sequence[DocumentSample], params: PairParams
) -> tuple[dict[tuple[str, str], list[str]], dict[tuple[str, str], float]]:
    """Per (document, other language): its nearest documents there; and the pairs' CSLS."""
    by_lang: dict[str, list[int]] = {}
    for i, d in enumerate(docs):
        if d.lang not in UNKNOWN_LANGS and len(d.chunks):
            by_lang.setdefault(d.lang, []).append(i)
    centroids = _unit_rows(np.stack([d.vectors.mean(axis=0) for d in docs]))
    pools: dict[tuple[str, str], list[str]] = {}
    similarity: dict[tuple[str, str], float] = {}
    langs = sorted(by_lang)
    for x, lx in enumerate(langs):
        for ly in langs[x + 1 :]:
            rows, cols = by_lang[lx], by_lang[ly]
            sim = centroids[rows] @ centroids[cols].T
            # CSLS: a document near everything of the other language (a hub) is discounted
            csls = 2 * sim - _top_mean(sim, params.hub_k, 1)[:, None]
            csls -= _top_mean(sim, params.hub_k, 0)[None, :]
            for axis, (own, other, lang) in enumerate(((rows, cols, ly), (cols, rows, lx))):
                table = csls if axis == 0 else csls.T
                for r, i in enumerate(own):
                    order = np.argsort(-table[r], kind="stable")[: params.neighbours]
                    pools[(docs[i].doc_id, lang)] = [docs[other[c]].doc_id for c in order]
            for r, i in enumerate(rows):
                for c, j in enumerate(cols):
                    key = ordered_pair(docs[i].doc_id, docs[j].doc_id)
                    similarity[key] = float(csls[r, c])
    return pools, similarity


def candidate_pairs(
    docs: Sequence[DocumentSample],
    params: PairParams = DEFAULT_PAIR_PARAMS,
    fixed: Iterable[tuple[str, str]] = (),
) -> tuple[list[tuple[str, str]], dict[tuple[str, str], list[str]], dict[tuple[str, str], float]]:
    """Pairs worth verifying (sorted ids), the vote pools, and the pairs' similarity.

    The pools are made symmetric: when ``b`` is among ``a``'s nearest, ``a`` joins ``b``'s
    pool, so both directions of every candidate are voted on against real competitors (a
    document that ``b`` does not count among its nearest gets few of its votes, as it
    should). ``fixed`` pairs join the pools too, to be measured the same way.
    """
    pools, similarity = _pools(docs, params)
    tokens = {d.doc_id: d.tokens for d in docs}
    lang = {d.doc_id: d.lang for d in docs}
    pairs: set[tuple[str, str]] = set()
    for (doc, _lang), pool in list(pools.items()):
        for other in pool:
            ratio = max(tokens[doc], tokens[other]) / max(1, min(tokens[doc], tokens[other]))
            if ratio <= params.max_length_ratio:
                pairs.add(ordered_pair(doc, other))
    for a, b in [*pairs, *fixed]:
        if a in lang and b in lang and lang[a] != lang[b]:
            for x, y in ((a, b), (b, a)):
                pool = pools.setdefault((x, lang[y]), [])
                if y not in pool:
                    pool.append(y)
    return sorted(pairs), pools, similarity


# -- stage 2: evidence -----------------------------------------------------------------------


def _sample_rows(vectors: np.ndarray, limit: int) -> np.ndarray:
    """At most ``limit`` rows, evenly spread (deterministic: the same corpus, the same rows)."""
    if len(vectors) <= limit:
        return vectors
    picks = np.linspace(0, len(vectors) - 1, num=limit).round().astype(int)
    return vectors[picks]


def chunk_votes(
    docs: Sequence[DocumentSample],
    pools: dict[tuple[str, str], list[str]],
    params: PairParams = DEFAULT_PAIR_PARAMS,
) -> dict[tuple[str, str], tuple[float, float]]:
    """(a, b) → (share of a's chunks whose best match in a's pool is in b, chance of that)."""
    by_id = {d.doc_id: d for d in docs}
    unit = {d.doc_id: _unit_rows(d.vectors) for d in docs}
    # A chunk's hubness towards each language: its mean similarity to its nearest chunks of
    # that language (over an even sample of them, so the cost stays linear in the corpus).
    samples: dict[str, np.ndarray] = {}
    for lang in {d.lang for d in docs}:
        rows = [unit[d.doc_id] for d in docs if d.lang == lang and len(d.chunks)]
        if rows:
            samples[lang] = _sample_rows(np.concatenate(rows), params.hub_sample)
    hub: dict[tuple[str, str], np.ndarray] = {}

    def hubness(doc_id: str, lang: str) -> np.ndarray:
        if (doc_id, lang) not in hub:
            hub[(doc_id, lang)] = _top_mean(unit[doc_id] @ samples[lang].T, params.chunk_hub_k, 1)
        return hub[(doc_id, lang)]

    out: dict[tuple[str, str], tuple[float, float]] = {}
    for (doc, _lang), pool in pools.items():
        source = unit[doc]
        if not len(source) or not pool:
            continue
        sizes = [len(by_id[p].chunks) for p in pool]
        targets = np.concatenate([unit[p] for p in pool])
        hubs = np.concatenate([hubness(p, by_id[doc].lang) for p in pool])
        # CSLS up to a per-row constant: cos(s, t) − hub(t) / 2 … times two, argmax the same
        best = np.argmax(2 * (source @ targets.T) - hubs[None, :], axis=1)
        owner = np.repeat(np.arange(len(pool)), sizes)
        hits = np.bincount(owner[best], minlength=len(pool))
        total = float(sum(sizes))
        for k, other in enumerate(pool):
            chance = sizes[k] / total
            share = (hits[k] + params.vote_prior * chance) / (len(source) + params.vote_prior)
            out[(doc, other)] = (float(share), float(chance))
    return out


def direction_score(votes: float, chance: float, coverage: float) -> float:
    """Votes beyond chance, plus the chance share as far as the alignment confirms it.

    Votes below chance subtract nothing: with two or three documents in a language a
    neighbour on the same topic can draw most votes, and then the alignment alone decides.
    """
    return max(0.0, votes - chance) + chance * coverage


def pair_score(
    votes: tuple[float, float], chance: tuple[float, float], coverage: tuple[float, float]
) -> float:
    """Geometric mean of the two directions' scores (both documents must agree)."""
    ab = direction_score(votes[0], chance[0], coverage[0])
    ba = direction_score(votes[1], chance[1], coverage[1])
    return math.sqrt(ab * ba)


def confidence_of(score: float, params: PairParams = DEFAULT_PAIR_PARAMS) -> float:
    """The pair's confidence: a logistic curve centred on the acceptance threshold."""
    x = max(-60.0, min(60.0, params.slope * (score - params.threshold)))
    return 1.0 / (1.0 + math.exp(-x))


def alignment_coverage(a: DocumentSample, b: DocumentSample) -> tuple[tuple[float, float], float]:
    """Aligned share of each side's chunks and the beads' mean confidence (align_pair)."""
    if not len(a.chunks) or not len(b.chunks):
        return (0.0, 0.0), 0.0
    alignment = align_pair(
        a.chunks, a.vectors, b.chunks, b.vectors, min_confidence=LINK_CONFIDENCE
    )
    return alignment.linked_fraction, alignment.mean_confidence


def verify(
    a: DocumentSample,
    b: DocumentSample,
    votes: dict[tuple[str, str], tuple[float, float]],
    similarity: float = 0.0,
    params: PairParams = DEFAULT_PAIR_PARAMS,
) -> PairEvidence:
    """The evidence for one candidate pair (votes from :func:`chunk_votes`)."""
    # No vote measured (one language, or a document alone in its language's pool): the
    # alignment alone decides (chance 1).
    ab = votes.get((a.doc_id, b.doc_id), (0.0, 1.0))
    ba = votes.get((b.doc_id, a.doc_id), (0.0, 1.0))
    coverage, mean_confidence = alignment_coverage(a, b)
    v, ch = (ab[0], ba[0]), (ab[1], ba[1])
    score = pair_score(v, ch, coverage)
    return PairEvidence(
        a=a.doc_id,
        b=b.doc_id,
        similarity=round(similarity, 4),
        votes=(round(v[0], 4), round(v[1], 4)),
        chance=(round(ch[0], 4), round(ch[1], 4)),
        coverage=(round(coverage[0], 4), round(coverage[1], 4)),
        mean_confidence=round(mean_confidence, 4),
        score=round(score, 4),
        confidence=round(confidence_of(score, params), 3),
    )
