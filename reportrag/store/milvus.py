"""MilvusStore: chunks, vectors and BM25 text in one Milvus collection.

The only place that knows Milvus field names and filter syntax. Works against Milvus Lite 3.x
(a ``*.db`` path) and a Milvus server (``http://host:19530``), 2.3.5 and newer.

The class is put together from one module per concern, each a mixin on
:class:`~reportrag.store.core.StoreCore` (the connection, its state and the row-reading
primitives):

- reportrag/store/collection.py: create, check, load and drop the collection; its
  fingerprint, generation and metadata types;
- reportrag/store/reads.py: chunks by id or document, document summaries, facet rows, the
  paged bulk reads;
- reportrag/store/writes.py: upsert, delete, publish, counterparts, translation records;
- reportrag/store/segments.py: Lite's batched flush, consolidation into one segment, index
  repair;
- reportrag/store/search.py: ``rank_dense`` and ``rank_text``.
"""

from __future__ import annotations

from reportrag.store.collection import CollectionLifecycle
from reportrag.store.search import Search
from reportrag.store.writes import Writes

__all__ = ["MilvusStore"]


class MilvusStore(CollectionLifecycle, Writes, Search):
    """One collection of chunks; construct, :meth:`connect`, :meth:`ensure_collection`."""
