"""Plan one document: read, clean and chunk it, then compare with what the store holds.

No writes happen here; :mod:`reportrag.ingest.pipeline` carries the plans out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from reportrag.errors import DocumentError
from reportrag.ingest.chunking import chunk_document
from reportrag.ingest.corpus import with_defaults
from reportrag.ingest.formats import parse_bytes
from reportrag.ingest.outline import ProseIndex
from reportrag.langid import LanguageDetector, document_language
from reportrag.types import Chunk, DocumentMeta

if TYPE_CHECKING:
    from reportrag.embedding.base import Embedder
    from reportrag.store.protocols import WriteStore

MAX_DOCUMENT_BYTES = 20 * 1024 * 1024
MAX_DOCUMENT_CHUNKS = 5000
_TOKEN_SLICE = 100_000  # characters tokenized at a time when estimating a document's chunks
# Longer documents have their chunks estimated from a token count before they are chunked.
_ESTIMATE_FROM_CHARS = 200_000


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
    shown_ids: set[str] = field(default_factory=set)  # rewritten ids that are visible already

    def hidden_ids(self) -> list[str]:
        """The ids this plan writes out of sight, to be published once all are stored."""
        return [
            c.chunk_id for c in (*self.to_embed, *self.to_rewrite)
            if c.chunk_id not in self.shown_ids
        ]


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
                f"{path.name}: {size:,} bytes is more than the limit for one document, "
                f"{max_bytes:,} bytes ({max_bytes / 2**20:g} MiB)",
                details={"file": path.name, "bytes": size, "limit_bytes": max_bytes},
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
    max_chunks: int = MAX_DOCUMENT_CHUNKS,
    data: bytes | None = None,
    ocr: bool = False,
) -> tuple[DocumentMeta, list[Chunk]]:
    """Read (unless ``data`` is given), clean and chunk one document (no store access).

    A document that needs more than ``max_chunks`` chunks is refused before it is chunked
    (from a count of its tokens) or, at the latest, before anything of it is written.
    """
    if data is None:
        data = read_document(meta, max_bytes=max_bytes)
    path = meta.path
    name = Path(path).name
    parsed = parse_bytes(data, suffix=Path(path).suffix, source=name, max_bytes=max_bytes,
                         ocr=ocr)
    if not parsed.text.strip():
        raise DocumentError(f"{name}: no text left after cleaning", details={"file": name})
    prose = ProseIndex(parsed).prose(0, len(parsed.text))
    language = document_language([prose], declared=meta.lang, detector=detector)
    meta = with_defaults(meta, parsed, language.lang)
    limit = min(chunk_tokens, embedder.max_tokens)
    if len(parsed.text) > _ESTIMATE_FROM_CHARS:  # a short document is cheap to chunk anyway
        _check_chunk_budget(meta, _fewest_chunks(parsed.text, embedder, limit), max_chunks)
    chunks = chunk_document(
        meta,
        parsed,
        count_tokens=embedder.count_tokens,
        max_tokens=limit,
        overlap_tokens=min(overlap_tokens, limit // 4),
        detector=detector,
    )
    _check_chunk_budget(meta, len(chunks), max_chunks)
    return meta, chunks


def _fewest_chunks(text: str, embedder: Embedder, limit: int) -> int:
    """A lower bound on the chunks of ``text``: every chunk holds at most ``limit`` tokens."""
    overhead = embedder.count_tokens("")  # the prompt and the start and end marks
    tokens = 0
    for i in range(0, len(text), _TOKEN_SLICE):
        # A word cut at a slice's edge may count one token more than it has: hence the -1.
        tokens += max(0, embedder.count_tokens(text[i : i + _TOKEN_SLICE]) - overhead - 1)
    return -(-tokens // max(1, limit - overhead))


def _check_chunk_budget(meta: DocumentMeta, chunks: int, max_chunks: int) -> None:
    if chunks > max_chunks:
        name = Path(meta.path).name
        raise DocumentError(
            f"{name}: {chunks:,} chunks or more, over the limit of {max_chunks:,} for one "
            "document (REPORTRAG_MAX_DOCUMENT_CHUNKS): split it, or raise the limit",
            details={"file": name, "chunks": chunks, "limit_chunks": max_chunks},
        )


def plan_document(meta: DocumentMeta, chunks: list[Chunk],
                  store: WriteStore | None) -> DocumentPlan:
    """Compare fresh chunks with what the store holds for this document (None: nothing).

    Rows left hidden by an interrupted run count as stored text (their vectors are reused)
    but not as shown: they are written again and published with the rest.
    """
    plan = DocumentPlan(meta=meta, chunks=chunks)
    shown: dict[str, Chunk] = {}
    index: dict[str, str] = {}  # every stored row of the document, hidden ones too
    if store is not None:
        shown = {c.chunk_id: c for c in store.chunks_of(meta.doc_id)}
        index = store.doc_index(meta.doc_id)
    stored_hashes = set(index.values())
    for chunk in chunks:
        old = shown.get(chunk.chunk_id)
        if old is not None:
            chunk.counterparts = old.counterparts
            if _metadata_equal(old, chunk):
                plan.unchanged += 1
            else:
                plan.to_rewrite.append(chunk)  # same passage, new metadata: stays in sight
                plan.shown_ids.add(chunk.chunk_id)
        elif chunk.content_hash in stored_hashes:
            plan.to_rewrite.append(chunk)  # same text elsewhere in the doc: reuse its vector
        else:
            plan.to_embed.append(chunk)
    fresh = {c.chunk_id for c in chunks}
    plan.stale_ids = sorted(set(index) - fresh)
    plan.hash_owner = {h: cid for cid, h in index.items()}
    return plan
