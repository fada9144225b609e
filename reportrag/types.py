"""Plain data types shared by the write path (ingest) and the read path (search)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from reportrag.metadata import MetaFilter

SECTION_SEP = " › "  # joins the headings of a section path: "2.3 … › 2.3.5 …"


def content_hash(text: str) -> str:
    """A stable hex digest of a chunk's text (sha256, first 32 hex chars)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def contextual(context: str, text: str) -> str:
    """A passage with its context line first (the text alone when there is none)."""
    return f"{context}\n\n{text}" if context else text


def make_chunk_id(doc_id: str, ordinal: int, text_hash: str) -> str:
    """Deterministic chunk id from document, position and content.

    The same text at the same place in the same document always gets the same id, so
    re-ingesting is idempotent and a changed paragraph gets a new id.
    """
    digest = hashlib.sha256(f"{doc_id}\x1f{ordinal}\x1f{text_hash}".encode()).hexdigest()[:16]
    return f"{doc_id}:{ordinal:05d}:{digest}"


@dataclass(frozen=True)
class DocumentMeta:
    """What the manifest (or its defaults) says about one corpus file."""

    doc_id: str
    path: str
    title: str
    lang: str
    kind: str = "article"
    date: str = ""
    translation_of: str = ""
    source: str = ""
    # Free key/values from an upload or the manifest, stored with every chunk.
    metadata: dict[str, Any] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class Counterpart:
    """A passage in another language aligned with a chunk."""

    chunk_id: str
    lang: str
    confidence: float


@dataclass
class Chunk:
    """One retrievable passage with everything a citation needs."""

    chunk_id: str
    doc_id: str
    title: str
    lang: str
    kind: str
    date: str
    section: str
    ordinal: int
    text: str
    token_count: int
    char_start: int
    char_end: int
    content_hash: str
    prev_id: str = ""
    next_id: str = ""
    counterparts: list[Counterpart] = field(default_factory=list)
    doc_lang: str = ""  # the document's language (``lang`` is this chunk's own)
    context: str = ""  # "title › section" the chunk is keyword-indexed with (BM25)
    page: int = 0  # the page (1-based) the chunk starts on; 0: the document has no pages
    # The document's user metadata (free keys: string, number, bool, list of strings).
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def indexed_text(self) -> str:
        """What BM25 reads: the chunk's context line, then its own text."""
        return contextual(self.context, self.text)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (counterparts as plain dicts)."""
        d = dict(self.__dict__)
        d["counterparts"] = [c.__dict__ for c in self.counterparts]
        d["page"] = self.page or None
        return d


@dataclass(frozen=True)
class Filters:
    """A portable filter model; only the store turns it into Milvus syntax."""

    lang: tuple[str, ...] = ()
    doc_id: tuple[str, ...] = ()
    section: str = ""
    kind: tuple[str, ...] = ()
    date_from: str = ""
    date_to: str = ""
    chunk_id: tuple[str, ...] = ()
    # A filter over the documents' user metadata (reportrag/metadata.py), or None.
    metadata: MetaFilter | None = None

    def is_empty(self) -> bool:
        return not (
            self.metadata is not None
            or self.lang
            or self.doc_id
            or self.section
            or self.kind
            or self.date_from
            or self.date_to
            or self.chunk_id
        )


@dataclass
class Ranked:
    """A search hit, the one the store returns: the id and raw score, plus either the whole
    chunk (when the search was asked for rows) or, when asked, just the chunk's
    counterparts."""

    chunk_id: str
    score: float
    counterparts: list[Counterpart] | None = None
    chunk: Chunk | None = None


TRANSLATION_SOURCES = ("declared", "detected")


@dataclass(frozen=True)
class Translation:
    """Another document that translates this one, and how that is known.

    ``source`` is ``declared`` (the manifest's ``translation_of``) or ``detected`` (found from
    the content, :mod:`ingest.pairs`); ``confidence`` is the document-level score in [0, 1].
    """

    doc_id: str
    confidence: float
    source: str
