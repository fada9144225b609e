"""Align translation pairs whose chunks are in the store, and write what changed.

:func:`align_translations` reads both documents' chunks and vectors, aligns them
(:func:`reportrag.ingest.align.align_pair`), warns about evidence that looks wrong (both
sides read as one language, an alignment that collapses) and rewrites only the chunks whose
counterparts changed; counterparts in a third document are kept.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from reportrag.ingest.align import DEFAULT_PARAMS, AlignParams, Background, align_pair
from reportrag.ingest.pairevidence import confidence_of, pair_score
from reportrag.ingest.pairmodel import document_language
from reportrag.types import Chunk, Counterpart, DocumentMeta

if TYPE_CHECKING:
    from reportrag.store.protocols import WriteStore

log = logging.getLogger(__name__)

WARN_MEAN_CONFIDENCE = 0.5
DECLARED, DETECTED = "declared", "detected"
# Passages of other documents per language that a pair's similarities are measured against
# (align.Background, Backgrounds).
BACKGROUND_PASSAGES = 64


@dataclass
class PairReport:
    """What aligning one translation pair found and wrote."""

    src_doc: str
    tgt_doc: str
    source: str = DECLARED  # declared in the manifest, or detected from the content
    confidence: float = 0.0  # document level, see ingest.pairs (0 when not aligned)
    aligned: bool = False  # the alignment ran (it may still have found no link)
    src_chunks: int = 0
    tgt_chunks: int = 0
    links: int = 0  # src↔tgt links at or above the threshold
    chunks_updated: int = 0  # chunks whose stored counterparts were rewritten
    src_linked: float = 0.0
    tgt_linked: float = 0.0
    mean_confidence: float = 0.0
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    # A detected pair none of whose passages aligns: not a translation after all, so it is
    # not recorded (docs/evaluation.md#translation-pair-detection).
    rejected: bool = False


@dataclass(frozen=True)
class PairSpec:
    """A pair to align: its documents, where it comes from and its document-level confidence
    (None: not measured this run; the alignment's coverage then stands in)."""

    a: str
    b: str
    source: str = DECLARED
    confidence: float | None = None


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
    store: WriteStore,
    min_confidence: float = 0.5,
    changed_doc_ids: set[str] | None = None,
    params: AlignParams = DEFAULT_PARAMS,
    pairs: Sequence[PairSpec] | None = None,
    loaded: dict[str, tuple[list[Chunk], np.ndarray]] | None = None,
    declared_langs: dict[str, str] | None = None,
    is_current: Callable[[str, str], bool] | None = None,
) -> list[PairReport]:
    """Align ``pairs`` (default: the pairs ``docs`` declare) and store what changed.

    Every pair is aligned, also one whose two sides read as one language (a warning says
    so and names both); only a side with no chunks in the store stops it. A pair whose
    alignment collapses (not a translation) warns and keeps only links at or above
    ``min_confidence`` (normally none). ``loaded`` holds documents already read (their
    chunks in order and vectors), which are then not read again (and are kept up to date
    with what is written). ``declared_langs`` are the manifest's languages (default: those
    of ``docs``); a document without one is read from its chunks. A pair is skipped when
    neither document is in ``changed_doc_ids`` or when ``is_current`` says it is current.
    """
    if pairs is None:
        declared, problems = translation_pairs(docs)
        for problem in problems:
            log.warning("translation pairs: %s", problem)
        pairs = [PairSpec(a, b) for a, b in declared]
    declared_lang = (
        {d.doc_id: d.lang for d in docs if d.lang} if declared_langs is None else declared_langs
    )
    reports: list[PairReport] = []
    samples = Backgrounds(loaded or {}, declared_lang)
    for spec in pairs:
        if skipped(spec, changed_doc_ids, is_current):
            log.debug("align %s ↔ %s: neither changed, skipped", spec.a, spec.b)
            continue
        reports.append(
            _align_stored_pair(spec, store, min_confidence, params, loaded or {}, declared_lang,
                               samples)
        )
    return reports


def skipped(spec: PairSpec, changed_doc_ids: set[str] | None,
            is_current: Callable[[str, str], bool] | None) -> bool:
    """Whether :func:`align_translations` leaves this pair as it is."""
    return (changed_doc_ids is not None and not ({spec.a, spec.b} & changed_doc_ids)) or (
        is_current is not None and is_current(spec.a, spec.b))


class Backgrounds:
    """Per pair, passages of the documents most like it, in each language: what a pair's
    similarities are measured against besides each other (``align.Background``).

    A side's background is the passages (in document order) of the documents in its
    language, outside the pair, whose mean vector is nearest the *other* side's, up to
    ``BACKGROUND_PASSAGES``: a translation must match its partner better than it matches
    the pages most like that partner. (Random passages of the store made two template-built
    sibling pages that are not translations align too.)
    """

    def __init__(self, loaded: dict[str, tuple[list[Chunk], np.ndarray]],
                 declared_lang: dict[str, str]) -> None:
        # Per language, once: the documents (by id), their unit mean vectors as one matrix
        # and their vectors (not copied: a sample normalises only the passages it picks).
        grouped: dict[str, list[tuple[str, np.ndarray, np.ndarray]]] = {}
        self._means: dict[str, np.ndarray] = {}  # doc_id -> unit mean vector
        for doc_id, (chunks, vectors) in sorted(loaded.items()):
            if not len(vectors):
                continue
            mean = np.asarray(vectors, dtype=np.float32).mean(axis=0)
            mean /= max(float(np.linalg.norm(mean)), 1e-12)
            self._means[doc_id] = mean
            lang = declared_lang.get(doc_id) or document_language(chunks)
            grouped.setdefault(lang, []).append((doc_id, mean, vectors))
        self._langs = {
            lang: ([d for d, _, _ in docs], np.stack([m for _, m, _ in docs]),
                   [v for _, _, v in docs])
            for lang, docs in grouped.items()
        }

    def sample(self, lang: str, near: str, exclude: set[str]) -> np.ndarray:
        """Unit vectors of up to ``BACKGROUND_PASSAGES`` passages in ``lang``, from the
        documents outside ``exclude`` nearest to document ``near`` (ties: by id); (0, 0)
        when none."""
        if near not in self._means or lang not in self._langs:
            return np.zeros((0, 0), dtype=np.float32)
        ids, means, vectors = self._langs[lang]
        picked: list[np.ndarray] = []
        for k in np.argsort(-(means @ self._means[near]), kind="stable"):
            if ids[k] in exclude:
                continue
            picked.extend(vectors[k][: BACKGROUND_PASSAGES - len(picked)])
            if len(picked) == BACKGROUND_PASSAGES:
                break
        if not picked:
            return np.zeros((0, 0), dtype=np.float32)
        arr = np.asarray(picked, dtype=np.float32)
        return arr / np.maximum(np.linalg.norm(arr, axis=1, keepdims=True), 1e-12)

    def for_pair(self, a: str, lang_a: str, b: str, lang_b: str) -> Background | None:
        """The background of the pair (a, b); None when either language has none."""
        src, tgt = self.sample(lang_a, b, {a, b}), self.sample(lang_b, a, {a, b})
        return Background(src, tgt) if len(src) and len(tgt) else None


def _read(
    doc_id: str, store: WriteStore, loaded: dict[str, tuple[list[Chunk], np.ndarray]]
) -> tuple[list[Chunk], dict[str, np.ndarray]]:
    if doc_id in loaded:
        chunks, vectors = loaded[doc_id]
        return chunks, {c.chunk_id: v for c, v in zip(chunks, vectors, strict=True)}
    chunks = sorted(store.chunks_of(doc_id), key=lambda c: c.ordinal)
    return chunks, store.get_vectors([c.chunk_id for c in chunks])


def _lang_profile(chunks: list[Chunk], declared: str) -> str:
    counts = Counter(c.lang for c in chunks)
    shown = ", ".join(f"{lang} {n}" for lang, n in counts.most_common(3))
    return f"declared {declared!r}, chunks {shown}" if declared else f"chunks {shown}"


def _align_stored_pair(
    spec: PairSpec,
    store: WriteStore,
    min_confidence: float,
    params: AlignParams,
    loaded: dict[str, tuple[list[Chunk], np.ndarray]],
    declared_lang: dict[str, str],
    samples: Backgrounds | None = None,
) -> PairReport:
    started = time.perf_counter()
    a, b = spec.a, spec.b
    report = PairReport(a, b, source=spec.source)
    (src, src_vecs), (tgt, tgt_vecs) = _read(a, store, loaded), _read(b, store, loaded)
    missing = [c for c in src if c.chunk_id not in src_vecs]
    missing += [c for c in tgt if c.chunk_id not in tgt_vecs]
    if missing:
        report.warnings.append(f"{len(missing)} chunks have no vector and were left out")
    src = [c for c in src if c.chunk_id in src_vecs]
    tgt = [c for c in tgt if c.chunk_id in tgt_vecs]
    report.src_chunks, report.tgt_chunks = len(src), len(tgt)
    if not src or not tgt:
        report.warnings.append(f"{a if not src else b}: no chunks in the store; not aligned")
        return _finish(report, started)
    lang_a = declared_lang.get(a) or document_language(src)
    lang_b = declared_lang.get(b) or document_language(tgt)
    read_a, read_b = document_language(src), document_language(tgt)
    if spec.source == DECLARED and (lang_a == lang_b or read_a == read_b):
        # The manifest is the authority: align anyway, and say what looks wrong.
        same = lang_a if lang_a == lang_b else read_a
        report.warnings.append(
            f"both documents read as {same!r} ({a}: {_lang_profile(src, declared_lang.get(a, ''))}"
            f"; {b}: {_lang_profile(tgt, declared_lang.get(b, ''))}): aligned as declared; "
            "check translation_of and lang in the manifest"
        )
    alignment = align_pair(
        src,
        np.stack([src_vecs[c.chunk_id] for c in src]),
        tgt,
        np.stack([tgt_vecs[c.chunk_id] for c in tgt]),
        min_confidence=min_confidence,
        params=params,
        background=samples.for_pair(a, lang_a, b, lang_b) if samples else None,
    )
    report.aligned = True
    report.links = len(alignment.kept_links)
    report.src_linked, report.tgt_linked = (round(x, 3) for x in alignment.linked_fraction)
    report.mean_confidence = round(alignment.mean_confidence, 3)
    if spec.confidence is not None:
        report.confidence = spec.confidence
    else:  # no competition measured: the alignment's coverage alone (see ingest.pairs)
        score = pair_score((0.0, 0.0), (1.0, 1.0), alignment.linked_fraction)
        report.confidence = round(confidence_of(score), 3)
    if alignment.mean_confidence < WARN_MEAN_CONFIDENCE:
        evidence = (
            f"mean confidence {alignment.mean_confidence:.2f} < {WARN_MEAN_CONFIDENCE} "
            f"({report.links} links; {report.src_linked:.0%} of {a} and "
            f"{report.tgt_linked:.0%} of {b} aligned)"
        )
        if spec.source == DECLARED:
            report.warnings.append(f"{evidence}: are these really translations?")
        elif not report.links:  # detected, but no passage matches its partner: not a pair
            report.rejected = True
            report.warnings.append(
                f"{evidence}: detected with document confidence {report.confidence:.2f}, but "
                "no passage aligns: not a translation pair after all; not recorded")
        else:  # the documents match as wholes, their passages not one to one
            report.warnings.append(
                f"{evidence}: detected with document confidence {report.confidence:.2f}, "
                "but few passages align one to one (little for cross-lingual search to use)"
            )
    updates = _changed_counterparts(src, tgt, alignment.counterparts())
    if updates:
        store.set_counterparts(updates)
        keep_written(src + tgt, updates)
    report.chunks_updated = len(updates)
    return _finish(report, started)


def keep_written(chunks: list[Chunk], updates: dict[str, list[Counterpart]]) -> None:
    """Keep chunks read earlier (the ``loaded`` documents) in step with what was stored, so
    the next pair of the same document keeps these links as its third-language ones."""
    for chunk in chunks:
        if chunk.chunk_id in updates:
            chunk.counterparts = list(updates[chunk.chunk_id])


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
    if report.aligned:
        log.info(
            "aligned %s ↔ %s (%s, confidence %.2f): %d links, %d chunks updated, "
            "mean confidence %.2f in %.2fs",
            report.src_doc,
            report.tgt_doc,
            report.source,
            report.confidence,
            report.links,
            report.chunks_updated,
            report.mean_confidence,
            report.seconds,
        )
    for warning in report.warnings:
        log.warning("align %s ↔ %s: %s", report.src_doc, report.tgt_doc, warning)
    return report
