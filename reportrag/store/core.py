"""StoreCore: what every part of :class:`~reportrag.store.milvus.MilvusStore` stands on.

The configuration (URI, collection, dim, timeout, index settings), the pymilvus client and
the dialect detected at :meth:`StoreCore.connect`, the schema version of the collection, and
the primitives every concern reads rows with: one query, rows by id, paged scans.
The concerns themselves (reportrag/store/collection.py, reads.py, writes.py, segments.py,
search.py) are mixins on this class.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Self

from pymilvus import MilvusClient

from reportrag.errors import ConfigError, StoreError, StoreUnavailableError
from reportrag.store import schema as sc
from reportrag.store.capabilities import Dialect, IndexConfig, StoreCapabilities, detect_dialect
from reportrag.store.errors import describe, redact_uri, translated
from reportrag.store.filters import VISIBLE_ONLY, Expr, ids_filter
from reportrag.store.lite_process import LITE_LOCKED
from reportrag.store.uris import check_uri

log = logging.getLogger(__name__)

ID_BATCH = 512  # ids per `chunk_id in [...]` expression
SCAN_PAGE = 4096  # rows per query page (the server caps offset + limit at 16384)
# Reads that serve searches use Session consistency: this process sees its own writes at
# once, without Strong's wait for the server's time tick (about 400 ms a request on 2.3.5).
# Everything else (the collection default) is Strong: ingest decisions need fresh data.
FAST_READ = {"consistency_level": "Session"}

DEFAULT_INDEX = IndexConfig()

Base = tuple[str, dict[str, object]]  # a filter expression and its template parameters


class StoreCore:
    """One collection of chunks: the connection, its state and the row-reading primitives."""

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
        # (stored, wanted) write-only fingerprint keys that differ (another passage
        # precision): the collection can be searched but not written; None when they agree
        self._write_conflict: tuple[dict[str, Any], dict[str, Any]] | None = None
        self._metadata_types: tuple[float, dict[str, str]] | None = None  # (read at, types)

    def __repr__(self) -> str:
        name, uri = type(self).__name__, redact_uri(self._uri)
        return f"{name}({uri!r}, {self._collection!r}, dim={self._dim})"

    def __enter__(self) -> Self:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def collection(self) -> str:
        """The collection name."""
        return self._collection

    @property
    def dim(self) -> int:
        """The dimension of the stored vectors."""
        return self._dim

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

    # -- the collection's description and properties --------------------------------------

    def has_collection(self) -> bool:
        """Whether the collection exists."""
        with self._op("has_collection"):
            return bool(self._c().has_collection(self._collection, timeout=self._timeout))

    def _describe(self) -> dict[str, Any]:
        with self._op("describe_collection"):
            return dict(self._c().describe_collection(self._collection, timeout=self._timeout))

    def _set_property(self, key: str, value: str) -> None:
        with self._op("alter_collection_properties"):
            self._c().alter_collection_properties(
                self._collection, properties={key: value}, timeout=self._timeout
            )

    @property
    def _fields(self) -> list[str]:
        """The fields that rebuild a Chunk from this collection's rows."""
        return sc.chunk_fields(self._schema)

    @property
    def _visibility(self) -> bool:
        """Whether the collection has the ``visible`` field (schema 2 and later)."""
        return self._schema >= 2

    def _visible_base(self) -> Base:
        return (VISIBLE_ONLY, {}) if self._visibility else ("", {})

    # -- reading rows -----------------------------------------------------------------

    def _query(
        self,
        expr: str,
        params: dict[str, object],
        fields: list[str],
        page: int | None = None,
        fast: bool = False,
    ) -> list[dict[str, Any]]:
        kwargs: dict[str, Any] = params_kw(params)
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

    def _scan(self, base: Base, fields: list[str]) -> Iterator[dict[str, Any]]:
        """Every row matching ``base``, paged by primary key (chunk_id order)."""
        for page in self._scan_pages(base, fields, SCAN_PAGE):
            yield from page

    def _scan_pages(
        self, base: Base, fields: list[str], page_size: int
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


def params_kw(params: dict[str, object]) -> dict[str, Any]:
    """``filter_params`` for a call: only a templating server gets them (older parsers never
    see the keyword)."""
    return {"filter_params": params} if params else {}


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
