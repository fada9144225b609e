"""The store as the rest of the code sees it: what the read path and the write path call.

``ReadStore`` is exactly what searching and reading back need (reportrag/search/*, the
read-only API routes); ``WriteStore`` adds what ingestion needs (reportrag/ingest/*, the
ingestion entry points and the admin routes). :class:`~reportrag.store.milvus.MilvusStore`
has both (checked below, for mypy, and by tests/test_store_protocols.py); tests put an
in-memory ``ReadStore`` in its place (tests/fakes.py). The protocols are structural: nothing
inherits from them, and the read and write paths import them for type checking only. They
are the only store protocols: a step needing a few store methods takes one of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from reportrag.types import Chunk, Counterpart, Filters, Ranked, Translation

if TYPE_CHECKING:
    from reportrag.store.capabilities import StoreCapabilities


class BatchOutcome(Protocol):
    """What a batch of writes did at its end (``MilvusStore.batched_writes``' WriteBatch)."""

    consolidated: int  # rows rewritten into one segment (Milvus Lite)


class ReadStore(Protocol):
    """The store methods searches and read-only routes use."""

    @property
    def capabilities(self) -> StoreCapabilities:
        """What this deployment can do (BM25, its kind, its version)."""
        ...

    def count(self) -> int:
        """Number of chunks stored."""
        ...

    def all_doc_ids(self) -> list[str]:
        """Every doc_id with at least one chunk, sorted."""
        ...

    def metadata_types(self, *, fresh: bool = False) -> dict[str, str]:
        """The declared user metadata keys and their types (``fresh``: not from the cache)."""
        ...

    def rank_dense(
        self, vector: np.ndarray, filters: Filters, top_k: int, *, counterparts: bool = False,
        rows: bool = False,
    ) -> list[Ranked]:
        """Nearest chunks by cosine, filtered inside the search: ids and scores, best first."""
        ...

    def rank_text(
        self, query: str, filters: Filters, top_k: int, *, counterparts: bool = False,
        rows: bool = False,
    ) -> list[Ranked]:
        """BM25 keyword hits, filtered inside the search: ids and scores, best first."""
        ...

    def get(self, chunk_ids: list[str]) -> list[Chunk]:
        """These visible chunks in the order asked; missing ones skipped."""
        ...

    def get_vectors(self, chunk_ids: list[str]) -> dict[str, np.ndarray]:
        """chunk_id -> float32 vector for the chunks that exist."""
        ...

    def get_with_vectors(self, chunk_ids: list[str]) -> tuple[list[Chunk], np.ndarray]:
        """These chunks (in the order asked, missing ones skipped) and their vectors."""
        ...

    def chunks_window(self, doc_id: str, first: int, last: int) -> list[Chunk]:
        """Chunks of ``doc_id`` with ``first <= ordinal <= last``, ordered by ordinal."""
        ...

    def documents(self) -> list[dict[str, Any]]:
        """A summary of every document (id, title, languages, sections, translations…)."""
        ...

    def matching_rows(
        self, filters: Filters, fields: list[str], max_rows: int
    ) -> tuple[list[dict[str, Any]], bool]:
        """Up to ``max_rows`` visible rows matching ``filters``, and whether more matched."""
        ...


class WriteStore(ReadStore, Protocol):
    """What ingestion adds: the collection's lifecycle, row writes and the reads that
    plan them."""

    def has_collection(self) -> bool:
        """Whether the collection exists."""
        ...

    def ensure_collection(self, fingerprint: dict[str, object]) -> bool:
        """Create the collection for this model, or refuse one of another; created?"""
        ...

    def require_writable(self) -> None:
        """OutdatedCollectionError when the collection's schema is older than the code's, or
        its passages are at another precision than the fingerprint ensured last."""
        ...

    def drop(self) -> None:
        """Drop the collection and everything in it."""
        ...

    def generation(self) -> str | None:
        """A random id of the collection's lifetime (None when none can be recorded)."""
        ...

    def set_metadata_types(self, types: dict[str, str]) -> None:
        """Record the user metadata keys and their types."""
        ...

    def doc_index(self, doc_id: str) -> dict[str, str]:
        """chunk_id -> content_hash of every chunk of ``doc_id``, hidden ones included."""
        ...

    def chunks_of(self, doc_id: str) -> list[Chunk]:
        """Every visible chunk of ``doc_id`` ordered by ordinal."""
        ...

    def scan_with_vectors(self, page_size: int = 1000) -> Iterator[tuple[list[Chunk], np.ndarray]]:
        """Every visible chunk with its vector, page by page."""
        ...

    def upsert(self, chunks: list[Chunk], vectors: np.ndarray, *, visible: bool = True) -> None:
        """Insert or replace these chunks with their vectors (hidden unless ``visible``)."""
        ...

    def publish(self, chunk_ids: list[str]) -> int:
        """Make hidden chunks visible; how many."""
        ...

    def delete(self, chunk_ids: list[str]) -> int:
        """Delete these chunks; how many."""
        ...

    def set_counterparts(self, updates: dict[str, list[Counterpart]]) -> None:
        """Replace the aligned passages of these chunks."""
        ...

    def document_translations(self) -> dict[str, list[Translation]]:
        """doc_id -> the translations recorded for it."""
        ...

    def set_document_translations(self, records: dict[str, list[Translation]]) -> int:
        """Record documents' translations; the rows written."""
        ...

    def batched_writes(self) -> AbstractContextManager[BatchOutcome]:
        """A block whose writes are flushed (and, on Lite, consolidated) once, at its end."""
        ...


if TYPE_CHECKING:
    from reportrag.store import MilvusStore

    def _milvus_store_conforms(store: MilvusStore) -> tuple[ReadStore, WriteStore]:
        """mypy: MilvusStore is both a ReadStore and a WriteStore."""
        return store, store
