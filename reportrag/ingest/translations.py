"""Translation pairs in the store: declared ones, detected ones, their chunk alignments.

After each ingestion :func:`sync_translations`

1. takes the pairs the manifest declares (``translation_of``): always aligned, whatever
   their content looks like; evidence that looks wrong (both sides read as one language, an
   alignment that collapses) is a warning naming both documents, never a refusal, and the
   declared language is never overridden;
2. detects further pairs among the rest from their content (:mod:`reportrag.ingest.pairs`), when a
   document changed since the last detection (otherwise the recorded ones stand);
3. aligns every pair whose documents changed
   (:func:`reportrag.ingest.pairalign.align_translations`, which rewrites
   only the chunks whose counterparts changed);
4. removes the chunk counterparts of pairs that no longer hold (a detected pair that gave
   way to a better one, a declaration taken back);
5. records each document's translations, ``[{doc_id, confidence, source}]``, on its first
   chunk (see :mod:`reportrag.store.schema`), where ``/v1/documents`` reads them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from reportrag.ingest.align import DEFAULT_PARAMS, AlignParams
from reportrag.ingest.pairalign import (
    DECLARED,
    DETECTED,
    PairReport,
    PairSpec,
    align_translations,
    keep_written,
    skipped,
    translation_pairs,
)
from reportrag.ingest.pairmodel import (
    DEFAULT_PAIR_PARAMS,
    DocumentSample,
    PairParams,
    document_language,
    ordered_pair,
)
from reportrag.ingest.pairs import detect_translations
from reportrag.types import Chunk, Counterpart, DocumentMeta, Translation

if TYPE_CHECKING:
    from reportrag.store.protocols import WriteStore

log = logging.getLogger(__name__)


@dataclass
class TranslationSync:
    """What :func:`sync_translations` did."""

    reports: list[PairReport] = field(default_factory=list)
    detection: dict[str, object] = field(default_factory=dict)
    unlinked: list[tuple[str, str]] = field(default_factory=list)  # pairs that gave way
    records_written: int = 0
    problems: list[str] = field(default_factory=list)


def load_documents(
    store: WriteStore, page_size: int = 1000
) -> dict[str, tuple[list[Chunk], np.ndarray]]:
    """Every visible chunk with its vector, by document, in document order (one scan)."""
    chunks: dict[str, list[Chunk]] = {}
    vectors: dict[str, list[np.ndarray]] = {}
    for page, vecs in store.scan_with_vectors(page_size):
        for chunk, vec in zip(page, vecs, strict=True):
            chunks.setdefault(chunk.doc_id, []).append(chunk)
            vectors.setdefault(chunk.doc_id, []).append(vec)
    out: dict[str, tuple[list[Chunk], np.ndarray]] = {}
    for doc_id, cs in chunks.items():
        order = sorted(range(len(cs)), key=lambda i: cs[i].ordinal)
        out[doc_id] = ([cs[i] for i in order], np.stack([vectors[doc_id][i] for i in order]))
    return out


def sync_translations(
    metas: list[DocumentMeta],
    *,
    store: WriteStore,
    declared_langs: dict[str, str] | None = None,
    changed_doc_ids: set[str] | None = None,
    is_current: Callable[[str, str], bool] | None = None,
    detect: bool = True,
    pair_params: PairParams = DEFAULT_PAIR_PARAMS,
    align_params: AlignParams = DEFAULT_PARAMS,
) -> TranslationSync:
    """Declared pairs ∪ detected pairs: align what changed, record them per document.

    ``metas`` are the run's documents (their ``translation_of`` declares pairs),
    ``declared_langs`` the languages the manifest gives (never overridden; the others are
    read from the chunks); ``changed_doc_ids`` and ``is_current`` say which pairs need no
    new alignment (see :func:`align_translations`). With ``detect`` False the detected
    pairs recorded earlier stand (nothing changed since they were found).
    """
    out = TranslationSync()
    declared, out.problems = translation_pairs(metas)
    for problem in out.problems:
        log.warning("translation pairs: %s", problem)
    declared_langs = declared_langs or {}
    recorded = store.document_translations()
    declared = sorted(set(declared) | _declared_elsewhere(recorded, metas))
    loaded: dict[str, tuple[list[Chunk], np.ndarray]] = {}
    if detect:
        loaded = load_documents(store)
        specs = _detect(declared, declared_langs, loaded, pair_params, out)
    else:
        specs = [PairSpec(a, b, DECLARED) for a, b in declared]
        specs += _recorded_detections(recorded, set(declared))
        out.detection = {"ran": False}
    if not loaded and not all(skipped(s, changed_doc_ids, is_current) for s in specs):
        loaded = load_documents(store)  # a pair is aligned against the others (Backgrounds)
    current = {ordered_pair(s.a, s.b): s for s in specs}
    # Unlink first: the alignments below keep a chunk's links into third documents, and
    # must not keep those of a pair that gave way.
    out.unlinked = _unlink_stale(recorded, current, store, loaded)
    out.reports = align_translations(
        metas,
        store=store,
        changed_doc_ids=changed_doc_ids,
        is_current=is_current,
        params=align_params,
        pairs=specs,
        loaded=loaded,
        declared_langs=declared_langs,
    )
    for r in out.reports:  # detected, but no passage aligns: not a translation pair after all
        if r.rejected:
            current.pop(ordered_pair(r.src_doc, r.tgt_doc), None)
    out.records_written = _record(recorded, current, out.reports, store, loaded)
    return out


def _detect(
    declared: list[tuple[str, str]],
    declared_langs: dict[str, str],
    loaded: dict[str, tuple[list[Chunk], np.ndarray]],
    params: PairParams,
    out: TranslationSync,
) -> list[PairSpec]:
    """Run the detector over every stored document; the pairs to align, declared first."""
    samples = [
        DocumentSample(d, declared_langs.get(d) or document_language(cs), cs, vs)
        for d, (cs, vs) in sorted(loaded.items())
    ]
    detection = detect_translations(samples, fixed=declared, params=params)
    measured = {ordered_pair(e.a, e.b): e.confidence for e in detection.fixed_evidence}
    specs = [PairSpec(a, b, DECLARED, measured.get((a, b))) for a, b in declared]
    specs += [PairSpec(p.a, p.b, DETECTED, p.confidence) for p in detection.pairs]
    out.detection = {
        "ran": True,
        "documents": len(samples),
        "candidates": detection.candidates,
        "detected": len(detection.pairs),
        "seconds": detection.seconds,
        "stage_seconds": detection.stage_seconds,
    }
    log.info(
        "translation detection: %d documents, %d candidates verified, %d pairs in %.2fs",
        len(samples), detection.candidates, len(detection.pairs), detection.seconds,
    )
    return specs


def _declared_elsewhere(
    recorded: dict[str, list[Translation]], metas: list[DocumentMeta]
) -> set[tuple[str, str]]:
    """Recorded declared pairs this run cannot judge: a run over some files reads only their
    manifest entries, and a pair stays declared unless both of its documents were read
    (records are written on both sides: one side without a record is no longer stored)."""
    run_ids = {m.doc_id for m in metas}
    return {
        ordered_pair(d, t.doc_id)
        for d, ts in recorded.items()
        for t in ts
        if t.source == DECLARED and t.doc_id in recorded and not {d, t.doc_id} <= run_ids
    }


def _recorded_detections(
    recorded: dict[str, list[Translation]], declared: set[tuple[str, str]]
) -> list[PairSpec]:
    """The detected pairs recorded by an earlier run (when nothing changed since)."""
    kept = {
        ordered_pair(d, t.doc_id): t.confidence
        for d, ts in recorded.items()
        for t in ts
        if t.source == DETECTED
    }
    return [
        PairSpec(a, b, DETECTED, conf) for (a, b), conf in sorted(kept.items())
        if (a, b) not in declared
    ]


def _unlink_stale(
    recorded: dict[str, list[Translation]],
    current: dict[tuple[str, str], PairSpec],
    store: WriteStore,
    loaded: dict[str, tuple[list[Chunk], np.ndarray]],
) -> list[tuple[str, str]]:
    """Drop the chunk counterparts between documents recorded as a pair that no longer is."""
    stale = sorted(
        {ordered_pair(d, t.doc_id) for d, ts in recorded.items() for t in ts} - set(current)
    )
    for a, b in stale:
        updates: dict[str, list[Counterpart]] = {}
        touched: list[Chunk] = []
        for side, other in ((a, b), (b, a)):
            chunks = loaded[side][0] if side in loaded else store.chunks_of(side)
            prefix = other + ":"
            for chunk in chunks:
                kept = [cp for cp in chunk.counterparts if not cp.chunk_id.startswith(prefix)]
                if len(kept) != len(chunk.counterparts):
                    updates[chunk.chunk_id] = kept
                    touched.append(chunk)
        if updates:
            store.set_counterparts(updates)
            keep_written(touched, updates)
        log.info("%s ↔ %s: no longer a translation pair; %d chunks unlinked", a, b, len(updates))
    return stale


def _record(
    recorded: dict[str, list[Translation]],
    current: dict[tuple[str, str], PairSpec],
    reports: Iterable[PairReport],
    store: WriteStore,
    loaded: dict[str, tuple[list[Chunk], np.ndarray]],
) -> int:
    """Write each document's translations where they differ from what is recorded."""
    aligned = {ordered_pair(r.src_doc, r.tgt_doc): r.confidence for r in reports if r.aligned}
    wanted: dict[str, list[Translation]] = {}
    for (a, b), spec in current.items():
        if (a, b) in aligned:
            conf = aligned[(a, b)]
        elif spec.confidence is not None:
            conf = spec.confidence
        else:  # not re-measured this run: what was recorded stands
            old = next((t for t in recorded.get(a, []) if t.doc_id == b), None)
            conf = old.confidence if old is not None else 0.0
        for doc, other in ((a, b), (b, a)):
            wanted.setdefault(doc, []).append(Translation(other, round(conf, 3), spec.source))
    changes: dict[str, list[Translation]] = {}
    for doc in set(wanted) | set(recorded):
        new = sorted(wanted.get(doc, []), key=lambda t: (-t.confidence, t.doc_id))
        if _record_key(new) != _record_key(recorded.get(doc, [])):
            changes[doc] = new
    if loaded:  # a document no longer stored has no first chunk to write to
        changes = {d: ts for d, ts in changes.items() if d in loaded}
    return store.set_document_translations(changes) if changes else 0


def _record_key(ts: list[Translation]) -> list[tuple[str, float, str]]:
    return sorted((t.doc_id, round(float(t.confidence), 3), t.source) for t in ts)
