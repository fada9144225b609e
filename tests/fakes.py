"""In-memory stand-ins at the seams: a ReadStore and an Embedder, no Milvus, no model.

``WordEmbedder`` gives every word (lower-cased, split on non-letters) an axis of its own, in
the order it first sees them: a text's vector is its word counts, L2-normalised, so the
cosine of two texts is their word overlap and rankings can be worked out by hand.
``MemoryStore`` ranks like the real store: dense by the cosine of the stored vectors,
keyword by a term-overlap score (occurrences of the query's words in the indexed text, only
texts with one at least), both filtered inside the search, best first, ties in insertion
order. It records what it was asked (``calls``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from reportrag.metadata import evaluate
from reportrag.store.capabilities import StoreCapabilities
from reportrag.types import Chunk, Counterpart, Filters, Ranked, content_hash

_WORD = re.compile(r"[^\W\d_]+")


def words(text: str) -> list[str]:
    """The lower-cased words of ``text``."""
    return [w.lower() for w in _WORD.findall(text)]


class WordEmbedder:
    """A deterministic bag-of-words embedder (the Embedder protocol)."""

    def __init__(self, dim: int = 64, max_tokens: int = 512) -> None:
        self._dim = dim
        self._max_tokens = max_tokens
        self.axes: dict[str, int] = {}
        self.queries: list[str] = []

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def max_tokens(self) -> int:
        return self._max_tokens

    def _vector(self, text: str) -> np.ndarray:
        v = np.zeros(self._dim, dtype=np.float32)
        for w in words(text):
            axis = self.axes.setdefault(w, len(self.axes))
            if axis >= self._dim:
                raise ValueError(f"more than {self._dim} distinct words")
            v[axis] += 1.0
        norm = float(np.linalg.norm(v))
        return v / norm if norm else v

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([self._vector(t) for t in texts]) if texts else np.zeros(
            (0, self._dim), dtype=np.float32)

    def embed_query(self, text: str | Sequence[str]) -> np.ndarray:
        if isinstance(text, str):
            self.queries.append(text)
            return self._vector(text)
        return self.embed_documents(text)

    def count_tokens(self, text: str, *, query: bool = False) -> int:
        return len(words(text)) + 2  # as if with a start and an end mark

    def fingerprint(self) -> dict[str, object]:
        return {"model": "word-embedder", "dim": self._dim}


def chunk(chunk_id: str, text: str, *, doc_id: str = "doc", lang: str = "en",
          kind: str = "report", ordinal: int = 0, section: str = "",
          counterparts: list[Counterpart] | None = None) -> Chunk:
    """A chunk with everything but its text and placement defaulted."""
    return Chunk(
        chunk_id=chunk_id, doc_id=doc_id, title=doc_id, lang=lang, kind=kind,
        date="2024-01-01", section=section, ordinal=ordinal, text=text,
        token_count=len(words(text)), char_start=0, char_end=len(text),
        content_hash=content_hash(text), counterparts=list(counterparts or []), doc_lang=lang,
    )


def applies(filters: Filters, c: Chunk) -> bool:
    """Whether the real store's filter expression would select this chunk."""
    checks = (
        (filters.lang, c.lang), (filters.doc_id, c.doc_id), (filters.kind, c.kind),
        (filters.chunk_id, c.chunk_id),
    )
    if any(values and value not in values for values, value in checks):
        return False
    if filters.section and not c.section.startswith(filters.section):
        return False
    if filters.date_from and not (c.date and c.date >= filters.date_from):
        return False
    if filters.date_to and not (c.date and c.date <= filters.date_to):
        return False
    return filters.metadata is None or evaluate(filters.metadata, c.metadata)


class MemoryStore:
    """An in-memory ReadStore."""

    def __init__(self, chunks: Sequence[Chunk], vectors: np.ndarray, *, bm25: bool = True,
                 kind: str = "lite") -> None:
        if len(chunks) != len(vectors):
            raise ValueError("one vector per chunk")
        self.rows: dict[str, tuple[Chunk, np.ndarray]] = {
            c.chunk_id: (c, np.asarray(v, dtype=np.float32))
            for c, v in zip(chunks, vectors, strict=True)
        }
        self._capabilities = StoreCapabilities(kind=kind, server_version="memory", bm25=bm25,
                                               filter_templating=True)
        self.calls: list[tuple[str, Any]] = []

    @classmethod
    def of(cls, chunks: Sequence[Chunk], embedder: WordEmbedder, **kw: Any) -> MemoryStore:
        """A store of ``chunks`` embedded by ``embedder``."""
        return cls(chunks, embedder.embed_documents([c.text for c in chunks]), **kw)

    @property
    def capabilities(self) -> StoreCapabilities:
        return self._capabilities

    def count(self) -> int:
        return len(self.rows)

    def all_doc_ids(self) -> list[str]:
        return sorted({c.doc_id for c, _ in self.rows.values()})

    def metadata_types(self, *, fresh: bool = False) -> dict[str, str]:
        return {}

    def _ranked(self, scored: list[tuple[float, Chunk]], top_k: int, counterparts: bool,
                rows: bool) -> list[Ranked]:
        order = sorted(range(len(scored)), key=lambda i: (-scored[i][0], i))[:top_k]
        out = []
        for i in order:
            score, c = scored[i]
            out.append(Ranked(c.chunk_id, score,
                              list(c.counterparts) if counterparts or rows else None,
                              c if rows else None))
        return out

    def rank_dense(self, vector: np.ndarray, filters: Filters, top_k: int, *,
                   counterparts: bool = False, rows: bool = False) -> list[Ranked]:
        self.calls.append(("rank_dense", (filters, top_k)))
        q = np.asarray(vector, dtype=np.float32)
        scored = [(float(v @ q), c) for c, v in self.rows.values() if applies(filters, c)]
        return self._ranked(scored, top_k, counterparts, rows)

    def rank_text(self, query: str, filters: Filters, top_k: int, *,
                  counterparts: bool = False, rows: bool = False) -> list[Ranked]:
        self.calls.append(("rank_text", (filters, top_k)))
        terms = set(words(query))
        scored = []
        for c, _ in self.rows.values():
            if applies(filters, c):
                score = sum(1 for w in words(c.indexed_text) if w in terms)
                if score:
                    scored.append((float(score), c))
        return self._ranked(scored, top_k, counterparts, rows)

    def get(self, chunk_ids: list[str]) -> list[Chunk]:
        self.calls.append(("get", list(chunk_ids)))
        return [self.rows[i][0] for i in chunk_ids if i in self.rows]

    def get_vectors(self, chunk_ids: list[str]) -> dict[str, np.ndarray]:
        self.calls.append(("get_vectors", list(chunk_ids)))
        return {i: self.rows[i][1] for i in chunk_ids if i in self.rows}

    def get_with_vectors(self, chunk_ids: list[str]) -> tuple[list[Chunk], np.ndarray]:
        self.calls.append(("get_with_vectors", list(chunk_ids)))
        found = [self.rows[i] for i in chunk_ids if i in self.rows]
        if not found:
            return [], np.zeros((0, 1), dtype=np.float32)
        return [c for c, _ in found], np.stack([v for _, v in found])

    def chunks_window(self, doc_id: str, first: int, last: int) -> list[Chunk]:
        return sorted((c for c, _ in self.rows.values()
                       if c.doc_id == doc_id and first <= c.ordinal <= last),
                      key=lambda c: c.ordinal)

    def documents(self) -> list[dict[str, Any]]:
        return [{"doc_id": d, "chunks": sum(c.doc_id == d for c, _ in self.rows.values())}
                for d in self.all_doc_ids()]

    def matching_rows(self, filters: Filters, fields: list[str],
                      max_rows: int) -> tuple[list[dict[str, Any]], bool]:
        rows = [{f: getattr(c, f) for f in fields}
                for c, _ in self.rows.values() if applies(filters, c)]
        return rows[:max_rows], len(rows) > max_rows
