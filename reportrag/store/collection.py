"""The collection's lifecycle: create or check and load it, its fingerprint, generation and
metadata types (collection properties), drop it."""

from __future__ import annotations

import json
import logging
import time
import uuid
from pathlib import Path
from typing import Any, Self

from reportrag.embedding.base import WRITE_ONLY_KEYS, with_fingerprint_defaults
from reportrag.errors import (
    FingerprintMismatchError,
    NotFoundError,
    ReportragError,
    StoreError,
)
from reportrag.store import schema as sc
from reportrag.store.capabilities import Dialect, IndexConfig
from reportrag.store.core import DEFAULT_INDEX, StoreCore
from reportrag.store.errors import redact_uri
from reportrag.store.segments import repair_lite_indexes

log = logging.getLogger(__name__)


class CollectionLifecycle(StoreCore):
    """Creating, checking, loading and dropping the collection (a mixin of MilvusStore).

    Relies on StoreCore for the client (``_c``, ``_op``, ``_timeout``), the configuration
    (``_uri``, ``_collection``, ``_dim``, ``_index``), the dialect and the collection
    properties (``_describe``, ``_set_property``); sets StoreCore's ``_dim`` (on
    :meth:`open_existing`), ``_dialect`` (narrowed to what the collection has),
    ``_schema``, ``_vector_index`` and ``_metadata_types``.
    """

    @classmethod
    def open_existing(
        cls,
        uri: str,
        collection: str,
        *,
        token: str | None = None,
        timeout: float = 10.0,
        index: IndexConfig = DEFAULT_INDEX,
    ) -> Self:
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
    def vector_index(self) -> str:
        """The vector index type of the collection (as created, or as found on reopen)."""
        return self._vector_index or sc.vector_index_kind(self._require_dialect(), self._index)

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
        self._write_conflict = None
        self._vector_index = sc.vector_index_kind(dialect, self._index)
        log.info(
            "created collection %s (dim %d, %s index, bm25=%s) in %.2fs",
            self._collection,
            self._dim,
            self._vector_index,
            dialect.capabilities.bm25,
            time.monotonic() - started,
        )

    def _check_existing(self, wanted: dict[str, Any]) -> None:
        desc = self._describe()
        # A key an older reportrag did not write reads as what it built with (float passages).
        found = sc.stored_fingerprint(desc)
        stored = None if found is None else with_fingerprint_defaults(found)
        wanted = with_fingerprint_defaults(wanted)
        if stored is None or _identity(stored) != _identity(wanted):
            raise FingerprintMismatchError(
                f"collection {self._collection} was built with another embedding model; "
                "rebuild it with `reportrag ingest --rebuild`, or set REPORTRAG_COLLECTION to "
                "a new name, to use this one",
                details={"collection": self._collection, "stored": stored, "wanted": wanted},
            )
        # Passages embedded at another precision: searchable, not writable (require_writable).
        self._write_conflict = None if stored == wanted else (
            {k: stored.get(k) for k in WRITE_ONLY_KEYS},
            {k: wanted.get(k) for k in WRITE_ONLY_KEYS},
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
            if self.capabilities.kind != "lite" or not repair_lite_indexes(
                self._uri, self._collection
            ):
                raise
            log.warning("rebuilt Milvus Lite index files after a load failure: %s", exc.message)
            self._load_once()

    def _load_once(self) -> None:
        with self._op("load_collection"):
            state = self._c().get_load_state(self._collection, timeout=self._timeout)
            if "Loaded" not in str(state.get("state", "")):
                self._c().load_collection(self._collection, timeout=self._timeout)
                log.info("loaded collection %s", self._collection)

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


def _identity(fingerprint: dict[str, Any]) -> dict[str, Any]:
    """What reads must agree on: the fingerprint without its write-only keys."""
    return {k: v for k, v in fingerprint.items() if k not in WRITE_ONLY_KEYS}
