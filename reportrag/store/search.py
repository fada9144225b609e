"""Search: nearest chunks by vector (cosine) and by keywords (BM25), filtered inside Milvus.

Both return :class:`~reportrag.types.Ranked` hits, the store's one hit type: ids and raw
scores, the counterparts when asked, whole chunks only with ``rows=True``.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from reportrag.errors import CapabilityError
from reportrag.store import schema as sc
from reportrag.store.capabilities import IVF_KINDS
from reportrag.store.core import FAST_READ, StoreCore, params_kw
from reportrag.store.filters import compile_filters
from reportrag.types import Filters, Ranked

log = logging.getLogger(__name__)

MAX_TOP_K = 16384

Hits = list[tuple[dict[str, Any], float]]  # (row of the fields asked for, raw score), best first


class Search(StoreCore):
    """The two searches (a mixin of MilvusStore).

    Relies on StoreCore for the client (``_c``, ``_op``, ``_timeout``, ``_collection``), the
    dialect and its capabilities (BM25, filter templates, LIKE prefixes), the collection's
    vector index (``_vector_index``, else the one ``_index`` makes), ``_dim``, ``_fields``
    and ``_visibility`` (hidden chunks are never found).
    """

    def rank_dense(
        self, vector: np.ndarray, filters: Filters, top_k: int, *, counterparts: bool = False,
        rows: bool = False,
    ) -> list[Ranked]:
        """Nearest chunks by cosine similarity (score in [-1, 1]), filtered inside the search:
        ids and scores, the counterparts if asked, whole chunks only with ``rows``.

        Milvus Lite turns every hit into a full Python row before it projects the output
        fields, so on Lite a search that returns only ids is cheaper and the few chunks kept
        are read afterwards; on a server the extra read costs more than the fields
        (docs/benchmarks.md#where-a-requests-time-goes).
        """
        return _ranked(
            self._search_dense(vector, filters, top_k, self._rank_fields(counterparts, rows))
        )

    def rank_text(
        self, query: str, filters: Filters, top_k: int, *, counterparts: bool = False,
        rows: bool = False,
    ) -> list[Ranked]:
        """BM25 keyword search over chunk text (score >= 0), filtered inside the search; the
        hits as :meth:`rank_dense` gives them. A blank query finds nothing; a collection
        without BM25 raises CapabilityError."""
        return _ranked(
            self._search_text(query, filters, top_k, self._rank_fields(counterparts, rows))
        )

    def _rank_fields(self, counterparts: bool, rows: bool) -> list[str]:
        if rows:
            return self._fields
        return ["chunk_id", "counterparts"] if counterparts else ["chunk_id"]

    def _search_dense(
        self, vector: np.ndarray, filters: Filters, top_k: int, fields: list[str]
    ) -> Hits:
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

    def _search_text(self, query: str, filters: Filters, top_k: int, fields: list[str]) -> Hits:
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
    ) -> Hits:
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
                **params_kw(params),
                **FAST_READ,
            )
        # Milvus Lite reports BM25 as a negated score (smaller = better), the server as the
        # score itself; BM25 is never negative, so abs() is right for both.
        fix = abs if field == sc.SPARSE else float
        hits = [(dict(h["entity"]), fix(float(h["distance"])))
                for h in (result[0] if result else [])]
        log.debug("search %s: %d hits in %.3fs", field, len(hits), time.monotonic() - started)
        return hits


def _ranked(hits: Hits) -> list[Ranked]:
    out = []
    for row, score in hits:
        if "text" in row:  # a whole chunk row
            chunk = sc.row_to_chunk(row)
            out.append(Ranked(chunk.chunk_id, score, chunk.counterparts, chunk))
        else:
            cps = sc.row_counterparts(row) if "counterparts" in row else None
            out.append(Ranked(str(row["chunk_id"]), score, cps))
    return out


def _top_k(top_k: int) -> int:
    if not isinstance(top_k, int) or not 1 <= top_k <= MAX_TOP_K:
        raise ValueError(f"top_k must be an integer in 1..{MAX_TOP_K}, not {top_k!r}")
    return top_k
