"""MilvusStore: chunks, vectors and BM25 text in one Milvus collection.

The only place that knows Milvus field names and filter syntax. Works against Milvus Lite 3.x
(a ``*.db`` path) and a Milvus server (``http://host:19530``), 2.3.5 and newer.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pymilvus import MilvusClient

from reportrag.errors import (
    CapabilityError,
    ConfigError,
    FingerprintMismatchError,
    NotFoundError,
    OutdatedCollectionError,
    ReportragError,
    StoreError,
    StoreUnavailableError,
)
from reportrag.store import schema as sc
from reportrag.store.capabilities import (
    IVF_KINDS,
    Dialect,
    IndexConfig,
    StoreCapabilities,
    detect_dialect,
)
from reportrag.store.documents import DOCUMENT_FIELDS, summarize
from reportrag.store.errors import describe, redact_uri, translated
from reportrag.store.filters import (
    VISIBLE_ONLY,
    Expr,
    compile_filters,
    eq_filter,
    ids_filter,
)
from reportrag.store.lite_process import LITE_LOCKED
from reportrag.store.uris import check_uri
from reportrag.types import Chunk, Counterpart, Filters, Ranked, StoreHit, Translation

log = logging.getLogger(__name__)

UPSERT_BATCH = 256
ID_BATCH = 512  # ids per `chunk_id in [...]` expression
SCAN_PAGE = 4096  # rows per query page (the server caps offset + limit at 16384)
CONSOLIDATE_PAGE = 1000  # rows (with vectors) read and rewritten at a time
MAX_PAGE = 16384
MAX_TOP_K = 16384
# Reads that serve searches use Session consistency: this process sees its own writes at
# once, without Strong's wait for the server's time tick (about 400 ms a request on 2.3.5).
# Everything else (the collection default) is Strong: ingest decisions need fresh data.
FAST_READ = {"consistency_level": "Session"}


DEFAULT_INDEX = IndexConfig()


@dataclass
class WriteBatch:
    """What :meth:`MilvusStore.batched_writes` did at its end."""

    consolidated: int = 0  # rows rewritten into one segment (Milvus Lite)


class MilvusStore:
    """One collection of chunks; construct, :meth:`connect`, :meth:`ensure_collection`."""

    def __init__(
        self,
        uri: str,
        collection: str,
        dim: int,
        *,
        token: str | None = None,
        timeout: float = 10.0,
        index: IndexConfig = DEFAULT_INDEX,
        address: str | None = None,
    ) -> None:
        check_uri(uri)
        if address is not None:
            check_uri(address)
            if not uri.endswith(".db"):
                raise ConfigError("a Milvus Lite process address goes with a Milvus Lite *.db "
                                  "path, not with a server URI")
        if (
            not isinstance(collection, str)
            or not collection
            or not (collection[0].isalpha() or collection[0] == "_")
            or not all(c.isascii() and (c.isalnum() or c == "_") for c in collection)
        ):
            raise ConfigError(f"collection name must match [A-Za-z_][A-Za-z0-9_]*: {collection!r}")
        if not isinstance(dim, int) or dim < 1:
            raise ConfigError(f"vector dim must be a positive integer, not {dim!r}")
        if not timeout > 0:
            raise ConfigError(f"Milvus timeout must be positive, not {timeout!r}")
        self._uri = uri
        # Where to connect when the Lite database is served by another process (LiteProcess);
        # the *.db path stays the database's identity (checkpoints, capability detection).
        self._address = address
        self._collection = collection
        self._dim = dim
        self._token = token
        self._timeout = float(timeout)
        self._index = index
        self._client: MilvusClient | None = None
        self._dialect: Dialect | None = None
        self._vector_index: str | None = None  # of the collection, once known
        self._deferred = 0  # open batched_writes() blocks: Lite writes wait for one flush
        self._flush_pending = False
        self._unconsolidated = False  # this process wrote since its last consolidate()
        self._mark_lock = threading.Lock()
        self._schema = sc.SCHEMA_VERSION  # of the collection, once known
        self._metadata_types: tuple[float, dict[str, str]] | None = None  # (read at, types)

    def __repr__(self) -> str:
        return f"MilvusStore({redact_uri(self._uri)!r}, {self._collection!r}, dim={self._dim})"

    def __enter__(self) -> MilvusStore:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @classmethod
    def open_existing(
        cls,
        uri: str,
        collection: str,
        *,
        token: str | None = None,
        timeout: float = 10.0,
        index: IndexConfig = DEFAULT_INDEX,
    ) -> MilvusStore:
        """Connect to an existing collection, taking its dim and fingerprint from Milvus.

        NotFoundError when the collection (or the Milvus Lite file) does not exist, StoreError
        when it is not a reportrag collection (no fingerprint).
        """
        if isinstance(uri, str) and uri.endswith(".db") and not Path(uri).exists():
            # Connecting would create an empty Lite database: a typo must not do that.
            raise NotFoundError(f"no Milvus Lite database at {uri}")
        store = cls(uri, collection, 1, token=token, timeout=timeout, index=index)
        store.connect()
        try:
            if not store.has_collection():
                raise NotFoundError(
                    f"collection {collection!r} does not exist at {redact_uri(uri)}",
                    details={"collection": collection, "uri": redact_uri(uri)},
                )
            desc = store._describe()
            fingerprint = sc.stored_fingerprint(desc)
            if fingerprint is None:
                raise StoreError(
                    f"collection {collection!r} has no reportrag fingerprint "
                    "(it was not created by reportrag)",
                    details={"collection": collection},
                )
            store._dim = sc.vector_dim(desc)
            store.ensure_collection(fingerprint)
        except ReportragError:
            store.close()
            raise
        return store

    @property
    def collection(self) -> str:
        """The collection name."""
        return self._collection

    @property
    def dim(self) -> int:
        """The dimension of the stored vectors."""
        return self._dim

    @property
    def vector_index(self) -> str:
        """The vector index type of the collection (as created, or as found on reopen)."""
        return self._vector_index or sc.vector_index_kind(self._require_dialect(), self._index)

    # -- connection -------------------------------------------------------------------

    def connect(self) -> None:
        """Open the client and detect what the deployment supports."""
        if self._client is not None:
            return
        where = redact_uri(self._uri)
        if self._address is not None:
            where = f"{where} (Milvus Lite process at {self._address})"
        if self._uri.endswith(".db") and not Path(self._uri).parent.is_dir():
            raise ConfigError(f"Milvus Lite path {self._uri}: parent directory does not exist")
        started = time.monotonic()
        try:
            with translated("connect", self._uri, self._collection):
                # A channel of its own (pymilvus otherwise shares one per address in a
                # process), so a reconnect after a failure starts from a fresh connection.
                client = MilvusClient(uri=self._address or self._uri, token=self._token or "",
                                      timeout=self._timeout, dedicated=True,
                                      grpc_options=_grpc_options(self._uri))
                version = str(client.get_server_version(timeout=self._timeout))
        except StoreUnavailableError as exc:
            raise StoreUnavailableError(
                f"Milvus at {where} did not answer within {self._timeout:g}s",
                details={**exc.details, "reason": describe(exc.__cause__)},
            ) from exc
        except StoreError as exc:  # it answered, but refused (credentials, a locked Lite file)
            reason = describe(exc.__cause__)
            if self._address is None and self._uri.endswith(".db") and _lite_locked(
                Path(self._uri)
            ):
                reason = LITE_LOCKED
            raise StoreError(
                f"cannot connect to Milvus at {where}: {reason}", details=exc.details
            ) from exc
        self._client = client
        self._dialect = detect_dialect(version, uri=self._uri)
        log.info(
            "connected to Milvus at %s (%s, %s) in %.2fs",
            where,
            self._dialect.capabilities.kind,
            version,
            time.monotonic() - started,
        )

    @property
    def capabilities(self) -> StoreCapabilities:
        """What the connected deployment (and this collection) supports."""
        return self._require_dialect().capabilities

    def close(self) -> None:
        """Release the client; the store can :meth:`connect` again later."""
        client, self._client = self._client, None
        if client is not None:
            with translated("close", self._uri, self._collection):
                client.close()

    def _require_dialect(self) -> Dialect:
        if self._dialect is None:
            raise StoreError("MilvusStore is not connected; call connect() first")
        return self._dialect

    def _c(self) -> MilvusClient:
        if self._client is None:
            raise StoreError("MilvusStore is not connected; call connect() first")
        return self._client

    def _op(self, op: str, metric: str | None = None) -> AbstractContextManager[None]:
        return translated(op, self._uri, self._collection, metric=metric)

    @property
    def _templating(self) -> bool:
        return self._require_dialect().capabilities.filter_templating

    # -- collection lifecycle ------------------------------------------------------------

    def has_collection(self) -> bool:
        """Whether the collection exists."""
        with self._op("has_collection"):
            return bool(self._c().has_collection(self._collection, timeout=self._timeout))

    def ensure_collection(self, fingerprint: dict[str, object]) -> bool:
        """Create the collection (True) or check and load the existing one (False)."""
        wanted = sc.normalize_fingerprint(fingerprint)
        dialect = self._require_dialect()
        if not self.has_collection():
            self._create(wanted, dialect)
            return True
        self._check_existing(wanted)
        self._load()
        return False

    def _create(self, fingerprint: dict[str, Any], dialect: Dialect) -> None:
        text = sc.fingerprint_json(fingerprint)
        schema = sc.build_schema(self._dim, dialect, description=text)
        indexes = sc.build_index_params(dialect, self._index)
        started = time.monotonic()
        with self._op("create_collection"):
            self._c().create_collection(
                self._collection,
                schema=schema,
                consistency_level="Strong",
                properties={
                    sc.FINGERPRINT_PROPERTY: text,
                    sc.GENERATION_PROPERTY: uuid.uuid4().hex,
                    sc.CONSOLIDATED_PROPERTY: "true",  # empty: one segment of nothing
                    sc.SCHEMA_PROPERTY: str(sc.SCHEMA_VERSION),
                },
                timeout=self._timeout,
            )
        try:
            with self._op("create_index"):
                # sync=False: pymilvus would otherwise poll each index with a fixed 0.5 s
                # sleep (and Lite lacks the AllocTimestamp RPC it polls with); an empty
                # collection has nothing to build, so the index is usable at once.
                self._c().create_index(
                    self._collection, indexes, timeout=self._timeout, sync=False
                )
        except StoreError:
            # A collection without its indexes cannot be loaded: never leave one behind.
            self.drop()
            raise
        self._load()
        self._schema = sc.SCHEMA_VERSION
        self._vector_index = sc.vector_index_kind(dialect, self._index)
        log.info(
            "created collection %s (dim %d, %s index, bm25=%s) in %.2fs",
            self._collection,
            self._dim,
            self._vector_index,
            dialect.capabilities.bm25,
            time.monotonic() - started,
        )

    def _describe(self) -> dict[str, Any]:
        with self._op("describe_collection"):
            return dict(self._c().describe_collection(self._collection, timeout=self._timeout))

    def _check_existing(self, wanted: dict[str, Any]) -> None:
        desc = self._describe()
        stored = sc.stored_fingerprint(desc)
        if stored != wanted:
            raise FingerprintMismatchError(
                f"collection {self._collection} was built with another embedding model; "
                "re-ingest into a new collection (or drop it) to use this one",
                details={"collection": self._collection, "stored": stored, "wanted": wanted},
            )
        fields = {f["name"]: f for f in desc.get("fields", [])}
        self._schema = sc.schema_version(desc)
        dim = sc.vector_dim(desc)
        if dim != self._dim:
            raise FingerprintMismatchError(
                f"collection {self._collection} holds {dim}-d vectors, not {self._dim}-d",
                details={
                    "collection": self._collection,
                    "stored_dim": dim,
                    "wanted_dim": self._dim,
                },
            )
        # A collection made without the BM25 field stays without it, whatever the server.
        analyzed = sc.INDEX_TEXT if sc.INDEX_TEXT in fields else "text"  # schema 1: text
        text_params = fields.get(analyzed, {}).get("params") or {}
        self._dialect = self._require_dialect().for_collection(
            sc.SPARSE in fields, sc.analyzer_name(text_params.get("analyzer_params"))
        )
        # Search parameters follow the index the collection has, not today's IndexConfig.
        with self._op("describe_index"):
            index = self._c().describe_index(self._collection, sc.VECTOR, timeout=self._timeout)
        self._vector_index = str((index or {}).get("index_type") or "") or None

    def _load(self) -> None:
        try:
            self._load_once()
        except StoreError as exc:
            if self.capabilities.kind != "lite" or not self._repair_lite_indexes():
                raise
            log.warning("rebuilt Milvus Lite index files after a load failure: %s", exc.message)
            self._load_once()

    def _load_once(self) -> None:
        with self._op("load_collection"):
            state = self._c().get_load_state(self._collection, timeout=self._timeout)
            if "Loaded" not in str(state.get("state", "")):
                self._c().load_collection(self._collection, timeout=self._timeout)
                log.info("loaded collection %s", self._collection)

    def _repair_lite_indexes(self) -> bool:
        """Delete Milvus Lite's per-segment index files so the next load rebuilds them.

        Milvus Lite 3.2 writes index files (``*.sidx``, ``*.idx``) in place, not atomically:
        a process killed while writing one leaves a truncated file that fails every later
        load. They are derived from the segment data, so removing them loses nothing.
        """
        root = Path(self._uri) / "collections" / self._collection / "partitions"
        if not root.is_dir():
            return False
        stale = [p for p in root.rglob("*") if p.is_file() and p.suffix in {".sidx", ".idx"}]
        for p in stale:
            p.unlink()
        return bool(stale)

    @property
    def _fields(self) -> list[str]:
        """The fields that rebuild a Chunk from this collection's rows."""
        return sc.chunk_fields(self._schema)

    def _rank_fields(self, counterparts: bool, rows: bool) -> list[str]:
        if rows:
            return self._fields
        return ["chunk_id", "counterparts"] if counterparts else ["chunk_id"]

    @property
    def _visibility(self) -> bool:
        """Whether the collection has the ``visible`` field (schema 2 and later)."""
        return self._schema >= 2

    def require_writable(self) -> None:
        """OutdatedCollectionError when the collection's schema is older than this code's.

        Reads of an older collection keep working; writes would miss fields it lacks.
        """
        if self._schema < sc.SCHEMA_VERSION:
            raise OutdatedCollectionError(
                f"collection {self._collection} was built by an older reportrag (schema "
                f"{self._schema}; this version writes schema {sc.SCHEMA_VERSION}): rebuild it "
                "with `reportrag ingest --rebuild`, or set REPORTRAG_COLLECTION to a new name",
                details={"collection": self._collection, "schema": self._schema,
                         "wanted_schema": sc.SCHEMA_VERSION},
            )

    def fingerprint(self) -> dict[str, Any] | None:
        """The fingerprint stored with the collection; None if it has none (or is missing)."""
        if not self.has_collection():
            return None
        return sc.stored_fingerprint(self._describe())

    def generation(self) -> str | None:
        """A random id of this collection's lifetime, set when it was created.

        A collection made before generations existed gets one now; None when the deployment
        cannot record it (callers then treat the collection as never seen before).
        """
        props = self._describe().get("properties") or {}
        if props.get(sc.GENERATION_PROPERTY):
            return str(props[sc.GENERATION_PROPERTY])
        fresh = uuid.uuid4().hex
        try:
            self._set_property(sc.GENERATION_PROPERTY, fresh)
        except StoreError as exc:
            log.info("collection %s: no generation recorded (%s)", self._collection, exc.message)
            return None
        return fresh

    def metadata_types(self, *, fresh: bool = False) -> dict[str, str]:
        """The user metadata keys of the collection's documents and their types
        (reportrag/metadata.py), as ingestions recorded them; read at most every few seconds.
        """
        now = time.monotonic()
        cached = self._metadata_types
        if not fresh and cached is not None and now - cached[0] < sc.METADATA_TYPES_TTL_S:
            return dict(cached[1])
        if self._schema < 3 or not self.has_collection():
            types: dict[str, str] = {}
        else:
            props = self._describe().get("properties") or {}
            types = sc.metadata_types_of(props.get(sc.METADATA_TYPES_PROPERTY))
        self._metadata_types = (now, types)
        return dict(types)

    def set_metadata_types(self, types: dict[str, str]) -> None:
        """Record the metadata keys and types (an ingestion, after merging its documents')."""
        self._set_property(sc.METADATA_TYPES_PROPERTY, json.dumps(types, sort_keys=True))
        self._metadata_types = (time.monotonic(), dict(types))

    def drop(self) -> None:
        """Drop the collection and everything in it (no error if it is missing)."""
        with self._op("drop_collection"):
            self._c().drop_collection(self._collection, timeout=self._timeout)
        log.info("dropped collection %s", self._collection)

    def count(self) -> int:
        """Number of chunks stored."""
        with self._op("count"):
            rows = self._c().query(
                self._collection, filter="", output_fields=["count(*)"], timeout=self._timeout
            )
        return int(rows[0]["count(*)"]) if rows else 0

    # -- writes -----------------------------------------------------------------------

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

    def _after_write(self) -> None:
        if self._require_dialect().flush_after_write:
            if self._deferred:
                self._flush_pending = True
            else:
                self._flush()

    def _flush(self) -> None:
        with self._op("flush"):
            self._c().flush(self._collection, timeout=self._timeout)
        self._flush_pending = False

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
                    self._collection, filter=expr, timeout=self._timeout, **_params_kw(params)
                )
        self._after_write()
        log.info("deleted %d chunks from %s", len(existing), self._collection)
        return len(existing)

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

    def document_translations(self) -> dict[str, list[Translation]]:
        """doc_id → the translations recorded for it (documents with none are left out)."""
        out: dict[str, list[Translation]] = {}
        for row in self._head_rows(["doc_id", "counterparts"]):
            found = sc.row_translations(row)
            if found:
                out[str(row["doc_id"])] = found
        return out

    def _head_rows(self, fields: list[str]) -> Iterator[dict[str, Any]]:
        """The visible first chunk (ordinal 0) of every document: one row per document."""
        expr = f"ordinal == {sc.HEAD_ORDINAL}"
        if self._visibility:
            expr += f" and {VISIBLE_ONLY}"
        seen: set[str] = set()
        for row in self._scan((expr, {}), fields):
            if str(row["doc_id"]) not in seen:  # a rewrite in flight may show two at once
                seen.add(str(row["doc_id"]))
                yield row

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

    # -- Lite: the rows in one segment after a batch of writes ----------------------------
    #
    # Milvus Lite 3.x scores BM25 with each segment's own statistics (document count, mean
    # length, document frequencies), counting superseded row versions too, and every flush
    # writes a segment. Rows written in a small segment of their own (a document added
    # later, a batch flushed alone) or beside many stale versions are then ranked with other
    # term weights than the rest: in a store re-ingested in parts, the Chinese article's
    # chunks scored half of what the same terms scored in the report. So a batch of writes
    # is flushed once and the live rows are then rewritten into one new segment (its older
    # segments hold stale versions only, which Lite's compaction drops later). A collection
    # property records that writes happened since, so a killed run's successor still does it.

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

    def _set_property(self, key: str, value: str) -> None:
        with self._op("alter_collection_properties"):
            self._c().alter_collection_properties(
                self._collection, properties={key: value}, timeout=self._timeout
            )

    # -- reads ------------------------------------------------------------------------

    def _query(
        self,
        expr: str,
        params: dict[str, object],
        fields: list[str],
        page: int | None = None,
        fast: bool = False,
    ) -> list[dict[str, Any]]:
        kwargs: dict[str, Any] = _params_kw(params)
        if fast:
            kwargs.update(FAST_READ)
        if page is not None:
            # Iterator mode is what makes a limited query return the rows with the smallest
            # primary keys, in key order (Lite otherwise returns storage order); no early
            # "best effort" stop, so a short page really means the end.
            # (pymilvus then sends the collection's default consistency, Strong.)
            kwargs.update(limit=page, iterator="True", reduce_stop_for_best="False")
        with self._op("query"):
            return [
                dict(r)
                for r in self._c().query(
                    self._collection,
                    filter=expr,
                    output_fields=fields,
                    timeout=self._timeout,
                    **kwargs,
                )
            ]

    def _rows_by_ids(
        self, chunk_ids: list[str], fields: list[str], fast: bool = False,
        visible_only: bool = False,
    ) -> list[dict[str, Any]]:
        ids = list(dict.fromkeys(chunk_ids))
        found: dict[str, dict[str, Any]] = {}
        for i in range(0, len(ids), ID_BATCH):
            expr, params = ids_filter(
                "chunk_id", ids[i : i + ID_BATCH], templating=self._templating,
                visible_only=visible_only and self._visibility,
            )
            for row in self._query(expr, params, fields, fast=fast):
                found[row["chunk_id"]] = row
        return [found[c] for c in ids if c in found]

    def _scan(
        self, base: tuple[str, dict[str, object]], fields: list[str]
    ) -> Iterator[dict[str, Any]]:
        """Every row matching ``base``, paged by primary key (chunk_id order)."""
        for page in self._scan_pages(base, fields, SCAN_PAGE):
            yield from page

    def _scan_pages(
        self, base: tuple[str, dict[str, object]], fields: list[str], page_size: int
    ) -> Iterator[list[dict[str, Any]]]:
        """Pages of up to ``page_size`` rows matching ``base``, in ascending chunk_id order."""
        out_fields = list(dict.fromkeys(["chunk_id", *fields]))
        last: str | None = None
        while True:
            expr = Expr(templating=self._templating)
            if base[0]:
                expr.add(base[0])
                expr.params.update(base[1])
            if last is not None:
                expr.add(f"chunk_id > {expr.value('chunk_id', last)}")
            # The server refuses an empty expression without a limit; this one matches all.
            text = expr.render() or 'chunk_id != ""'
            page = self._query(text, expr.params, out_fields, page=page_size)
            page.sort(key=lambda r: r["chunk_id"])
            if page:
                yield page
            if len(page) < page_size:
                return
            last = page[-1]["chunk_id"]

    def matching_rows(
        self, filters: Filters, fields: list[str], max_rows: int
    ) -> tuple[list[dict[str, Any]], bool]:
        """Up to ``max_rows`` visible rows matching ``filters`` (``fields`` of each), and
        whether more matched (facet counts, reportrag/search/facets.py)."""
        dialect = self._require_dialect()
        base = compile_filters(filters, templating=self._templating,
                               like_prefixes=dialect.like_prefixes, visible_only=self._visibility)
        rows: list[dict[str, Any]] = []
        for page in self._scan_pages(base, fields, min(SCAN_PAGE, max_rows + 1)):
            rows.extend(page)
            if len(rows) > max_rows:
                return rows[:max_rows], True
        return rows, False

    def _visible_base(self) -> tuple[str, dict[str, object]]:
        return (VISIBLE_ONLY, {}) if self._visibility else ("", {})

    def doc_index(self, doc_id: str) -> dict[str, str]:
        """chunk_id -> content_hash for every chunk of ``doc_id``, hidden ones included."""
        base = eq_filter("doc_id", doc_id, templating=self._templating)
        return {r["chunk_id"]: r["content_hash"] for r in self._scan(base, ["content_hash"])}

    def all_doc_ids(self) -> list[str]:
        """Every doc_id that has at least one chunk (hidden ones included), sorted."""
        return sorted({r["doc_id"] for r in self._scan(("", {}), ["doc_id"])})

    def get(self, chunk_ids: list[str]) -> list[Chunk]:
        """These chunks in the order asked; missing (and hidden) ones are skipped."""
        rows = self._rows_by_ids(chunk_ids, self._fields, fast=True, visible_only=True)
        return [sc.row_to_chunk(r) for r in rows]

    def chunks_of(self, doc_id: str) -> list[Chunk]:
        """Every visible chunk of ``doc_id`` ordered by ordinal."""
        base = eq_filter("doc_id", doc_id, templating=self._templating,
                         extra=self._visible_base()[0])
        chunks = [sc.row_to_chunk(r) for r in self._scan(base, self._fields)]
        return sorted(chunks, key=lambda c: c.ordinal)

    def chunks_window(self, doc_id: str, first: int, last: int) -> list[Chunk]:
        """Chunks of ``doc_id`` with ``first <= ordinal <= last``, ordered by ordinal."""
        if last < first:
            return []
        extra = f"ordinal >= {int(first)} and ordinal <= {int(last)}"
        if self._visibility:
            extra += f" and {VISIBLE_ONLY}"
        expr, params = eq_filter("doc_id", doc_id, templating=self._templating, extra=extra)
        # A window is small (ordinals are unique per document): one query, no paging.
        rows = self._query(expr, params, self._fields, fast=True)
        return sorted((sc.row_to_chunk(r) for r in rows), key=lambda c: c.ordinal)

    def get_vectors(self, chunk_ids: list[str]) -> dict[str, np.ndarray]:
        """chunk_id -> float32 vector for the chunks that exist."""
        rows = self._rows_by_ids(chunk_ids, ["chunk_id", sc.VECTOR], fast=True)
        return {r["chunk_id"]: np.asarray(r[sc.VECTOR], dtype=np.float32) for r in rows}

    def documents(self) -> list[dict[str, Any]]:
        """Per document: doc_id, title, lang, kind, date, chunks, langs, sections (in order)
        and translations (``[{doc_id, confidence, source}]``, documents that exist only)."""
        fields = DOCUMENT_FIELDS + (["doc_lang"] if self._schema >= 2 else [])
        docs = summarize(self._scan(self._visible_base(), fields))
        recorded = self.document_translations()
        present = {d["doc_id"] for d in docs}
        for d in docs:
            d["translations"] = sc.translations_json(
                [t for t in recorded.get(d["doc_id"], []) if t.doc_id in present]
            )
        return docs

    # -- bulk reads (copying a collection, checking one against another) -------------------

    def scan_with_vectors(self, page_size: int = 1000) -> Iterator[tuple[list[Chunk], np.ndarray]]:
        """Every visible chunk with its vector: pages of up to ``page_size``, by chunk_id."""
        size = _page_size(page_size)
        for page in self._scan_pages(self._visible_base(), [*self._fields, sc.VECTOR], size):
            yield [sc.row_to_chunk(r) for r in page], self._vectors(page)

    def scan_ids(self, page_size: int = SCAN_PAGE) -> Iterator[list[str]]:
        """Every visible chunk_id: pages of up to ``page_size``, ascending (code point) order."""
        for page in self._scan_pages(self._visible_base(), [], _page_size(page_size)):
            yield [str(r["chunk_id"]) for r in page]

    def get_with_vectors(self, chunk_ids: list[str]) -> tuple[list[Chunk], np.ndarray]:
        """These chunks (in the order asked, missing ones skipped) and their vectors."""
        rows = self._rows_by_ids(chunk_ids, [*self._fields, sc.VECTOR], fast=True)
        return [sc.row_to_chunk(r) for r in rows], self._vectors(rows)

    def _vectors(self, rows: list[dict[str, Any]]) -> np.ndarray:
        if not rows:
            return np.zeros((0, self._dim), dtype=np.float32)
        return np.asarray([r[sc.VECTOR] for r in rows], dtype=np.float32).reshape(
            len(rows), self._dim
        )

    # -- search -----------------------------------------------------------------------

    def search_dense(self, vector: np.ndarray, filters: Filters, top_k: int) -> list[StoreHit]:
        """Nearest chunks by cosine similarity (score in [-1, 1]), filtered inside the search."""
        rows = self._search_dense(vector, filters, top_k, self._fields)
        return [StoreHit(chunk=sc.row_to_chunk(row), score=score) for row, score in rows]

    def rank_dense(
        self, vector: np.ndarray, filters: Filters, top_k: int, *, counterparts: bool = False,
        rows: bool = False,
    ) -> list[Ranked]:
        """Like :meth:`search_dense`, for ranking: ids and scores, the counterparts if asked,
        whole chunks only with ``rows``.

        Milvus Lite turns every hit into a full Python row before it projects the output
        fields, so on Lite a search that returns only ids is cheaper (40 hits: 6.3 ms vs
        9.2 ms with whole chunks) and the few chunks kept are read afterwards; on a server
        the extra read costs more than the fields (docs/benchmarks.md).
        """
        return _ranked_rows(
            self._search_dense(vector, filters, top_k, self._rank_fields(counterparts, rows))
        )

    def search_text(self, query: str, filters: Filters, top_k: int) -> list[StoreHit]:
        """BM25 keyword search over chunk text (score >= 0), filtered inside the search."""
        rows = self._search_text(query, filters, top_k, self._fields)
        return [StoreHit(chunk=sc.row_to_chunk(row), score=score) for row, score in rows]

    def rank_text(
        self, query: str, filters: Filters, top_k: int, *, counterparts: bool = False,
        rows: bool = False,
    ) -> list[Ranked]:
        """Like :meth:`search_text`, for ranking (see :meth:`rank_dense`)."""
        return _ranked_rows(
            self._search_text(query, filters, top_k, self._rank_fields(counterparts, rows))
        )

    def _search_dense(
        self, vector: np.ndarray, filters: Filters, top_k: int, fields: list[str]
    ) -> list[tuple[dict[str, Any], float]]:
        vec = np.asarray(vector, dtype=np.float32).reshape(-1)
        if vec.shape != (self._dim,) or not np.isfinite(vec).all():
            raise ValueError(f"query vector must be {self._dim} finite floats")
        kind = self._vector_index or sc.vector_index_kind(self._require_dialect(), self._index)
        params: dict[str, Any] = {}
        if kind == "HNSW":
            params = {"ef": max(self._index.search_ef, _top_k(top_k))}
        elif kind in IVF_KINDS:
            params = {"nprobe": self._index.ivf_nprobe}
        return self._search(
            [vec.tolist()], sc.VECTOR, {"metric_type": "COSINE", "params": params}, filters,
            top_k, fields,
        )

    def _search_text(
        self, query: str, filters: Filters, top_k: int, fields: list[str]
    ) -> list[tuple[dict[str, Any], float]]:
        caps = self.capabilities
        if not caps.bm25:
            raise CapabilityError(
                f"this Milvus ({caps.kind} {caps.server_version}) has no BM25 full-text search",
                details={"capabilities": caps.to_dict()},
            )
        if not query.strip():
            return []
        return self._search(
            [query], sc.SPARSE, {"metric_type": "BM25", "params": {}}, filters, top_k, fields
        )

    def _search(
        self,
        data: list[Any],
        field: str,
        search_params: dict[str, Any],
        filters: Filters,
        top_k: int,
        fields: list[str],
    ) -> list[tuple[dict[str, Any], float]]:
        """(row of ``fields``, score) per hit, best first."""
        dialect = self._require_dialect()
        expr, params = compile_filters(
            filters, templating=self._templating, like_prefixes=dialect.like_prefixes,
            visible_only=self._visibility,
        )
        started = time.monotonic()
        with self._op("search", "search_text" if field == sc.SPARSE else "search_dense"):
            result = self._c().search(
                self._collection,
                data=data,
                anns_field=field,
                filter=expr,
                limit=_top_k(top_k),
                output_fields=fields,
                search_params=search_params,
                timeout=self._timeout,
                **_params_kw(params),
                **FAST_READ,
            )
        # Milvus Lite reports BM25 as a negated score (smaller = better), the server as the
        # score itself; BM25 is never negative, so abs() is right for both.
        fix = abs if field == sc.SPARSE else float
        hits = [(dict(h["entity"]), fix(float(h["distance"])))
                for h in (result[0] if result else [])]
        log.debug("search %s: %d hits in %.3fs", field, len(hits), time.monotonic() - started)
        return hits




def _ranked_rows(rows: list[tuple[dict[str, Any], float]]) -> list[Ranked]:
    out = []
    for row, score in rows:
        if "text" in row:  # a whole chunk row
            chunk = sc.row_to_chunk(row)
            out.append(Ranked(chunk.chunk_id, score, chunk.counterparts, chunk))
        else:
            cps = sc.row_counterparts(row) if "counterparts" in row else None
            out.append(Ranked(str(row["chunk_id"]), score, cps))
    return out


def _grpc_options(uri: str) -> dict[str, Any]:
    """Channel options on top of pymilvus' own.

    Every channel gets a subchannel (TCP connection) of its own, not one from gRPC's
    process-wide pool. For Milvus Lite, whose gRPC server runs in this process, client
    keepalive pings are off: there is no network to keep alive, and that server (gRPC's
    default policy) answers pings on an idle connection with GOAWAY "too_many_pings" after
    ~5 minutes, failing the first request after an idle spell with UNAVAILABLE.
    """
    opts: dict[str, Any] = {"grpc.use_local_subchannel_pool": 1}
    if uri.endswith(".db"):
        opts.update({"grpc.keepalive_time_ms": 2**31 - 1,
                     "grpc.keepalive_permit_without_calls": 0})
    return opts


def _page_size(page_size: int) -> int:
    if isinstance(page_size, bool) or not isinstance(page_size, int):
        raise ValueError(f"page_size must be an integer, not {page_size!r}")
    if not 1 <= page_size <= MAX_PAGE:
        raise ValueError(f"page_size must be in 1..{MAX_PAGE}, not {page_size}")
    return page_size


def _lite_locked(db: Path) -> bool:
    """Whether another process holds Milvus Lite's lock on ``db`` (its LOCK file)."""
    import fcntl

    try:
        with (db / "LOCK").open("a") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(fh, fcntl.LOCK_UN)
    except OSError:
        return False
    return False


def _top_k(top_k: int) -> int:
    if not isinstance(top_k, int) or not 1 <= top_k <= MAX_TOP_K:
        raise ValueError(f"top_k must be an integer in 1..{MAX_TOP_K}, not {top_k!r}")
    return top_k


def _params_kw(params: dict[str, object]) -> dict[str, Any]:
    # Only a templating server gets filter_params; older parsers never see the keyword.
    return {"filter_params": params} if params else {}
