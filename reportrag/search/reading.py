"""Reading the passages that make the cut: chunks, vectors and dense scores, as few as possible.

Searches return ids and scores; once the ranking is known, the chunks (and vectors) of the
few candidates that can make the top ``k`` are read in one go. Near-duplicates are dropped
on the way, reading further only when they used up what was read; MMR diversification
picks from a wider pool.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from reportrag.search.fusion import dedupe as dedupe_ids
from reportrag.search.fusion import distinct, mmr
from reportrag.search.ranking import Candidate
from reportrag.search.results import Hit

if TYPE_CHECKING:
    from reportrag.store.protocols import ReadStore

# Chunks read beyond top_k so that dropping a near-duplicate rarely needs a second read.
DEDUPE_SLACK = 2


def fill_dense_scores(store: ReadStore, qvec: np.ndarray, cands: list[Candidate]) -> None:
    """Give candidates found another way their dense score (cosine with the query)."""
    missing = [c for c in cands if c.dense_score is None]
    if missing:
        vecs = store.get_vectors([c.chunk_id for c in missing])
        for c in missing:
            if c.chunk_id in vecs:
                c.vector = vecs[c.chunk_id]
                c.dense_score = float(c.vector @ qvec)


def read(store: ReadStore, cands: list[Candidate], qvec: np.ndarray) -> list[Candidate]:
    """Read the chunks (and vectors) of these candidates that the search did not return.

    Keyword-only candidates get their dense score here. Candidates whose chunk is gone
    (deleted since the search) are dropped.
    """
    todo = [c for c in cands if c.chunk is None]
    if todo:
        chunks, vectors = store.get_with_vectors([c.chunk_id for c in todo])
        got = {ch.chunk_id: (ch, v) for ch, v in zip(chunks, vectors, strict=True)}
        for c in todo:
            if c.chunk_id in got:
                c.chunk, c.vector = got[c.chunk_id]
                if c.dense_score is None:
                    c.dense_score = float(c.vector @ qvec)
    kept = [c for c in cands if c.chunk is not None]
    fill_dense_scores(store, qvec, kept)  # keyword-only hits that came with their rows
    return kept


def first(store: ReadStore, cands: list[Candidate], qvec: np.ndarray, want: int,
          dedupe: bool) -> list[Candidate]:
    """The best ``want`` candidates (near-duplicates removed), reading as few as possible.

    Near-duplicates are rare, so a couple of extra chunks are read up front; when more
    than that were duplicates (or deleted since the search), the next candidates are read
    and the pass repeats (the kept set of a prefix is the kept set of the whole list, so
    it is exact).
    """
    n = want + (DEDUPE_SLACK if dedupe else 0)
    while True:
        got = [(c, c.chunk) for c in read(store, cands[:n], qvec) if c.chunk is not None]
        if dedupe:
            ids = dedupe_ids([(c.chunk_id, ch.text) for c, ch in got], want)
        else:  # the same passage under two chunk ids is one hit even so
            ids = distinct([(c.chunk_id, f"{ch.doc_id}\x1f{ch.content_hash}") for c, ch in got],
                           want)
        # Short when duplicates (or chunks deleted since the search) used up the prefix.
        if len(ids) >= want or n >= len(cands):
            keep = set(ids)
            return [c for c, _ in got if c.chunk_id in keep]
        n *= 2


def trim(store: ReadStore, cands: list[Candidate], qvec: np.ndarray, *, top_k: int,
         dedupe: bool, diversify: bool) -> list[Hit]:
    """The top ``top_k`` hits of a ranking: deduplicated, diversified (MMR) if asked."""
    if not diversify:
        return [c.hit() for c in first(store, cands, qvec, top_k, dedupe)]
    # Diversifying picks from a wider pool of (deduplicated) candidates.
    pool = first(store, cands, qvec, max(top_k * 4, 20), dedupe)
    missing = [c.chunk_id for c in pool if c.vector is None]
    vectors = store.get_vectors(missing) if missing else {}
    vectors.update({c.chunk_id: c.vector for c in pool if c.vector is not None})
    rel = {c.chunk_id: (c.dense_score or 0.0) for c in pool}
    ids = mmr([c.chunk_id for c in pool], rel, vectors, top_k=top_k)
    by_id = {c.chunk_id: c for c in pool}
    return [by_id[i].hit() for i in ids[:top_k]]
