"""Reads: chunks by id or document, per-document summaries, facet rows, and the paged bulk
reads that copy or compare a collection (reportrag/store/migrate.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from reportrag.store import schema as sc
from reportrag.store.core import SCAN_PAGE, StoreCore
from reportrag.store.documents import DOCUMENT_FIELDS, summarize
from reportrag.store.filters import VISIBLE_ONLY, compile_filters, eq_filter
from reportrag.types import Chunk, Filters, Translation

MAX_PAGE = 16384  # the server caps offset + limit at 16384


class Reads(StoreCore):
    """Everything that reads rows without searching (a mixin of MilvusStore).

    Relies on StoreCore for the row primitives (``_query``, ``_rows_by_ids``, ``_scan``,
    ``_scan_pages``), the filter dialect (``_templating``, ``_require_dialect``), and the
    collection's shape (``_dim``, ``_schema``, ``_fields``, ``_visibility``,
    ``_visible_base``). Reads never see chunks stored with ``visible=False`` unless a method
    says so.
    """

    def count(self) -> int:
        """Number of chunks stored."""
        with self._op("count"):
            rows = self._c().query(
                self._collection, filter="", output_fields=["count(*)"], timeout=self._timeout
            )
        return int(rows[0]["count(*)"]) if rows else 0

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

    # -- documents and their translations -------------------------------------------------

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


def _page_size(page_size: int) -> int:
    if isinstance(page_size, bool) or not isinstance(page_size, int):
        raise ValueError(f"page_size must be an integer, not {page_size!r}")
    if not 1 <= page_size <= MAX_PAGE:
        raise ValueError(f"page_size must be in 1..{MAX_PAGE}, not {page_size}")
    return page_size
