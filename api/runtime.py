"""The API's long-lived objects (settings, embedder, store, search service) and readiness.

Milvus may be away when the API starts or go away later: the runtime reconnects on the next
request instead of requiring a restart.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from reportrag.errors import ReportragError, StoreError, StoreUnavailableError
from reportrag.settings import Settings
from reportrag.wiring import embedder_from_settings, open_collection
from search.service import SearchService, search_executor, service_from_settings

logger = logging.getLogger(__name__)


@dataclass
class Runtime:
    """Everything a request needs, created once per worker process."""

    settings: Settings
    embedder: object | None = None
    store: object | None = None
    service: SearchService | None = None
    model_error: str = ""
    store_error: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)
    # One pool for the searches of every request, kept across Milvus reconnects.
    _executor: ThreadPoolExecutor = field(default_factory=search_executor)

    def start(self) -> None:
        """Load the model and connect to Milvus; failures are recorded, not raised."""
        if self.embedder is None:
            try:
                started = time.monotonic()
                emb = embedder_from_settings(self.settings)
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
        self._connect()
        if self.service is not None:
            self._warm_search()

    def _warm_search(self) -> None:
        # The first BM25 query loads the Chinese analyzer's dictionary (~1 s): pay it now.
        assert self.service is not None
        try:
            self.service.search("warm up 预热", top_k=1)
        except ReportragError as exc:
            logger.warning("warm-up search failed: %s", exc.message)

    def _connect(self) -> None:
        assert self.embedder is not None
        try:
            store = open_collection(self.settings, self.embedder)
        except ReportragError as exc:
            self.store_error = exc.message
            logger.warning("Milvus not ready: %s", exc.message)
            return
        self.store, self.store_error = store, ""
        self.service = service_from_settings(self.embedder, store, self.settings,
                                             executor=self._executor)

    def ready_service(self) -> SearchService:
        """The search service, reconnecting to Milvus first if needed."""
        if self.embedder is None:
            raise StoreUnavailableError(f"embedding model not loaded: {self.model_error}")
        if self.service is None:
            # One request reconnects (bounded by the Milvus timeout); the others fail fast
            # with 503 instead of queueing behind it for a timeout each.
            if not self._lock.acquire(blocking=False):
                raise StoreUnavailableError(
                    "Milvus is not available: reconnecting", details={"reason": self.store_error}
                )
            try:
                if self.service is None:
                    self._connect()
            finally:
                self._lock.release()
        if self.service is None:
            raise StoreUnavailableError(f"Milvus is not available: {self.store_error}")
        return self.service

    def mark_store_down(self, reason: str) -> None:
        """Drop the connection after a failure so the next request reconnects."""
        with self._lock:
            if self.store is not None:
                self.store.close()
            self.store, self.service, self.store_error = None, None, reason

    def readiness(self) -> tuple[bool, dict[str, object]]:
        """(ready, report) for /readyz."""
        report: dict[str, object] = {"model": "ok" if self.embedder else self.model_error}
        ok = self.embedder is not None
        if ok:
            try:
                svc = self.ready_service()
                svc.store.count()
                report["milvus"] = "ok"
                report["capabilities"] = svc.store.capabilities.to_dict()
                report["modes"] = svc.modes()
            except ReportragError as exc:
                if isinstance(exc, StoreError):
                    self.mark_store_down(exc.message)
                report["milvus"] = exc.message
                ok = False
        return ok, report

    def close(self) -> None:
        if self.store is not None:
            self.store.close()
        self._executor.shutdown(wait=True)
