"""Reading single things back: a chunk with its neighbours, a document by id.

Shared by the HTTP routes (``/v1/chunks/{id}``, ``/v1/documents/{id}``) and the MCP tools.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from reportrag.errors import NotFoundError
from reportrag.ids import ID_PATTERN
from reportrag.types import Chunk

if TYPE_CHECKING:
    from reportrag.store.protocols import ReadStore

_ID = re.compile(ID_PATTERN)


def chunk(store: ReadStore, chunk_id: str) -> Chunk:
    """The chunk ``chunk_id``, or NotFoundError."""
    found = store.get([chunk_id]) if _ID.fullmatch(chunk_id) else []
    if not found:
        raise NotFoundError(f"no chunk {chunk_id!r}")
    return found[0]


def chunk_with_neighbors(store: ReadStore, chunk_id: str, neighbors: int = 0) -> dict[str, Any]:
    """``{"chunk", "before", "after"}``: the chunk and up to ``neighbors`` chunks of its
    document on each side, in reading order."""
    c = chunk(store, chunk_id)
    before: list[dict[str, Any]] = []
    after: list[dict[str, Any]] = []
    if neighbors:
        window = store.chunks_window(c.doc_id, c.ordinal - neighbors, c.ordinal + neighbors)
        ordered = sorted(window, key=lambda x: x.ordinal)
        before = [x.to_dict() for x in ordered if x.ordinal < c.ordinal]
        after = [x.to_dict() for x in ordered if x.ordinal > c.ordinal]
    return {"chunk": c.to_dict(), "before": before, "after": after}


def document(store: ReadStore, doc_id: str) -> dict[str, Any]:
    """One document's summary (as in ``store.documents()``), or NotFoundError."""
    for d in store.documents():
        if d["doc_id"] == doc_id:
            return d
    raise NotFoundError(f"no document {doc_id!r}")
