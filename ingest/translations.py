"""Align the declared translation pairs of the corpus inside the store.

Reads each pair's chunks and vectors, aligns them with :func:`ingest.align.align_pair`, and
rewrites only the chunks whose counterparts changed, so re-running after an unchanged ingest
writes nothing.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from ingest.align import DEFAULT_PARAMS, AlignParams, align_pair
from reportrag.types import Chunk, Counterpart, DocumentMeta

log = logging.getLogger(__name__)

WARN_MEAN_CONFIDENCE = 0.5


@dataclass
class PairReport:
    """What aligning one declared translation pair found and wrote."""

    src_doc: str
    tgt_doc: str
    src_chunks: int = 0
    tgt_chunks: int = 0
    links: int = 0  # src↔tgt links at or above the threshold
    chunks_updated: int = 0  # chunks whose stored counterparts were rewritten
    src_linked: float = 0.0
    tgt_linked: float = 0.0
    mean_confidence: float = 0.0
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)


class AlignStore(Protocol):
    """The three store methods the aligner needs (MilvusStore has them)."""

    def chunks_of(self, doc_id: str) -> list[Chunk]: ...

    def get_vectors(self, chunk_ids: list[str]) -> dict[str, np.ndarray]: ...

    def set_counterparts(self, updates: dict[str, list[Counterpart]]) -> None: ...


def translation_pairs(docs: list[DocumentMeta]) -> tuple[list[tuple[str, str]], list[str]]:
    """Declared pairs among ``docs`` (each once, sorted ids) and warnings for dangling ones."""
    ids = {d.doc_id for d in docs}
    pairs: set[tuple[str, str]] = set()
    problems: list[str] = []
    for d in docs:
        other = d.translation_of
        if not other:
            continue
        if other == d.doc_id:
            problems.append(f"{d.doc_id}: translation_of names the document itself")
        elif other not in ids:
            problems.append(f"{d.doc_id}: translation_of {other!r} is not among the documents")
        else:
            a, b = sorted((d.doc_id, other))
            pairs.add((a, b))
    return sorted(pairs), problems


def align_translations(
    docs: list[DocumentMeta],
    *,
    store: AlignStore,
    min_confidence: float = 0.5,
    changed_doc_ids: set[str] | None = None,
    params: AlignParams = DEFAULT_PARAMS,
) -> list[PairReport]:
    """Align every declared translation pair and store the counterparts that changed.

    A pair is refused, with a warning and no write, when a side has no chunks in the store
    or both sides are mostly in the same language; a pair whose alignment collapses (not a
    translation) warns and keeps only links at or above ``min_confidence`` (normally none).
    """
    pairs, problems = translation_pairs(docs)
    for problem in problems:
        log.warning("translation pairs: %s", problem)
    reports: list[PairReport] = []
    for a, b in pairs:
        if changed_doc_ids is not None and not ({a, b} & changed_doc_ids):
            log.debug("align %s ↔ %s: neither changed, skipped", a, b)
            continue
        reports.append(_align_stored_pair(a, b, store, min_confidence, params))
    return reports


def _majority_lang(chunks: list[Chunk]) -> str:
    counts = Counter(c.lang for c in chunks)
    return counts.most_common(1)[0][0] if counts else ""


def _align_stored_pair(
    a: str, b: str, store: AlignStore, min_confidence: float, params: AlignParams
) -> PairReport:
    started = time.perf_counter()
    report = PairReport(a, b)
    src, tgt = (sorted(store.chunks_of(d), key=lambda c: c.ordinal) for d in (a, b))
    vectors = store.get_vectors([c.chunk_id for c in src + tgt])
    missing = [c for c in src + tgt if c.chunk_id not in vectors]
    if missing:
        report.warnings.append(f"{len(missing)} chunks have no vector and were left out")
    src = [c for c in src if c.chunk_id in vectors]
    tgt = [c for c in tgt if c.chunk_id in vectors]
    report.src_chunks, report.tgt_chunks = len(src), len(tgt)
    if not src or not tgt:
        report.warnings.append(f"{a if not src else b}: no chunks in the store; not aligned")
        return _finish(report, started)
    lang_a, lang_b = _majority_lang(src), _majority_lang(tgt)
    if lang_a == lang_b:
        report.warnings.append(
            f"both documents are mostly {lang_a!r}: not a translation pair; not aligned"
        )
        return _finish(report, started)
    alignment = align_pair(
        src,
        np.stack([vectors[c.chunk_id] for c in src]),
        tgt,
        np.stack([vectors[c.chunk_id] for c in tgt]),
        min_confidence=min_confidence,
        params=params,
    )
    report.links = len(alignment.kept_links)
    report.src_linked, report.tgt_linked = (round(x, 3) for x in alignment.linked_fraction)
    report.mean_confidence = round(alignment.mean_confidence, 3)
    if alignment.mean_confidence < WARN_MEAN_CONFIDENCE:
        report.warnings.append(
            f"mean confidence {alignment.mean_confidence:.2f} < {WARN_MEAN_CONFIDENCE}: "
            "are these really translations?"
        )
    updates = _changed_counterparts(src, tgt, alignment.counterparts())
    if updates:
        store.set_counterparts(updates)
    report.chunks_updated = len(updates)
    return _finish(report, started)


def _changed_counterparts(
    src: list[Chunk], tgt: list[Chunk], fresh: dict[str, list[Counterpart]]
) -> dict[str, list[Counterpart]]:
    """New counterpart lists for the chunks whose stored ones differ (3-decimal confidences).

    Counterparts in documents outside this pair (a third language) are kept as they are.
    """
    updates: dict[str, list[Counterpart]] = {}
    for side, other in ((src, tgt), (tgt, src)):
        other_ids = {c.chunk_id for c in other}
        other_doc = other[0].doc_id + ":"
        for chunk in side:
            foreign = [
                cp
                for cp in chunk.counterparts
                if cp.chunk_id not in other_ids and not cp.chunk_id.startswith(other_doc)
            ]
            wanted = sorted(
                foreign + fresh.get(chunk.chunk_id, []), key=lambda c: (-c.confidence, c.chunk_id)
            )
            if _key(wanted) != _key(chunk.counterparts):
                updates[chunk.chunk_id] = wanted
    return updates


def _key(cps: list[Counterpart]) -> list[tuple[str, float]]:
    return sorted((c.chunk_id, round(float(c.confidence), 3)) for c in cps)


def _finish(report: PairReport, started: float) -> PairReport:
    report.seconds = round(time.perf_counter() - started, 3)
    log.info(
        "aligned %s ↔ %s: %d links, %d chunks updated, mean confidence %.2f in %.2fs",
        report.src_doc,
        report.tgt_doc,
        report.links,
        report.chunks_updated,
        report.mean_confidence,
        report.seconds,
    )
    for warning in report.warnings:
        log.warning("align %s ↔ %s: %s", report.src_doc, report.tgt_doc, warning)
    return report
