"""Find the documents that translate each other from their content alone (no manifest).

Pure functions over data: each document's language, chunks and vectors in, scored pairs
out. Nothing here reads the store or the file names (doc ids are labels only), so the
detector can be measured honestly on sets whose names give the pairs away.

Three stages, the way a search engine retrieves, re-ranks and decides:

1. **Candidates** (cheap, recall-oriented). Per document and per other language, the
   ``neighbours`` documents of that language whose mean vector is nearest by CSLS
   (cosine minus the two documents' mean similarity to their ``hub_k`` nearest documents of
   the other's language), so that a hub (a long document close to everything) does not
   crowd out the true counterpart. Pairs whose lengths (embedding tokens) differ by more
   than ``max_length_ratio`` are dropped: a translation is not four times as long.
2. **Evidence** for each candidate, from two independent tests:

   * *Votes* (is it the best of the alternatives?): every chunk of ``a`` votes for the
     document, among ``a``'s candidates of ``b``'s language (its *pool*), holding its best
     matching chunk, by chunk-level CSLS (a target chunk close to everything, such as a
     table or a licence header, has its similarity lowered by its mean similarity to
     chunks of ``a``'s language). ``votes(a→b)`` is the share of ``a``'s chunks voting for
     ``b``, with ``vote_prior`` pseudo-votes at chance. *Chance* is ``b``'s share of the
     pool's chunks: what a chunk with no counterpart would give ``b``.
   * *Coverage* (are the two documents parallel?): :func:`reportrag.ingest.align.align_pair`, the
     monotonic chunk aligner used for declared pairs; the share of each side's chunks with
     a link of confidence at least 0.5.

   A direction scores ``max(0, votes − chance) + chance × coverage``: the votes beyond
   chance count in full, the chance share only as far as the alignment confirms it. With
   many competitors chance is small and the votes decide (sibling pages built from one
   template align well and are told apart only by competition); with few (a corpus holding
   one German document: every German vote goes to it) chance is large and only a parallel
   alignment can earn the score. The pair's **score** is the geometric mean of the two
   directions, and its **confidence** ``sigmoid(slope × (score − threshold))``.
3. **Assignment** (one-to-one, groups). Pairs at or above ``threshold``, best first, join
   translation groups like Kruskal's algorithm joins trees: an edge is accepted only if the
   two groups it merges have no language in common, so a document gets at most one
   counterpart per other language and an en/zh/de triple becomes one group. Declared pairs
   are merged first and are never undone. Every two documents of a detected group form a
   pair; one that no accepted edge joins directly (implied through the third document)
   gets the weaker of its two edges' confidences, or its own when that is higher.

Calibration (eval/pairs-dev, 98 pages of six documentation sites, 51 true pairs, and
corpus/, one translated report and three unrelated articles; eval/realdocs is held out):
true pairs score ≥ 0.69, false candidates ≤ 0.35; ``threshold`` = 0.5 sits between, and
the slope puts those at confidence ≥ 0.9 and ≤ 0.15. ``bench/pairs.py`` prints the margins.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence

from reportrag.ingest.pairassign import assign
from reportrag.ingest.pairevidence import candidate_pairs, chunk_votes, verify
from reportrag.ingest.pairmodel import (
    DEFAULT_PAIR_PARAMS,
    UNKNOWN_LANGS,
    Detection,
    DocumentSample,
    PairParams,
    ordered_pair,
)


def detect_translations(
    docs: Sequence[DocumentSample],
    *,
    fixed: Iterable[tuple[str, str]] = (),
    params: PairParams = DEFAULT_PAIR_PARAMS,
) -> Detection:
    """Translation pairs among ``docs`` beyond the ``fixed`` (declared) ones.

    Documents of an unknown language or without chunks take no part. A document with a
    declared counterpart in some language gets no detected one in that language.
    """
    started = time.perf_counter()
    usable = [d for d in docs if d.lang not in UNKNOWN_LANGS and len(d.chunks)]
    fixed = [p for p in fixed]
    stages: dict[str, float] = {}
    if not usable or (len({d.lang for d in usable}) < 2 and not fixed):
        return Detection([], [], [], 0, round(time.perf_counter() - started, 3), stages)
    t = time.perf_counter()
    pairs, pools, similarity = candidate_pairs(usable, params, fixed)
    stages["candidates"] = round(time.perf_counter() - t, 3)
    t = time.perf_counter()
    votes = chunk_votes(usable, pools, params)
    stages["votes"] = round(time.perf_counter() - t, 3)
    t = time.perf_counter()
    by_id = {d.doc_id: d for d in usable}
    fixed_keys = {ordered_pair(a, b) for a, b in fixed}
    evidence = [
        verify(by_id[a], by_id[b], votes, similarity.get((a, b), 0.0), params)
        for a, b in pairs
        if (a, b) not in fixed_keys
    ]
    # Declared pairs are measured the same way (their confidence is shown, and a low one
    # warns), whether or not they were candidates, but never compete in the assignment.
    fixed_evidence = [
        verify(by_id[a], by_id[b], votes, similarity.get((a, b), 0.0), params)
        for a, b in sorted(fixed_keys)
        if a in by_id and b in by_id
    ]
    stages["verify"] = round(time.perf_counter() - t, 3)
    langs = {d.doc_id: d.lang for d in usable}
    found = assign(evidence, langs, fixed, params)
    return Detection(
        pairs=found,
        evidence=evidence,
        fixed_evidence=fixed_evidence,
        candidates=len(pairs),
        seconds=round(time.perf_counter() - started, 3),
        stage_seconds=stages,
    )
