"""Ingestion: corpus files → cleaned, chunked, embedded → Milvus, idempotently and streaming.

Documents are processed one after another and never all held in memory: each is read,
chunked and compared with what Milvus holds (:mod:`reportrag.ingest.plan`); its new chunks join an
embedding buffer that is embedded in large batches (across documents, so the GPU or the
CPU's threads stay busy) and handed to a background :class:`~reportrag.ingest.writer.Writer`, which
stores them with back-pressure while the next batch is embedded.

Re-running changes nothing: chunk ids are content hashes, vectors of text already stored are
reused (never re-embedded), and rows are only written when something differs. A document's
new rows are written hidden (``visible=False``), published once all of them are stored, and
only then are its stale rows deleted: searches never see half a document, and a run killed
at any point leaves a collection that the next run converges from (same ids, same count as
an uninterrupted run; rows it left hidden are published or removed then).
With a :class:`~reportrag.ingest.checkpoint.Checkpoint`, documents finished by an earlier run (same
bytes, metadata, settings, model and code) are skipped without being read into chunks.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from reportrag import telemetry
from reportrag.errors import CancelledError
from reportrag.ingest.align_step import align_documents
from reportrag.ingest.cancel import CancelToken
from reportrag.ingest.checkpoint import Checkpoint, document_key, run_digest
from reportrag.ingest.lock import ingest_lock
from reportrag.ingest.plan import (
    MAX_DOCUMENT_BYTES,
    MAX_DOCUMENT_CHUNKS,
    DocumentPlan,
    plan_document,
    prepare_document,
    read_document,
)
from reportrag.ingest.report import (
    IngestSummary,
    StageCallback,
    Tracker,
    no_stage,
    observed,
    reporting_writes,
)
from reportrag.ingest.streaming import StreamingRun
from reportrag.langid import LanguageDetector
from reportrag.metadata import merge_types
from reportrag.types import DocumentMeta

if TYPE_CHECKING:
    from reportrag.embedding.base import Embedder
    from reportrag.store.protocols import BatchOutcome, WriteStore

__all__ = [
    "MAX_DOCUMENT_BYTES",
    "MAX_DOCUMENT_CHUNKS",
    "IngestSummary",
    "StageCallback",
    "ingest_lock",
    "prepare_document",
    "run_ingest",
]

logger = logging.getLogger(__name__)

EMBED_BATCH = 256  # chunks per embedding call (the engine sorts them by length inside)
WRITE_BATCH = 64  # rows per write handed to Milvus

class _ProgressBar(Protocol):
    """What a run uses of its tqdm bar over the documents."""

    def __iter__(self) -> Iterator[DocumentMeta]: ...

    def set_postfix(self, *, refresh: bool = True, **values: object) -> None: ...

    def close(self) -> None: ...


def _progress(docs: list[DocumentMeta], *, desc: str, unit: str, disable: bool) -> _ProgressBar:
    from tqdm import tqdm

    bar: _ProgressBar = tqdm(docs, desc=desc, unit=unit, disable=disable)
    return bar


def run_ingest(
    docs: list[DocumentMeta],
    *,
    embedder: Embedder,
    store: WriteStore | None,
    detector: LanguageDetector,
    chunk_tokens: int,
    overlap_tokens: int,
    dry_run: bool = False,
    prune_doc_ids: bool = False,
    progress: bool = True,
    embed_batch: int = EMBED_BATCH,
    write_batch: int = WRITE_BATCH,
    align: bool = True,
    checkpoint: Checkpoint | None = None,
    on_document: Callable[[DocumentPlan], None] | None = None,
    max_chunks: int = MAX_DOCUMENT_CHUNKS,
    cancel: CancelToken | None = None,
    on_stage: StageCallback | None = None,
    align_with: Sequence[DocumentMeta] = (),
    ocr: bool = False,
) -> IngestSummary:
    """Ingest ``docs``; with ``prune_doc_ids`` also delete documents no longer in the corpus.

    ``store`` is None only for a dry run where no database exists yet (it plans every
    document as new).

    ``ocr``: read PDFs without a text layer by OCR (reportrag/ingest/ocr.py).
    ``align_with``: the other documents known (not ingested by this run), so a declared
    translation pair of which this run ingests one side is aligned too. ``on_stage(state,
    progress)`` is told when the run parses, embeds and writes (background jobs show it).

    A run's writes are one batch: on Milvus Lite they are flushed once, at the end, and the
    collection is then consolidated into one segment (``MilvusStore.consolidate``), so BM25
    weighs every chunk with the same statistics however the run wrote them.

    A failure after something was written is an :class:`IngestIncompleteError` that says
    so (never the "nothing happened" of a store error); ``cancel`` stops the run between
    batches with a CancelledError, after removing the hidden rows of unfinished documents.
    """
    if store is None and not dry_run:
        raise ValueError("only a dry run goes without a store")
    track = Tracker()
    with observed(len(docs), observe=not dry_run), reporting_writes(track):
        return _ingest(docs, embedder=embedder, store=store, detector=detector, opts=_Options(
            chunk_tokens=chunk_tokens, overlap_tokens=overlap_tokens, dry_run=dry_run,
            prune_doc_ids=prune_doc_ids, progress=progress, embed_batch=embed_batch,
            write_batch=write_batch, align=align, checkpoint=checkpoint,
            on_document=on_document, max_chunks=max_chunks, cancel=cancel,
            on_stage=on_stage or no_stage, align_with=tuple(align_with), ocr=ocr), track=track)


@dataclass(frozen=True)
class _Options:
    """How one run goes (run_ingest's keyword arguments)."""

    chunk_tokens: int
    overlap_tokens: int
    dry_run: bool
    prune_doc_ids: bool
    progress: bool
    embed_batch: int
    write_batch: int
    align: bool
    checkpoint: Checkpoint | None
    on_document: Callable[[DocumentPlan], None] | None
    max_chunks: int
    cancel: CancelToken | None
    on_stage: StageCallback
    align_with: tuple[DocumentMeta, ...]
    ocr: bool


def _ingest(
    docs: list[DocumentMeta],
    *,
    embedder: Embedder,
    store: WriteStore | None,
    detector: LanguageDetector,
    opts: _Options,
    track: Tracker,
) -> IngestSummary:
    writes = None if opts.dry_run else store  # the store this run writes to (None: dry)
    batching: AbstractContextManager[BatchOutcome | None] = (
        nullcontext() if writes is None else writes.batched_writes()
    )
    with batching as batch:
        start = time.perf_counter()
        summary = IngestSummary(dry_run=opts.dry_run, documents=len(docs))
        # Asked once, not per document.
        existing = store if store is not None and store.has_collection() else None
        # Nothing stored, nothing to skip.
        checkpoint = opts.checkpoint if existing is not None else None
        run = run_digest(
            chunk_tokens=opts.chunk_tokens,
            overlap_tokens=opts.overlap_tokens,
            fingerprint=embedder.fingerprint(),
        )
        keys: dict[str, str] = {}
        skipped: set[str] = set()
        metas: list[DocumentMeta] = []
        # The user metadata keys' types: a document that retypes a key is refused.
        types = existing.metadata_types(fresh=True) if existing is not None else {}
        state = None
        if writes is not None:
            state = StreamingRun(
                embedder=embedder,
                store=writes,
                summary=summary,
                checkpoint=checkpoint,
                embed_batch=opts.embed_batch,
                write_batch=opts.write_batch,
                on_document=opts.on_document,
                cancel=opts.cancel,
                track=track,
                on_stage=opts.on_stage,
            )
        bar = _progress(docs, desc="ingesting", unit="doc", disable=not opts.progress)
        try:
            for meta in bar:
                if opts.cancel is not None:
                    opts.cancel.check()
                data = read_document(meta)
                key = keys[meta.doc_id] = document_key(meta, data, run)
                done = checkpoint.done_chunks(meta.doc_id, key) if checkpoint else None
                if done is not None:
                    skipped.add(meta.doc_id)
                    if not opts.dry_run:
                        telemetry.ingest_progress(skipped=1)
                    metas.append(meta)
                    summary.chunks += done
                    summary.unchanged += done
                    summary.per_document.append(
                        {"doc_id": meta.doc_id, "chunks": done, "unchanged": done, "skipped": True}
                    )
                    continue
                opts.on_stage("parsing", {"documents": len(docs), "documents_read": len(metas)})
                meta, chunks = prepare_document(
                    meta,
                    embedder=embedder,
                    detector=detector,
                    chunk_tokens=opts.chunk_tokens,
                    overlap_tokens=opts.overlap_tokens,
                    max_chunks=opts.max_chunks,
                    data=data,
                    ocr=opts.ocr,
                )
                metas.append(meta)
                merged = merge_types(types, meta.metadata, doc_id=meta.doc_id)
                if merged != types and writes is not None:
                    writes.set_metadata_types(merged)  # before its rows: filters find them
                types = merged
                plan = plan_document(meta, chunks, existing)
                summary.count(plan)
                opts.on_stage("embedding", {"chunks": summary.chunks, "to_embed": summary.added})
                if state is not None:
                    state.add(plan, key)
                    bar.set_postfix(embedded=summary.embedded, refresh=False)
            if state is not None:
                state.flush()
                opts.on_stage("writing", {"embedded": summary.embedded})
                state.close()
        except BaseException as exc:
            if state is not None:
                state.writer.abort()  # stop writing; what is stored stays consistent
                if isinstance(exc, CancelledError):
                    state.discard_unfinished()
            raise
        finally:
            bar.close()
        summary.skipped_documents = len(skipped)

        pruned = False
        if opts.prune_doc_ids and existing is not None:
            pruned = _prune(existing, {m.doc_id for m in metas}, summary, checkpoint,
                            dry_run=opts.dry_run, track=track)
        if opts.align and writes is not None:
            ids = {m.doc_id for m in metas}
            others = [m for m in opts.align_with if m.doc_id not in ids]
            summary.alignments, summary.translation_detection = align_documents(
                [*docs, *others], [*metas, *others], writes, keys, skipped, checkpoint, track,
                pruned,
            )
        if checkpoint is not None and not opts.dry_run:
            checkpoint.compact()
        summary.embed_seconds = round(summary.embed_seconds, 3)
        summary.seconds = round(time.perf_counter() - start, 3)
        logger.info(
            "ingested %d documents (%d skipped): %d added, %d updated, %d deleted in %.1f s",
            summary.documents,
            summary.skipped_documents,
            summary.added,
            summary.updated,
            summary.deleted,
            summary.seconds,
        )
    if batch is not None:  # the store rewrote its rows into one segment at the batch's end
        summary.consolidated = batch.consolidated
        summary.seconds = round(time.perf_counter() - start, 3)
    return summary


def _prune(
    store: WriteStore,
    keep: set[str],
    summary: IngestSummary,
    checkpoint: Checkpoint | None,
    *,
    dry_run: bool,
    track: Tracker,
) -> bool:
    """Delete (or, dry, count) the documents that are no longer in the corpus; any?"""
    gone = False
    for doc_id in (d for d in store.all_doc_ids() if d not in keep):
        gone = True
        ids = list(store.doc_index(doc_id))
        summary.deleted += len(ids)
        summary.per_document.append(
            {"doc_id": doc_id, "chunks": 0, "deleted": len(ids), "removed": True}
        )
        if not dry_run:
            track.wrote = True
            store.delete(ids)
            if checkpoint is not None:
                checkpoint.forget(doc_id)
    return gone
