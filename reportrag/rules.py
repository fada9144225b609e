"""Shared rules, defined once for every layer that checks them: search modes, request bounds,
filter fields, vector index parameters.

The HTTP schemas (and so the OpenAPI document), the CLI, the framework retrievers, the
filter validator, the settings and the store import these; none of them spells a mode, a
bound or a pattern of its own. Id patterns live in :mod:`reportrag.ids`, metadata keys in
:mod:`reportrag.metadata`.
"""

from __future__ import annotations

# How a search ranks: auto picks hybrid (dense + BM25) where the store has BM25, else dense;
# crosslingual adds the hits' aligned translations.
MODES = ("auto", "dense", "hybrid", "crosslingual")
# Interleaving of languages in the hits (auto: when the lang filter names several).
BALANCE = ("auto", "none", "interleave")
MAX_TOP_K = 100  # hits one search returns at most

# -- filter fields ------------------------------------------------------------------------------
MAX_FILTER_VALUES = 50  # values of one list filter (lang, doc_id, kind), OR-ed
MAX_SECTION_CHARS = 500  # a section path prefix
# A language code, e.g. "zh" or "pt-BR" (compared in lower case).
LANG_PATTERN = r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})?$"
KIND_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"  # a document kind, e.g. "report"
DATE = r"\d{4}-\d{2}-\d{2}"  # YYYY-MM-DD (the calendar is checked where a date is used)
# Control characters as the store counts them (C0, DEL, C1): refused in any filter value.
CONTROL_CHARS = r"\x00-\x1f\x7f-\x9f"
NO_CONTROL_PATTERN = rf"^[^{CONTROL_CHARS}]*$"

# -- vector index (the settings and the store) --------------------------------------------------
VECTOR_INDEX_KINDS = ("auto", "FLAT", "HNSW", "IVF_FLAT", "IVF_SQ8")
INDEX_KIND_DEFAULT = "auto"  # FLAT on Lite, HNSW on a server (store/capabilities.py)
# The defaults of the index parameters (the settings' and IndexConfig's).
INDEX_DEFAULTS: dict[str, int] = {
    "hnsw_m": 16,
    "hnsw_ef_construction": 200,
    "search_ef": 512,  # recall@10 >= 0.95 filtered, at 100k and 1M (bench/scale.py)
    "ivf_nlist": 128,
    "ivf_nprobe": 16,
}
# The ranges Milvus itself accepts, so a bad setting fails before a collection is half-created
# (Milvus 2.4/2.5 index docs: HNSW M [2, 2048], efConstruction [1, int_max]; IVF nlist
# [1, 65536], nprobe [1, nlist]; HNSW ef up to 32768 on 2.3).
INDEX_LIMITS: dict[str, tuple[int, int]] = {
    "hnsw_m": (2, 2048),
    "hnsw_ef_construction": (1, 2**31 - 1),
    "search_ef": (1, 32768),
    "ivf_nlist": (1, 65536),
    "ivf_nprobe": (1, 65536),
}
