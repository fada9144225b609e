"""Ingestion: corpus files → cleaned, chunked, embedded → Milvus, idempotently.

Re-running changes nothing: chunk ids are content hashes, vectors of text already stored are
reused (never re-embedded), and rows are only written when something differs. New rows are
written before stale ones are deleted, so a run killed at any point leaves a collection that
the next run converges from (same ids, same count as an uninterrupted run).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from ingest.chunking import chunk_document
from ingest.clean import clean_text, decode_bytes
from ingest.corpus import with_defaults
from reportrag.errors import ConflictError, DocumentError
from reportrag.langid import LanguageDetector
from reportrag.types import Chunk, DocumentMeta

logger = logging.getLogger(__name__)

MAX_DOCUMENT_BYTES = 20 * 1024 * 1024


class _Embedder(Protocol):
    max_tokens: int

    def count_tokens(self, text: str, *, query: bool = False) -> int: ...

    def embed_documents(self, texts: list[str], *, progress: bool = False) -> np.ndarray: ...


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


@dataclass
class IngestSummary:
    """Counts and timing of one ingestion run (``--json`` prints this)."""

    documents: int = 0
    chunks: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    embedded: int = 0
    seconds: float = 0.0
    dry_run: bool = False
    per_document: list[dict[str, object]] = field(default_factory=list)
    alignments: list[dict[str, object]] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _metadata_equal(a: Chunk, b: Chunk) -> bool:
    skip = {"counterparts"}
    return all(getattr(a, k) == getattr(b, k) for k in a.__dict__ if k not in skip)


def prepare_document(
    meta: DocumentMeta,
    *,
    embedder: _Embedder,
    detector: LanguageDetector,
    chunk_tokens: int,
    overlap_tokens: int,
    max_bytes: int = MAX_DOCUMENT_BYTES,
) -> tuple[DocumentMeta, list[Chunk]]:
    """Read, clean and chunk one document (no store access)."""
    path = Path(meta.path)
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise DocumentError(
                f"{path}: {size / 1e6:.1f} MB is larger than the "
                f"{max_bytes / 1e6:.0f} MB limit for one document"
            )
        data = path.read_bytes()
    except OSError as exc:
        raise DocumentError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    text = decode_bytes(data, source=str(path), max_bytes=max_bytes)
    cleaned = clean_text(text, source=str(path))
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


@contextmanager
def ingest_lock(data_dir: Path) -> Iterator[None]:
    """One ingestion at a time per data directory; a second one gets ConflictError."""
    import fcntl

    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "ingest.lock"
    with path.open("w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise ConflictError(f"another ingestion is running (lock {path})") from exc
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _progress(iterable=None, **kw):  # noqa: ANN001, ANN202
    from tqdm import tqdm

    return tqdm(iterable, **kw)


def run_ingest(
    docs: list[DocumentMeta],
    *,
    embedder: _Embedder,
    store,
    detector: LanguageDetector,  # noqa: ANN001
    chunk_tokens: int,
    overlap_tokens: int,
    dry_run: bool = False,
    prune_doc_ids: bool = False,
    progress: bool = True,
    write_batch: int = 64,
    align: bool = True,
    on_document: Callable[[DocumentPlan], None] | None = None,
) -> IngestSummary:
    """Ingest ``docs``; with ``prune_doc_ids`` also delete documents no longer in the corpus."""
    start = time.perf_counter()
    summary = IngestSummary(dry_run=dry_run)
    plans: list[DocumentPlan] = []
    existing = store if store.has_collection() else None  # asked once, not per document
    for meta in _progress(docs, desc="chunking", unit="doc", disable=not progress):
        meta, chunks = prepare_document(
            meta,
            embedder=embedder,
            detector=detector,
            chunk_tokens=chunk_tokens,
            overlap_tokens=overlap_tokens,
        )
        plans.append(plan_document(meta, chunks, existing))
    removed_docs: list[str] = []
    if prune_doc_ids and existing is not None:
        keep = {p.meta.doc_id for p in plans}
        removed_docs = [d for d in store.all_doc_ids() if d not in keep]

    summary.documents = len(plans)
    summary.chunks = sum(len(p.chunks) for p in plans)
    for p in plans:
        summary.added += len(p.to_embed)
        summary.updated += len(p.to_rewrite)
        summary.unchanged += p.unchanged
        summary.deleted += len(p.stale_ids)
        summary.per_document.append(
            {
                "doc_id": p.meta.doc_id,
                "chunks": len(p.chunks),
                "added": len(p.to_embed),
                "updated": len(p.to_rewrite),
                "unchanged": p.unchanged,
                "deleted": len(p.stale_ids),
            }
        )
    for doc_id in removed_docs:
        n = len(store.doc_index(doc_id))
        summary.deleted += n
        summary.per_document.append(
            {
                "doc_id": doc_id,
                "chunks": 0,
                "added": 0,
                "updated": 0,
                "unchanged": 0,
                "deleted": n,
                "removed": True,
            }
        )
    if dry_run:
        summary.seconds = round(time.perf_counter() - start, 3)
        return summary

    to_embed = [c for p in plans for c in p.to_embed]
    bar = _progress(
        total=len(to_embed), desc="embedding", unit="chunk", disable=not progress or not to_embed
    )
    batch = max(1, write_batch)
    for p in plans:
        _write_rewrites(p, store)
        for i in range(0, len(p.to_embed), batch):
            part = p.to_embed[i : i + batch]
            vectors = embedder.embed_documents([c.text for c in part])
            store.upsert(part, vectors)
            summary.embedded += len(part)
            bar.update(len(part))
        if p.stale_ids:
            store.delete(p.stale_ids)
        if on_document is not None:
            on_document(p)
    bar.close()
    for doc_id in removed_docs:
        store.delete(list(store.doc_index(doc_id)))
    if align:
        # Cheap (~0.1 s a pair) and it rewrites only chunks whose counterparts changed, so
        # it runs for every declared pair: a pair whose alignment was never stored heals too.
        from ingest.translations import align_translations

        metas = [p.meta for p in plans]
        summary.alignments = [asdict(r) for r in align_translations(metas, store=store)]
    summary.seconds = round(time.perf_counter() - start, 3)
    logger.info(
        "ingested %d documents: %d added, %d updated, %d deleted in %.1f s",
        summary.documents,
        summary.added,
        summary.updated,
        summary.deleted,
        summary.seconds,
    )
    return summary


def _write_rewrites(plan: DocumentPlan, store) -> None:  # noqa: ANN001
    """Rewrite rows whose text is stored already, reusing the stored vector."""
    if not plan.to_rewrite:
        return
    owner = plan.hash_owner
    source_ids = [owner[c.content_hash] for c in plan.to_rewrite]
    vectors = store.get_vectors(sorted(set(source_ids)))
    rows = [c for c, sid in zip(plan.to_rewrite, source_ids, strict=True) if sid in vectors]
    if len(rows) != len(plan.to_rewrite):
        missing = [
            c for c, sid in zip(plan.to_rewrite, source_ids, strict=True) if sid not in vectors
        ]
        plan.to_embed.extend(missing)  # vector vanished meanwhile: embed after all
    if rows:
        store.upsert(rows, np.stack([vectors[owner[c.content_hash]] for c in rows]))
