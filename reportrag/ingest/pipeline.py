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
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from reportrag import telemetry
from reportrag.errors import (
    CancelledError,
    ConflictError,
    IngestIncompleteError,
    InputError,
    ReportragError,
)
from reportrag.ingest.cancel import LOCK_NAME, CancelToken
from reportrag.ingest.checkpoint import Checkpoint, document_key, pair_key, run_digest
from reportrag.ingest.plan import (
    MAX_DOCUMENT_BYTES,
    MAX_DOCUMENT_CHUNKS,
    DocumentPlan,
    Embedder,
    plan_document,
    prepare_document,
    read_document,
)
from reportrag.ingest.writer import Writer
from reportrag.langid import LanguageDetector
from reportrag.metadata import merge_types
from reportrag.types import Chunk, DocumentMeta

__all__ = [
    "MAX_DOCUMENT_BYTES",
    "MAX_DOCUMENT_CHUNKS",
    "IngestSummary",
    "ingest_lock",
    "prepare_document",
    "run_ingest",
]

logger = logging.getLogger(__name__)

StageCallback = Callable[[str, dict[str, int]], None]


def _no_stage(state: str, progress: dict[str, int]) -> None:
    """No one is watching the stages of this run."""


EMBED_BATCH = 256  # chunks per embedding call (the engine sorts them by length inside)
WRITE_BATCH = 64  # rows per write handed to Milvus
WRITE_DEPTH = 2  # batches the writer may fall behind before embedding waits


@dataclass
class IngestSummary:
    """Counts and timing of one ingestion run (``--json`` prints this)."""

    documents: int = 0
    chunks: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    embedded: int = 0
    skipped_documents: int = 0  # finished by an earlier run (checkpoint): not even chunked
    seconds: float = 0.0
    embed_seconds: float = 0.0
    write_wait_seconds: float = 0.0  # embedding blocked on a full write queue (back-pressure)
    consolidated: int = 0  # rows rewritten into one segment afterwards (Milvus Lite)
    dry_run: bool = False
    per_document: list[dict[str, object]] = field(default_factory=list)
    alignments: list[dict[str, object]] = field(default_factory=list)
    # whether translation pairs were detected this run, what it examined and how long it took
    translation_detection: dict[str, object] = field(default_factory=dict)
    refused: list[dict[str, str]] = field(default_factory=list)  # folder entries not ingested

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def count(self, plan: DocumentPlan) -> None:
        """Add one planned document to the totals."""
        self.chunks += len(plan.chunks)
        self.added += len(plan.to_embed)
        self.updated += len(plan.to_rewrite)
        self.unchanged += plan.unchanged
        self.deleted += len(plan.stale_ids)
        self.per_document.append(
            {
                "doc_id": plan.meta.doc_id,
                "chunks": len(plan.chunks),
                "added": len(plan.to_embed),
                "updated": len(plan.to_rewrite),
                "unchanged": plan.unchanged,
                "deleted": len(plan.stale_ids),
            }
        )


@contextmanager
def ingest_lock(data_dir: Path, *, create: bool = True) -> Iterator[None]:
    """One ingestion at a time per data directory; a second one gets ConflictError.

    ``create=False`` (a dry run, which writes nothing) takes the lock only where its file
    exists: without it no ingestion can be running.
    """
    import fcntl

    path = data_dir / LOCK_NAME
    if not create and not path.is_file():
        yield
        return
    data_dir.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:  # "a": taking the lock never truncates or writes the file
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise ConflictError(f"another ingestion is running (lock {path})") from exc
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _progress(iterable=None, **kw):  # noqa: ANN001, ANN202
    from tqdm import tqdm

    return tqdm(iterable, **kw)


class _Run:
    """The state of one ingestion run: the embedding buffer, the writer, the checkpoint."""

    def __init__(
        self,
        *,
        embedder: Embedder,
        store,  # noqa: ANN001
        summary: IngestSummary,
        checkpoint: Checkpoint | None,
        embed_batch: int,
        write_batch: int,
        on_document: Callable[[DocumentPlan], None] | None,
        cancel: CancelToken | None,
        track: _Tracker,
        on_stage: StageCallback = _no_stage,
    ) -> None:
        self.on_stage = on_stage
        self.embedder = embedder
        self.store = store
        self.summary = summary
        self.checkpoint = checkpoint
        self.embed_batch = max(1, embed_batch)
        self.write_batch = max(1, write_batch)
        self.on_document = on_document
        self.cancel = cancel
        self.writer = Writer(store, depth=WRITE_DEPTH)
        self.buffer: list[Chunk] = []
        self.pending: list[tuple[DocumentPlan, str]] = []
        self.unfinished: dict[str, DocumentPlan] = {}  # queued, not yet published
        # Vectors of the rows written hidden, kept until their document is published: it is
        # published by writing them again, visible, without reading them back.
        self.held: dict[str, np.ndarray] = {}
        self.track = track

    def add(self, plan: DocumentPlan, key: str) -> None:
        """Queue a planned document: rewrites now, new chunks into the embedding buffer."""
        self.unfinished[plan.meta.doc_id] = plan
        if plan.to_rewrite:
            self.track.wrote = True
        self.held.update(_write_rewrites(plan, self.store))
        self.buffer.extend(plan.to_embed)
        self.pending.append((plan, key))
        if len(self.buffer) >= self.embed_batch:
            self.flush()

    def flush(self) -> None:
        """Embed the buffer and queue its writes, each document's finish right after its rows."""
        finishes: list[tuple[int, DocumentPlan, str]] = []  # (buffer end of the doc, plan, key)
        end = 0
        for plan, key in self.pending:
            end += len(plan.to_embed)
            finishes.append((end, plan, key))
        finishes.reverse()  # popped from the end, in document order
        step = self.write_batch
        for i in range(0, len(self.buffer), self.embed_batch):
            if self.cancel is not None:
                self.cancel.check()
            part = self.buffer[i : i + self.embed_batch]
            started = time.perf_counter()
            # The vector is of the text alone: prefixing every chunk with its title and section
            # made chunks of one document alike and cost recall (docs/evaluation.md).
            vectors = self.embedder.embed_documents([c.text for c in part])
            took = time.perf_counter() - started
            self.summary.embed_seconds += took
            telemetry.ingest_progress(chunks=len(part), embed_seconds=took)
            self.held.update(zip((c.chunk_id for c in part), vectors, strict=True))
            for j in range(0, len(part), step):
                self.track.wrote = True
                self.writer.upsert(part[j : j + step], vectors[j : j + step], visible=False)
                written = i + min(j + step, len(part))
                while finishes and finishes[-1][0] <= written:
                    self._queue_finish(*finishes.pop()[1:])
            self.summary.embedded += len(part)
            self.on_stage("embedding", {"embedded": self.summary.embedded})
        while finishes:  # documents with nothing (left) to embed
            self._queue_finish(*finishes.pop()[1:])
        self.buffer, self.pending = [], []

    def _queue_finish(self, plan: DocumentPlan, key: str) -> None:
        self.writer.then(lambda: self._finish(plan, key))

    def _finish(self, plan: DocumentPlan, key: str) -> None:
        # On the writer thread, after every row of the document is stored: show them all at
        # once, then remove the old version (searches drop a passage seen under both ids).
        hidden = set(plan.hidden_ids())
        rows = [c for c in (*plan.to_embed, *plan.to_rewrite) if c.chunk_id in hidden]
        held = [self.held.pop(c.chunk_id, None) for c in rows]
        if rows and all(v is not None for v in held):
            self.store.upsert(rows, np.stack(held), visible=True)
        elif hidden:
            self.store.publish(sorted(hidden))  # read back what was stored, then show it
        self.unfinished.pop(plan.meta.doc_id, None)
        if plan.stale_ids:
            self.track.wrote = True
            self.store.delete(plan.stale_ids)
        if self.checkpoint is not None:
            self.checkpoint.mark_done(plan.meta.doc_id, key, len(plan.chunks))
        self.track.done += 1
        telemetry.ingest_progress(done=1)
        if self.on_document is not None:
            self.on_document(plan)

    def close(self) -> None:
        self.flush()
        self.writer.close()
        self.summary.write_wait_seconds = round(self.writer.waited_s, 3)

    def discard_unfinished(self) -> None:
        """After a cancel: remove the hidden rows of documents that were not published."""
        ids = [i for plan in self.unfinished.values() for i in plan.hidden_ids()]
        self.held.clear()
        if ids:
            self.store.delete(ids)
            log_ids = sorted(self.unfinished)
            logger.info("cancelled: removed %d hidden rows of %s", len(ids), ", ".join(log_ids))
        self.unfinished.clear()


def run_ingest(
    docs: list[DocumentMeta],
    *,
    embedder: Embedder,
    store,  # noqa: ANN001
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
    track = _Tracker()
    with _observed(len(docs), observe=not dry_run), _reporting_writes(track):
        return _ingest(docs, embedder=embedder, store=store, detector=detector, opts=_Options(
            chunk_tokens=chunk_tokens, overlap_tokens=overlap_tokens, dry_run=dry_run,
            prune_doc_ids=prune_doc_ids, progress=progress, embed_batch=embed_batch,
            write_batch=write_batch, align=align, checkpoint=checkpoint,
            on_document=on_document, max_chunks=max_chunks, cancel=cancel,
            on_stage=on_stage or _no_stage, align_with=tuple(align_with), ocr=ocr), track=track)



@contextmanager
def _observed(documents: int, *, observe: bool) -> Iterator[None]:
    """The run's progress metrics (reportrag/telemetry.py): running, then its outcome."""
    if not observe:
        yield
        return
    telemetry.ingest_started(documents)
    outcome = "failed"
    try:
        yield
        outcome = "ok"
    except CancelledError:
        outcome = "cancelled"
        raise
    finally:
        telemetry.ingest_finished(outcome)


@contextmanager
def _reporting_writes(track: _Tracker) -> Iterator[None]:
    """A failure after the run wrote something becomes an IngestIncompleteError saying so."""
    try:
        yield
    except (InputError, CancelledError):
        raise  # nothing half-done is visible: the input is refused, or the run stopped
    except (ReportragError, OSError) as exc:
        if not track.wrote:
            raise
        reason = exc.message if isinstance(exc, ReportragError) else _os_reason(exc)
        raise IngestIncompleteError(
            f"ingestion stopped after writing to Milvus: {reason}. The {track.done} "
            "document(s) finished before that are stored and searchable, the others not; "
            "fix the cause and run the ingestion again: it finishes the rest",
            details={"written": True, "documents_done": track.done, "reason": reason[:500]},
        ) from exc


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


@dataclass
class _Tracker:
    """How far a run got: whether it wrote anything, how many documents it published."""

    wrote: bool = False
    done: int = 0


def _os_reason(exc: OSError) -> str:
    # No file names: the message may reach an HTTP client.
    return exc.strerror or type(exc).__name__


def _ingest(
    docs: list[DocumentMeta],
    *,
    embedder: Embedder,
    store,  # noqa: ANN001
    detector: LanguageDetector,
    opts: _Options,
    track: _Tracker,
) -> IngestSummary:
    with nullcontext() if opts.dry_run else store.batched_writes() as batch:
        start = time.perf_counter()
        summary = IngestSummary(dry_run=opts.dry_run, documents=len(docs))
        existing = store if store.has_collection() else None  # asked once, not per document
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
        if not opts.dry_run:
            state = _Run(
                embedder=embedder,
                store=store,
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
                if merged != types and not opts.dry_run:
                    store.set_metadata_types(merged)  # before its rows: filters find them
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
            pruned = _prune(store, {m.doc_id for m in metas}, summary, checkpoint,
                            dry_run=opts.dry_run, track=track)
        if opts.align and not opts.dry_run:
            ids = {m.doc_id for m in metas}
            others = [m for m in opts.align_with if m.doc_id not in ids]
            summary.alignments, summary.translation_detection = _align(
                [*docs, *others], [*metas, *others], store, keys, skipped, checkpoint, track,
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
    store,  # noqa: ANN001
    keep: set[str],
    summary: IngestSummary,
    checkpoint: Checkpoint | None,
    *,
    dry_run: bool,
    track: _Tracker,
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


def _align(
    docs: list[DocumentMeta],
    metas: list[DocumentMeta],
    store,  # noqa: ANN001
    keys: dict[str, str],
    skipped: set[str],
    checkpoint: Checkpoint | None,
    track: _Tracker,
    pruned: bool,
) -> tuple[list[dict[str, object]], dict[str, object]]:
    """Declared ∪ detected translation pairs: align those not known to be current.

    Detection runs unless the checkpoint records it for exactly this set of documents and
    nothing was re-ingested or pruned since (then the recorded detected pairs stand).
    """
    from reportrag.ingest.translations import sync_translations

    changed = {m.doc_id for m in metas} - skipped
    detect_key = _detection_key(metas, keys)
    detect = checkpoint is None or bool(changed) or pruned or not checkpoint.detection_done(
        detect_key
    )

    def current(a: str, b: str) -> bool:
        # Both documents skipped and the checkpoint records the alignment for their present
        # keys. Any other pair is aligned (~0.1 s a pair, and it rewrites only chunks whose
        # counterparts changed), so a lost alignment heals.
        return (
            checkpoint is not None
            and {a, b} <= skipped
            and checkpoint.pair_done(a, b, pair_key(keys[a], keys[b]))
        )

    track.wrote = track.wrote or detect  # a failure inside may follow a write
    sync = sync_translations(
        metas,
        store=store,
        declared_langs={d.doc_id: d.lang for d in docs if d.lang},
        is_current=current,
        detect=detect,
    )
    track.wrote = track.wrote or bool(sync.reports or sync.unlinked or sync.records_written)
    if checkpoint is not None:
        for r in sync.reports:
            if r.aligned and r.src_doc in keys and r.tgt_doc in keys:
                checkpoint.mark_pair(
                    r.src_doc, r.tgt_doc, pair_key(keys[r.src_doc], keys[r.tgt_doc])
                )
        if detect:
            checkpoint.mark_detection(detect_key)
    return [asdict(r) for r in sync.reports], sync.detection


def _detection_key(metas: list[DocumentMeta], keys: dict[str, str]) -> str:
    """The documents a detection saw: their ids and keys (bytes, metadata, settings, code)."""
    seen = sorted(f"{m.doc_id}={keys.get(m.doc_id, '')}" for m in metas)
    return pair_key("detect", "|".join(seen))


def _write_rewrites(plan: DocumentPlan, store) -> dict[str, np.ndarray]:  # noqa: ANN001
    """Rewrite rows whose text is stored already, reusing the stored vector.

    Returns the vectors of the rows written hidden (by chunk id), to publish them with.
    """
    if not plan.to_rewrite:
        return {}
    owner = plan.hash_owner
    source_ids = [owner[c.content_hash] for c in plan.to_rewrite]
    vectors = store.get_vectors(sorted(set(source_ids)))
    rows = [c for c, sid in zip(plan.to_rewrite, source_ids, strict=True) if sid in vectors]
    if len(rows) != len(plan.to_rewrite):
        missing = [
            c for c, sid in zip(plan.to_rewrite, source_ids, strict=True) if sid not in vectors
        ]
        plan.to_embed.extend(missing)  # vector vanished meanwhile: embed after all
    hidden: dict[str, np.ndarray] = {}
    for visible in (True, False):  # metadata changes of shown rows stay in sight
        part = [c for c in rows if (c.chunk_id in plan.shown_ids) is visible]
        if part:
            vecs = np.stack([vectors[owner[c.content_hash]] for c in part])
            store.upsert(part, vecs, visible=visible)
            if not visible:
                hidden.update(zip((c.chunk_id for c in part), vecs, strict=True))
    return hidden
