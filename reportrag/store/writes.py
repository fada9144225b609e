"""Writes: store, delete and publish chunks, rewrite their counterparts and the documents'
translation records."""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from reportrag.embedding.base import PASSAGE_PRECISION
from reportrag.errors import OutdatedCollectionError, StoreError
from reportrag.store import schema as sc
from reportrag.store.core import ID_BATCH, params_kw
from reportrag.store.filters import ids_filter
from reportrag.store.reads import Reads
from reportrag.store.segments import LiteSegments
from reportrag.types import Chunk, Counterpart, Translation

log = logging.getLogger(__name__)

UPSERT_BATCH = 256  # rows per upsert call


class Writes(Reads, LiteSegments):
    """Every change to the rows (a mixin of MilvusStore).

    Relies on StoreCore for the client and the collection's shape (``_dim``, ``_schema``,
    ``_visibility``), on StoreCore's ``_rows_by_ids`` and Reads' ``_head_rows`` to find the
    rows it rewrites, and on LiteSegments, which every write tells before
    (``_mark_unconsolidated``) and after (``_after_write``) it writes.
    """

    def require_writable(self) -> None:
        """OutdatedCollectionError when the collection's schema is older than this code's, or
        its passages were embedded at another precision than this embedder's.

        Reads of such a collection keep working; writes would miss fields it lacks, or mix
        vectors of two precisions in one index.
        """
        if self._write_conflict is not None:
            stored, wanted = self._write_conflict
            have, want = (fp.get(PASSAGE_PRECISION) for fp in (stored, wanted))
            match = "int8" if have == "int8" else "auto"
            raise OutdatedCollectionError(
                f"collection {self._collection} holds passages embedded at precision {have}; "
                f"this process embeds them at {want}: rebuild it with `reportrag ingest "
                f"--rebuild`, set REPORTRAG_PRECISION={match} to match it, or set "
                "REPORTRAG_COLLECTION to a new name",
                details={"collection": self._collection, "stored": stored, "wanted": wanted},
            )
        if self._schema < sc.SCHEMA_VERSION:
            raise OutdatedCollectionError(
                f"collection {self._collection} was built by an older reportrag (schema "
                f"{self._schema}; this version writes schema {sc.SCHEMA_VERSION}): rebuild it "
                "with `reportrag ingest --rebuild`, or set REPORTRAG_COLLECTION to a new name",
                details={"collection": self._collection, "schema": self._schema,
                         "wanted_schema": sc.SCHEMA_VERSION},
            )

    def upsert(self, chunks: list[Chunk], vectors: np.ndarray, *, visible: bool = True) -> None:
        """Insert or replace ``chunks`` with their float32 ``vectors`` of shape (n, dim).

        ``visible=False`` stores them out of sight of searches and reads until
        :meth:`publish` (an ingestion shows a document once all of it is stored).
        """
        if not chunks and np.size(vectors) == 0:
            return
        self.require_writable()
        vecs = np.asarray(vectors, dtype=np.float32)
        if vecs.ndim != 2 or vecs.shape != (len(chunks), self._dim):
            raise ValueError(
                f"vectors must have shape ({len(chunks)}, {self._dim}), not {vecs.shape}"
            )
        if not np.isfinite(vecs).all():
            raise ValueError("vectors contain NaN or infinity")
        rows: dict[str, dict[str, Any]] = {}
        for chunk, vec in zip(chunks, vecs, strict=True):
            problem = sc.field_problem(chunk)
            if problem:
                raise StoreError(
                    f"chunk {chunk.chunk_id!r} cannot be stored: {problem}",
                    details={"chunk_id": str(chunk.chunk_id)[:200]},
                )
            rows[chunk.chunk_id] = sc.chunk_to_row(chunk, vec, visible=visible)  # last wins
        self._write_rows(list(rows.values()), "upsert")

    def _write_rows(self, rows: list[dict[str, Any]], op: str) -> None:
        if not rows:
            return
        self._mark_unconsolidated()
        started = time.monotonic()
        with self._op(op):
            for i in range(0, len(rows), UPSERT_BATCH):
                self._c().upsert(
                    self._collection, rows[i : i + UPSERT_BATCH], timeout=self._timeout
                )
        self._after_write()
        log.info(
            "%s: %d rows into %s in %.2fs",
            op,
            len(rows),
            self._collection,
            time.monotonic() - started,
        )

    def delete(self, chunk_ids: list[str]) -> int:
        """Delete these chunks; returns how many of them existed."""
        existing = [r["chunk_id"] for r in self._rows_by_ids(chunk_ids, ["chunk_id"])]
        if not existing:
            return 0
        self.require_writable()
        self._mark_unconsolidated()
        with self._op("delete"):
            for i in range(0, len(existing), ID_BATCH):
                expr, params = ids_filter(
                    "chunk_id", existing[i : i + ID_BATCH], templating=self._templating
                )
                self._c().delete(
                    self._collection, filter=expr, timeout=self._timeout, **params_kw(params)
                )
        self._after_write()
        log.info("deleted %d chunks from %s", len(existing), self._collection)
        return len(existing)

    def publish(self, chunk_ids: list[str]) -> int:
        """Make these chunks visible (stored with ``visible=False``); returns how many."""
        self.require_writable()
        rows = [
            r
            for r in self._rows_by_ids(chunk_ids, sc.row_fields(self._schema))
            if not r.get(sc.VISIBLE)
        ]
        for row in rows:
            row[sc.VISIBLE] = True
            row[sc.VECTOR] = [float(x) for x in row[sc.VECTOR]]
        self._write_rows(rows, "publish")
        return len(rows)

    def set_counterparts(self, updates: dict[str, list[Counterpart]]) -> None:
        """Rewrite the counterparts of these chunks, keeping everything else."""
        self.require_writable()
        rows = self._rows_by_ids(list(updates), sc.row_fields(self._schema))
        for row in rows:
            # keep the rest of the JSON: a first chunk also holds its document's translations
            row["counterparts"] = sc.with_counterparts(
                row.get("counterparts"), updates[row["chunk_id"]]
            )
            row[sc.VECTOR] = [float(x) for x in row[sc.VECTOR]]
        missing = len(updates) - len(rows)
        if missing:
            log.warning(
                "set_counterparts: %d of %d chunks do not exist; skipped", missing, len(updates)
            )
        self._write_rows(rows, "set_counterparts")

    def set_document_translations(self, records: dict[str, list[Translation]]) -> int:
        """Record each document's translations on its first chunk; returns rows rewritten.

        An empty list removes the record. Documents without a visible first chunk (not
        stored, or being rewritten) are skipped: the next ingestion records them.
        """
        if not records:
            return 0
        self.require_writable()
        fields = sc.row_fields(self._schema)
        rows = [r for r in self._head_rows(fields) if str(r["doc_id"]) in records]
        for row in rows:
            row["counterparts"] = sc.with_translations(
                row.get("counterparts"), records[str(row["doc_id"])]
            )
            row[sc.VECTOR] = [float(x) for x in row[sc.VECTOR]]
        self._write_rows(rows, "set_document_translations")
        return len(rows)
