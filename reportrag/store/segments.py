"""Milvus Lite's segments: one flush per batch of writes, the live rows in one segment after
it, and index files rebuilt after a crash.

Milvus Lite 3.x scores BM25 with each segment's own statistics (document count, mean length,
document frequencies), counting superseded row versions too, and every flush writes a
segment. Rows written in a small segment of their own (a document added later, a batch
flushed alone) or beside many stale versions are then ranked with other term weights than
the rest: in a store re-ingested in parts, the Chinese article's chunks scored half of what
the same terms scored in the report. So a batch of writes is flushed once and the live rows
are then rewritten into one new segment (its older segments hold stale versions only, which
Lite's compaction drops later). A collection property records that writes happened since,
so a killed run's successor still does it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from reportrag.errors import StoreError
from reportrag.store import schema as sc
from reportrag.store.core import StoreCore

log = logging.getLogger(__name__)

CONSOLIDATE_PAGE = 1000  # rows (with vectors) read and rewritten at a time


@dataclass
class WriteBatch:
    """What :meth:`LiteSegments.batched_writes` did at its end."""

    consolidated: int = 0  # rows rewritten into one segment (Milvus Lite)


class LiteSegments(StoreCore):
    """Flushes and consolidation around the writes (a mixin of MilvusStore).

    Relies on StoreCore for the client (``_c``, ``_op``, ``_timeout``, ``_collection``), the
    dialect (whether this deployment flushes after writes and consolidates), the schema
    version, the collection (``has_collection``, ``_describe``, ``_set_property``) and the
    paged scan (``_scan_pages``); owns StoreCore's ``_deferred``, ``_flush_pending``,
    ``_unconsolidated`` and ``_mark_lock``. The writes call :meth:`_mark_unconsolidated`
    before and :meth:`_after_write` after each write.
    """

    @contextmanager
    def batched_writes(self) -> Iterator[WriteBatch]:
        """Lite: writes inside wait for one flush, at the end (also when the block fails).

        When the outermost block succeeds it ends with :meth:`consolidate`, leaving one
        segment of live rows; the batch it yields then holds the rows rewritten.
        """
        batch = WriteBatch()
        self._deferred += 1
        try:
            yield batch
        except BaseException:
            self._deferred -= 1
            if not self._deferred and self._flush_pending and self._client is not None:
                try:  # keep what was written; the next batch consolidates
                    self._flush()
                except StoreError as exc:
                    log.warning("flush after a failed batch of writes: %s", exc.message)
            raise
        self._deferred -= 1
        if not self._deferred:
            batch.consolidated = self.consolidate()
            if self._flush_pending:
                self._flush()

    def consolidate(self) -> int:
        """Rewrite a Lite collection's live rows into one new segment; the rows rewritten.

        Does nothing (0) unless rows were written or deleted since the last consolidation,
        and on a server, whose BM25 statistics are the collection's.
        """
        if not self._require_dialect().consolidate or not self.has_collection():
            return 0
        props = self._describe().get("properties") or {}
        if props.get(sc.CONSOLIDATED_PROPERTY) == "true" and not self._unconsolidated:
            return 0
        started = time.monotonic()
        rows = 0
        fields = sc.row_fields(self._schema)
        for page in self._scan_pages(("", {}), fields, CONSOLIDATE_PAGE):
            for row in page:
                row[sc.VECTOR] = [float(x) for x in row[sc.VECTOR]]
            with self._op("consolidate"):
                self._c().upsert(self._collection, page, timeout=self._timeout)
            rows += len(page)
        self._flush()
        self._set_property(sc.CONSOLIDATED_PROPERTY, "true")
        self._unconsolidated = False
        log.info("consolidated %d rows of %s into one segment in %.2fs", rows,
                 self._collection, time.monotonic() - started)
        return rows

    def _mark_unconsolidated(self) -> None:
        """Before a write on Lite: record (once per consolidation) that one is due."""
        if self._unconsolidated or not self._require_dialect().consolidate:
            return
        with self._mark_lock:
            if not self._unconsolidated:
                self._set_property(sc.CONSOLIDATED_PROPERTY, "false")
                self._unconsolidated = True

    def _after_write(self) -> None:
        """Flush when the deployment needs it (Lite), or leave it to the open batch."""
        if self._require_dialect().flush_after_write:
            if self._deferred:
                self._flush_pending = True
            else:
                self._flush()

    def _flush(self) -> None:
        with self._op("flush"):
            self._c().flush(self._collection, timeout=self._timeout)
        self._flush_pending = False


def repair_lite_indexes(db: str, collection: str) -> bool:
    """Delete Milvus Lite's per-segment index files so the next load rebuilds them.

    Milvus Lite 3.2 writes index files (``*.sidx``, ``*.idx``) in place, not atomically: a
    process killed while writing one leaves a truncated file that fails every later load.
    They are derived from the segment data, so removing them loses nothing. True when there
    were any to delete.
    """
    root = Path(db) / "collections" / collection / "partitions"
    if not root.is_dir():
        return False
    stale = [p for p in root.rglob("*") if p.is_file() and p.suffix in {".sidx", ".idx"}]
    for p in stale:
        p.unlink()
    return bool(stale)
