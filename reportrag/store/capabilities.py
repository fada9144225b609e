"""What a Milvus deployment can do, and the per-deployment choices that follow from it.

Detected once per connection from the server's version string (``get_server_version()``):
Milvus Lite 3.x answers ``milvus_lite-3.2.2``, a Milvus server ``v2.3.5`` / ``v2.5.4`` / ...
"""

from __future__ import annotations

import importlib.util
import logging
import re
from dataclasses import asdict, dataclass
from typing import Any

from reportrag.errors import ConfigError
from reportrag.rules import (
    INDEX_DEFAULTS,
    INDEX_KIND_DEFAULT,
    INDEX_LIMITS,
    VECTOR_INDEX_KINDS,
)

log = logging.getLogger(__name__)

IVF_KINDS = ("IVF_FLAT", "IVF_SQ8")

# Punctuation jieba emits as tokens of their own; dropping them keeps BM25 length
# normalisation about words, not commas.
_PUNCT_STOP_WORDS = sorted(
    set(".,;:!?'\"()[]{}<>-_/\\|*&^%$#@~`+=，。、；：！？（）【】《》「」『』“”‘’—…·")
)


@dataclass(frozen=True)
class IndexConfig:
    """Vector index choice and its parameters; ``auto`` picks what the deployment does best.

    FLAT is exact (brute force); HNSW is a graph (``hnsw_m`` links per node,
    ``hnsw_ef_construction`` build beam, ``search_ef`` search beam, raised to top_k when
    smaller); IVF_FLAT / IVF_SQ8 cluster the vectors into ``ivf_nlist`` lists and search
    ``ivf_nprobe`` of them, IVF_SQ8 storing each dimension in one byte (about 1/4 the memory).
    """

    kind: str = INDEX_KIND_DEFAULT  # one of VECTOR_INDEX_KINDS
    hnsw_m: int = INDEX_DEFAULTS["hnsw_m"]
    hnsw_ef_construction: int = INDEX_DEFAULTS["hnsw_ef_construction"]
    search_ef: int = INDEX_DEFAULTS["search_ef"]
    ivf_nlist: int = INDEX_DEFAULTS["ivf_nlist"]
    ivf_nprobe: int = INDEX_DEFAULTS["ivf_nprobe"]

    def __post_init__(self) -> None:
        if self.kind not in VECTOR_INDEX_KINDS:
            raise ConfigError(
                f"index kind must be one of {', '.join(VECTOR_INDEX_KINDS)}, not {self.kind!r}",
                details={"kind": self.kind},
            )
        for name, (low, high) in INDEX_LIMITS.items():  # the ranges Milvus itself accepts
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ConfigError(
                    f"index {name} must be an integer in {low}..{high}, not {value!r}",
                    details={name: value},
                )
        if self.ivf_nprobe > self.ivf_nlist:
            raise ConfigError(
                f"index ivf_nprobe ({self.ivf_nprobe}) cannot exceed ivf_nlist ({self.ivf_nlist})",
                details={"ivf_nprobe": self.ivf_nprobe, "ivf_nlist": self.ivf_nlist},
            )


@dataclass(frozen=True)
class StoreCapabilities:
    """Features of the connected deployment that callers may branch on."""

    kind: str  # "lite" or "server"
    server_version: str
    bm25: bool  # BM25 full-text search available
    filter_templating: bool  # filter + filter_params expression templates
    analyzer: str = ""  # BM25 text analyzer of new collections: "jieba", "standard" or ""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True)
class Dialect:
    """Everything the store does differently per deployment (never exported)."""

    capabilities: StoreCapabilities
    scalar_index: str  # index type for VARCHAR filter fields
    int_index: str  # index type for INT64 filter fields
    default_vector_index: str
    analyzer_params: dict[str, Any] | None  # for the BM25 text field; None without BM25
    flush_after_write: bool  # Lite searches unflushed rows by brute force in Python
    # Lite scores BM25 per segment: batches of writes end with one segment of live rows.
    consolidate: bool = False
    # String ranges scan every row on 2.3 (Trie index); LIKE "p%" is an index lookup there.
    like_prefixes: bool = False

    def for_collection(self, bm25: bool, analyzer: str) -> Dialect:
        """This dialect narrowed to an existing collection's BM25 field and analyzer."""
        caps = self.capabilities
        enabled = bm25 and caps.bm25
        new_caps = StoreCapabilities(
            kind=caps.kind,
            server_version=caps.server_version,
            bm25=enabled,
            filter_templating=caps.filter_templating,
            analyzer=analyzer if enabled else "",
        )
        return Dialect(
            capabilities=new_caps,
            scalar_index=self.scalar_index,
            int_index=self.int_index,
            default_vector_index=self.default_vector_index,
            analyzer_params=self.analyzer_params if enabled else None,
            flush_after_write=self.flush_after_write,
            consolidate=self.consolidate,
            like_prefixes=self.like_prefixes,
        )


def parse_version(text: str) -> tuple[int, int, int] | None:
    """``v2.3.5-lite`` -> (2, 3, 5); None when there is no version number in it."""
    m = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    if m is None:
        return None
    return int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)


def _jieba_available() -> bool:
    return importlib.util.find_spec("jieba") is not None


def detect_dialect(server_version: str, *, uri: str) -> Dialect:
    """The dialect for a deployment that reported ``server_version`` at ``uri``."""
    is_lite = server_version.startswith("milvus_lite") or uri.endswith(".db")
    if is_lite:
        # Milvus Lite 3.x (pure Python): BM25 functions yes, filter templates no
        # (its parser rejects '{'), INVERTED scalar indexes yes. Its only analyzers are
        # "standard" (\w+ runs: a whole Chinese sentence becomes one token) and "jieba".
        jieba = _jieba_available()
        params: dict[str, Any]
        if jieba:
            params = {
                "tokenizer": {"type": "jieba", "mode": "search"},
                "filter": [{"type": "stop", "stop_words": _PUNCT_STOP_WORDS}],
            }
        else:
            log.warning(
                "jieba is not installed: new collections get Lite's 'standard' "
                "analyzer, which cannot split Chinese text into words"
            )
            params = {"tokenizer": "standard"}
        caps = StoreCapabilities(
            kind="lite",
            server_version=server_version,
            bm25=True,
            filter_templating=False,
            analyzer="jieba" if jieba else "standard",
        )
        return Dialect(
            capabilities=caps,
            scalar_index="INVERTED",
            int_index="INVERTED",
            default_vector_index="FLAT",
            analyzer_params=params,
            flush_after_write=True,
            consolidate=True,
        )

    # Unknown version strings get the most conservative feature set.
    version = parse_version(server_version) or (2, 3, 0)
    modern = version >= (2, 5, 0)
    inverted = version >= (2, 4, 0)
    caps = StoreCapabilities(
        kind="server",
        server_version=server_version,
        bm25=modern,
        filter_templating=modern,
        analyzer="jieba" if modern else "",
    )
    return Dialect(
        capabilities=caps,
        scalar_index="INVERTED" if inverted else "Trie",
        int_index="INVERTED" if inverted else "STL_SORT",
        default_vector_index="HNSW",
        analyzer_params={"tokenizer": "jieba", "filter": ["lowercase"]} if modern else None,
        flush_after_write=False,
        like_prefixes=not inverted,
    )
