"""What the translation detector (:mod:`reportrag.ingest.pairs`) reads and reports.

Its knobs, one document as it sees it (language, chunks, vectors), the evidence for a pair
and the pairs found; and the language of a stored document, read from its chunks.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from reportrag.langid import CJK_CODES, script_profile
from reportrag.types import Chunk

UNKNOWN_LANGS = frozenset({"", "und"})
LINK_CONFIDENCE = 0.5  # a chunk counts as aligned with a link at least this confident


@dataclass(frozen=True)
class PairParams:
    """Knobs of the detector (:mod:`reportrag.ingest.pairs` says what each one does)."""

    neighbours: int = 5
    hub_k: int = 3
    chunk_hub_k: int = 5
    hub_sample: int = 4096
    max_length_ratio: float = 4.0
    vote_prior: float = 1.0
    threshold: float = 0.5
    slope: float = 12.0
    cjk_share: float = 0.1


DEFAULT_PAIR_PARAMS = PairParams()


@dataclass
class DocumentSample:
    """What the detector knows of one document: its language, chunks and their vectors."""

    doc_id: str
    lang: str
    chunks: list[Chunk]  # in document order
    vectors: np.ndarray  # (len(chunks), dim), one row per chunk

    def __post_init__(self) -> None:
        if len(self.chunks) != len(self.vectors):
            raise ValueError(f"{self.doc_id}: one vector per chunk is needed")

    @property
    def tokens(self) -> int:
        return sum(max(1, c.token_count) for c in self.chunks)


@dataclass(frozen=True)
class PairEvidence:
    """Why two documents are (or are not) taken for translations of each other."""

    a: str
    b: str
    similarity: float  # document-level CSLS of the mean vectors
    votes: tuple[float, float]  # a's chunks voting for b, b's for a
    chance: tuple[float, float]  # the same shares expected of unrelated chunks
    coverage: tuple[float, float]  # aligned share of a's and of b's chunks
    mean_confidence: float  # of the aligned beads
    score: float
    confidence: float


@dataclass(frozen=True)
class DetectedPair:
    """Two documents taken for translations; ``implied`` if joined through a third one."""

    a: str
    b: str
    confidence: float
    implied: bool = False


@dataclass
class Detection:
    """The pairs found, and the evidence of every candidate that was verified."""

    pairs: list[DetectedPair]
    evidence: list[PairEvidence]  # of the candidates (declared pairs left out)
    fixed_evidence: list[PairEvidence] = field(default_factory=list)  # of the declared pairs
    candidates: int = 0
    seconds: float = 0.0
    stage_seconds: dict[str, float] = field(default_factory=dict)


def document_language(chunks: Sequence[Chunk], cjk_share: float = PairParams.cjk_share) -> str:
    """A document's language from its chunks, robust to code and quoted originals.

    Chunks that carry their document's language (``doc_lang``, found from all its prose at
    ingestion) settle it; the rule below is for chunks stored without one.

    Code, identifiers and command lines read as English, so a Chinese page that is half code
    has a majority of "English" chunks. Chinese prose is what such a page adds: a document
    whose CJK characters are at least ``cjk_share`` of its words (CJK characters plus Latin
    words) is in the CJK language of most of its CJK chunks' tokens. (English pages hold a
    few percent at most, a Chinese table row or name; Chinese pages 25 % and more.)
    Otherwise the language with the most tokens among the other chunks wins.
    """
    recorded = {c.doc_lang for c in chunks if c.doc_lang and c.doc_lang not in UNKNOWN_LANGS}
    if len(recorded) == 1:
        return recorded.pop()
    if not chunks:
        return "und"
    profile = script_profile("\n".join(c.text for c in chunks))
    weight: Counter[str] = Counter()
    for c in chunks:
        weight[c.lang] += max(1, c.token_count)
    words = profile.cjk + profile.latin_words
    cjk = [lang for lang in weight if lang in CJK_CODES]
    if words and profile.cjk / words >= cjk_share:
        return max(cjk, key=lambda lang: weight[lang]) if cjk else "zh"
    rest = [lang for lang in weight if lang not in CJK_CODES and lang not in UNKNOWN_LANGS]
    if not rest:
        return max(weight, key=lambda lang: weight[lang])
    return max(sorted(rest), key=lambda lang: weight[lang])


def ordered_pair(a: str, b: str) -> tuple[str, str]:
    """The pair's key: its two document ids in sorted order."""
    return (a, b) if a <= b else (b, a)
