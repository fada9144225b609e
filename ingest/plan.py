"""Plan one document: read, clean and chunk it, then compare with what the store holds.

No writes happen here; :mod:`ingest.pipeline` carries the plans out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from ingest.chunking import chunk_document
from ingest.clean import clean_text, decode_bytes
from ingest.corpus import with_defaults
from reportrag.errors import DocumentError
from reportrag.langid import LanguageDetector
from reportrag.types import Chunk, DocumentMeta

MAX_DOCUMENT_BYTES = 20 * 1024 * 1024


class Embedder(Protocol):
    """What ingestion needs of the embedder (TextEmbedder has it)."""

    max_tokens: int

    def count_tokens(self, text: str, *, query: bool = False) -> int: ...

    def embed_documents(self, texts: list[str], *, progress: bool = False) -> np.ndarray: ...

    def fingerprint(self) -> dict[str, object]: ...


@dataclass
class DocumentPlan:
    """What ingesting one document will change."""

    meta: DocumentMeta
    chunks: list[Chunk]
    to_embed: list[Chunk] = field(default_factory=list)
    to_rewrite: list[Chunk] = field(default_factory=list)  # same text, new id or metadata
    unchanged: int = 0
    stale_ids: list[str] = field(default_factory=list)
    hash_owner: dict[str, str] = field(default_factory=dict)  # stored hash -> a chunk id holding it


def _metadata_equal(a: Chunk, b: Chunk) -> bool:
    skip = {"counterparts"}
    return all(getattr(a, k) == getattr(b, k) for k in a.__dict__ if k not in skip)


def read_document(meta: DocumentMeta, *, max_bytes: int = MAX_DOCUMENT_BYTES) -> bytes:
    """The raw bytes of a corpus file; DocumentError when missing, unreadable or too large."""
    path = Path(meta.path)
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise DocumentError(
                f"{path}: {size / 1e6:.1f} MB is larger than the "
                f"{max_bytes / 1e6:.0f} MB limit for one document"
            )
        return path.read_bytes()
    except OSError as exc:
        raise DocumentError(f"{path}: cannot read ({exc.strerror or exc})") from exc


def prepare_document(
    meta: DocumentMeta,
    *,
    embedder: Embedder,
    detector: LanguageDetector,
    chunk_tokens: int,
    overlap_tokens: int,
    max_bytes: int = MAX_DOCUMENT_BYTES,
    data: bytes | None = None,
) -> tuple[DocumentMeta, list[Chunk]]:
    """Read (unless ``data`` is given), clean and chunk one document (no store access)."""
    if data is None:
        data = read_document(meta, max_bytes=max_bytes)
    path = meta.path
    text = decode_bytes(data, source=path, max_bytes=max_bytes)
    cleaned = clean_text(text, source=path)
    if not cleaned.text.strip():
        raise DocumentError(f"{path}: no text left after cleaning")
    meta = with_defaults(meta, cleaned.text, detector.detect(cleaned.text[:5000], default="und"))
    limit = min(chunk_tokens, embedder.max_tokens)
    chunks = chunk_document(
        meta,
        cleaned,
        count_tokens=embedder.count_tokens,
        max_tokens=limit,
        overlap_tokens=min(overlap_tokens, limit // 4),
        detector=detector,
    )
    return meta, chunks


def plan_document(meta: DocumentMeta, chunks: list[Chunk], store) -> DocumentPlan:  # noqa: ANN001
    """Compare fresh chunks with what the store holds for this document."""
    plan = DocumentPlan(meta=meta, chunks=chunks)
    stored = {c.chunk_id: c for c in store.chunks_of(meta.doc_id)} if store is not None else {}
    stored_hashes = {c.content_hash for c in stored.values()}
    for chunk in chunks:
        old = stored.get(chunk.chunk_id)
        if old is not None:
            chunk.counterparts = old.counterparts
            if _metadata_equal(old, chunk):
                plan.unchanged += 1
            else:
                plan.to_rewrite.append(chunk)
        elif chunk.content_hash in stored_hashes:
            plan.to_rewrite.append(chunk)  # same text elsewhere in the doc: reuse its vector
        else:
            plan.to_embed.append(chunk)
    fresh = {c.chunk_id for c in chunks}
    plan.stale_ids = sorted(set(stored) - fresh)
    plan.hash_owner = {c.content_hash: cid for cid, c in stored.items()}
    return plan
