"""The API's long-lived objects (settings, embedder, store, search service) and readiness.

Milvus may be away when the API starts or go away later: the runtime reconnects on the next
request instead of requiring a restart.

Under ``reportrag serve`` on Milvus Lite the database runs in a supervised child process
(reportrag/store/lite_process.py), whose supervisor publishes the child's state next to the
database. The runtime reads it: while the child restarts, requests fail at once with the
state and when the next start is due (``Retry-After``), instead of each waiting a connection
timeout; a connection to a child that has been replaced is dropped before it is used.

A connection is shared by the requests in flight. One that failed is *retired*: no new
request gets it, and it is closed when the last request using it is done (closed under
them, it turned their next call into "MilvusStore is not connected"). Admin ingestion uses
a connection of its own (:meth:`Runtime.open_writer`), which needs no collection: the
ingestion creates it, and searches find it on their next request.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from reportrag import telemetry
from reportrag.errors import (
    CollectionMissingError,
    ReportragError,
    StoreError,
    StoreUnavailableError,
)
from reportrag.search.service import SearchService, search_executor, service_from_settings
from reportrag.settings import Settings
from reportrag.store.lite_process import FAILED, UP, ChildStatus, read_status
from reportrag.wiring import embedder_from_settings, open_collection, store_from_settings

if TYPE_CHECKING:
    from reportrag.embedding import TextEmbedder
    from reportrag.store import MilvusStore

logger = logging.getLogger(__name__)

# How stale the Lite supervisor's state may be on the request path (one small file read).
LITE_STATUS_MAX_AGE_S = 0.5


@dataclass(eq=False)
class Connection:
    """A connected store and its search service, leased by Runtime to the requests that use it."""

    store: MilvusStore
    service: SearchService
    child_pid: int | None  # the Lite child it reached (supervised Lite), to notice a restart
    users: int = 0
    retired: bool = False

    def close(self) -> None:
        try:
            self.store.close()
        except ReportragError as exc:  # the server is gone already: nothing left to close
            logger.info("closing a Milvus connection: %s", exc.message)


@dataclass
class Writer:
    """What an admin ingestion needs: the embedder and a Milvus connection of its own."""

    embedder: TextEmbedder
    store: MilvusStore

    def close(self) -> None:
        try:
            self.store.close()
        except ReportragError as exc:
            logger.info("closing the ingestion's Milvus connection: %s", exc.message)


@dataclass
class Runtime:
    """Everything a request needs, created once per worker process."""

    settings: Settings
    embedder: TextEmbedder | None = None
    model_error: str = ""
    store_error: str = ""
    _conn: Connection | None = field(default=None, repr=False)
    # Guards _conn and the users of connections; never held across a Milvus call.
    _state_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    # One reconnect at a time; the other requests fail fast instead of queueing behind it.
    _connect_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    # One pool for the searches of every request, kept across Milvus reconnects.
    _executor: ThreadPoolExecutor = field(default_factory=search_executor, repr=False)
    _lite_seen: tuple[float, ChildStatus | None] = field(default=(-1e9, None), repr=False)
    _connected_before: bool = field(default=False, repr=False)  # a connect is a reconnect

    @property
    def store(self) -> MilvusStore | None:
        """The store of the current connection (None while disconnected)."""
        conn = self._conn
        return None if conn is None else conn.store

    @property
    def service(self) -> SearchService | None:
        """The search service of the current connection (None while disconnected)."""
        conn = self._conn
        return None if conn is None else conn.service

    # -- start ----------------------------------------------------------------------------

    def start(self) -> None:
        """Load the model and connect to Milvus; failures are recorded, not raised."""
        if self.embedder is None:
            try:
                started = time.monotonic()
                emb = embedder_from_settings(self.settings, passages_in_child=True)
                emb.query_engine.load()
                emb.embed_query("warm up")
                self.embedder = emb
                # One line per worker process: shows each worker loads the model exactly once.
                logger.info(
                    "embedding model %s loaded in %.1fs (pid %d)",
                    emb.spec.name,
                    time.monotonic() - started,
                    os.getpid(),
                )
            except ReportragError as exc:
                self.model_error = exc.message
                logger.error("embedding model unavailable: %s", exc.message)
                return
        # The query language detector builds its models on the first Latin-script query
        # (~1 s, measured: the first English search after start took 1.19 s): pay it now.
        from reportrag.langid import default_detector

        default_detector().warm_up()
        try:
            conn = self.lease_ready()
        except ReportragError as exc:
            logger.warning("Milvus not ready: %s", exc.message)
            return
        try:
            self._warm_search(conn.service)
        finally:
            self.release(conn)

    def _warm_search(self, service: SearchService) -> None:
        # The first BM25 query loads the Chinese analyzer's dictionary (~1 s): pay it now.
        try:
            service.search("warm up 预热", top_k=1)
        except ReportragError as exc:
            logger.warning("warm-up search failed: %s", exc.message)

    # -- the Milvus Lite supervisor's word ----------------------------------------------------

    def lite_status(self, max_age: float = 0.0) -> ChildStatus | None:
        """The state ``reportrag serve``'s supervisor published for the Lite child we use.

        None when no supervisor of ours serves this runtime's store (a Milvus server, Lite
        in this process, or an address nobody publishes). ``max_age``: a reading that recent
        will do (the request path reads at most every LITE_STATUS_MAX_AGE_S).
        """
        address = self.settings.lite_address
        if address is None or self.settings.milvus_uri is not None:
            return None
        read_at, status = self._lite_seen
        now = time.monotonic()
        if now - read_at > max_age:
            status = read_status(Path(self.settings.resolved_milvus_uri), address)
            self._lite_seen = (now, status)
        return status

    def _lite_down(self) -> StoreUnavailableError | None:
        """The error to answer while the supervised Lite child is not up (None while it is)."""
        status = self.lite_status()
        if status is None or status.state == UP:
            return None
        now = time.time()
        details: dict[str, object] = {"lite": status.to_dict(now)}
        retry = status.retry_after_s(now)
        if retry is not None:  # the real backoff; otherwise the edge's default applies
            details["retry_after_s"] = retry
        return StoreUnavailableError(status.describe(now), details=details)

    # -- connections ------------------------------------------------------------------------

    def lease_open(self) -> Connection | None:
        """The open connection, counted as in use, if nothing says it is stale; no Milvus call.

        Callers :meth:`release` it when done. None: use :meth:`lease_ready`.
        """
        if self.embedder is None or self._conn is None:
            return None
        status = self.lite_status(LITE_STATUS_MAX_AGE_S)
        with self._state_lock:
            conn = self._conn
            if conn is None:
                return None
            if status is not None and (status.state != UP or status.pid != conn.child_pid):
                # The child it reached died (or was replaced): reconnect before using it.
                self._conn = None
                self._retire_locked(conn)
                return None
            conn.users += 1
            return conn

    def lease_ready(self) -> Connection:
        """A connection with the collection open, connecting first if needed (blocks up to
        the Milvus timeout); :meth:`release` it when done.

        StoreUnavailableError while Milvus (or the model) is not available, with the Lite
        supervisor's state and real backoff when it restarts the child; CollectionMissingError
        before the first ingestion.
        """
        conn = self.lease_open()
        if conn is not None:
            return conn
        if self.embedder is None:
            raise StoreUnavailableError(f"embedding model not loaded: {self.model_error}")
        down = self._lite_down()
        if down is not None:
            raise down
        if not self._connect_lock.acquire(blocking=False):
            raise StoreUnavailableError(
                "Milvus is not available: reconnecting", details={"reason": self.store_error}
            )
        try:
            conn = self.lease_open()  # another request may have connected meanwhile
            if conn is None:
                conn = self._connect()
        finally:
            self._connect_lock.release()
        return conn

    def _connect(self) -> Connection:
        """Open the collection; the new connection replaces the current one, leased once."""
        assert self.embedder is not None
        status = self.lite_status()  # read before connecting: a later restart shows as stale
        try:
            store = open_collection(self.settings, self.embedder)
        except CollectionMissingError as exc:
            self.store_error = exc.message
            telemetry.milvus_state(False)
            raise
        except ReportragError as exc:
            self.store_error = exc.message
            telemetry.milvus_state(False)
            logger.warning("Milvus not ready: %s", exc.message)
            raise StoreUnavailableError(
                f"Milvus is not available: {exc.message}", details=dict(exc.details)
            ) from exc
        service = service_from_settings(self.embedder, store, self.settings,
                                        executor=self._executor)
        conn = Connection(store, service, child_pid=None if status is None else status.pid,
                           users=1)
        with self._state_lock:
            old, self._conn, self.store_error = self._conn, conn, ""
            if old is not None:
                self._retire_locked(old)
            reconnect, self._connected_before = self._connected_before, True
        telemetry.milvus_state(True, reconnect=reconnect)
        return conn

    @contextmanager
    def leased(self) -> Iterator[SearchService]:
        """:meth:`lease_ready`'s service for a ``with`` block, released after it (blocking:
        for a worker thread)."""
        with self._leased_connection() as conn:
            yield conn.service

    @contextmanager
    def leased_store(self) -> Iterator[MilvusStore]:
        """:meth:`lease_ready`'s store for a ``with`` block (admin reads and writes outside
        the search service), released after it (blocking: for a worker thread)."""
        with self._leased_connection() as conn:
            yield conn.store

    @contextmanager
    def _leased_connection(self) -> Iterator[Connection]:
        conn = self.lease_ready()
        try:
            yield conn
        finally:
            self.release(conn)

    def release(self, conn: Connection) -> None:
        """A request is done with ``conn``: a retired one closes with its last user."""
        with self._state_lock:
            conn.users -= 1
            close = conn.retired and conn.users == 0
        if close:
            conn.close()

    def _retire_locked(self, conn: Connection) -> None:
        # Caller holds _state_lock and has taken conn out of self._conn.
        conn.retired = True
        if conn.users == 0:
            # Nobody uses it: close now (a channel close, no call to the server).
            conn.close()

    def mark_store_down(self, reason: str) -> None:
        """Retire the connection after a failure so the next request reconnects; requests
        still using it keep it until they are done."""
        with self._state_lock:
            conn, self._conn = self._conn, None
            self.store_error = reason
            if conn is not None:
                self._retire_locked(conn)
        telemetry.milvus_state(False)

    # -- admin ingestion -----------------------------------------------------------------

    def open_writer(self) -> Writer:
        """A Milvus connection of its own for an admin ingestion; the collection need not
        exist (the ingestion creates it). Close it with :meth:`Writer.close`."""
        if self.embedder is None:
            raise StoreUnavailableError(f"embedding model not loaded: {self.model_error}")
        down = self._lite_down()
        if down is not None:
            raise down
        store = store_from_settings(self.settings, self.embedder.dim)
        try:
            store.connect()
        except StoreUnavailableError:
            raise
        except StoreError as exc:
            raise StoreUnavailableError(f"Milvus is not available: {exc.message}",
                                        details=dict(exc.details)) from exc
        return Writer(self.embedder, store)

    # -- probes ----------------------------------------------------------------------------

    def readiness(self) -> tuple[bool, dict[str, object]]:
        """(ready, report) for /readyz; a report that is not ready has ``retry_after_s``
        when the real wait is known (the Lite supervisor's backoff)."""
        report: dict[str, object] = {"model": "ok" if self.embedder else self.model_error}
        status = self.lite_status()
        if status is not None:
            report["lite"] = status.to_dict(time.time())
        if self.embedder is None:
            return False, report
        try:
            conn = self.lease_ready()
        except ReportragError as exc:
            report["milvus"] = exc.message
            if "retry_after_s" in exc.details:
                report["retry_after_s"] = exc.details["retry_after_s"]
            return False, report
        try:
            conn.store.count()
            report["milvus"] = "ok"
            report["capabilities"] = conn.store.capabilities.to_dict()
            report["modes"] = conn.service.modes()
            return True, report
        except ReportragError as exc:
            if isinstance(exc, StoreError):
                self.mark_store_down(exc.message)
            report["milvus"] = exc.message
            return False, report
        finally:
            self.release(conn)

    def health(self) -> tuple[bool, dict[str, object]]:
        """(healthy, store state) for /healthz; no Milvus call.

        Unhealthy only when the Lite child is down for good: its supervisor broke or its
        process is gone. A child being restarted is healthy (/readyz says it is not ready).
        """
        status = self.lite_status()
        if status is None:
            store: dict[str, object] = {
                "supervised": False,
                "state": "connected" if self._conn is not None else "disconnected",
            }
            if self._conn is None and self.store_error:
                store["reason"] = self.store_error
            return True, store
        return status.state != FAILED, {"supervised": True, **status.to_dict(time.time())}

    def close(self) -> None:
        with self._state_lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
        self._executor.shutdown(wait=True)
        close = getattr(self.embedder and self.embedder.document_engine, "close", None)
        if close is not None:  # the passage-embedding child process
            close()
