"""The write side of a run: embed new chunks in large batches, store them in the background,
publish each document once all its rows are stored.

New chunks of consecutive documents share an embedding buffer (the GPU or the CPU's threads
stay busy); the :class:`~reportrag.ingest.writer.Writer` stores each batch while the next is
embedded. A document's rows are written hidden and shown together after the last of them,
then its stale rows are deleted: searches never see half a document.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from reportrag import telemetry
from reportrag.ingest.cancel import CancelToken
from reportrag.ingest.checkpoint import Checkpoint
from reportrag.ingest.plan import DocumentPlan
from reportrag.ingest.report import IngestSummary, StageCallback, Tracker, no_stage
from reportrag.ingest.writer import Writer
from reportrag.types import Chunk

if TYPE_CHECKING:
    from reportrag.embedding.base import Embedder
    from reportrag.store.protocols import WriteStore

logger = logging.getLogger(__name__)

WRITE_DEPTH = 2  # batches the writer may fall behind before embedding waits


class StreamingRun:
    """The state of one ingestion run: the embedding buffer, the writer, the checkpoint."""

    def __init__(
        self,
        *,
        embedder: Embedder,
        store: WriteStore,
        summary: IngestSummary,
        checkpoint: Checkpoint | None,
        embed_batch: int,
        write_batch: int,
        on_document: Callable[[DocumentPlan], None] | None,
        cancel: CancelToken | None,
        track: Tracker,
        on_stage: StageCallback = no_stage,
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
        self.held.update(write_rewrites(plan, self.store))
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
        held = [v for v in (self.held.pop(c.chunk_id, None) for c in rows) if v is not None]
        if rows and len(held) == len(rows):
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
        """Embed what is left, wait for the writer, record how long embedding waited on it."""
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


def write_rewrites(plan: DocumentPlan, store: WriteStore) -> dict[str, np.ndarray]:
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
