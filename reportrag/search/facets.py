"""Facet counts: how many passages matching the filters have each value of a field.

A facet is a chunk field (``lang``, ``doc_lang``, ``kind``, ``date``, ``doc_id``) or a key of
the documents' user metadata; a list value counts once for each of its items. Counted over
the passages the *filters* select (not only the hits of the query), up to
:data:`MAX_FACET_ROWS` of them (``truncated`` says when there were more), the 20 most
frequent values of each facet, most frequent first (ties by value).
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from reportrag.errors import FilterError
from reportrag.types import Filters

if TYPE_CHECKING:
    from reportrag.store.protocols import ReadStore

FIELD_FACETS = ("lang", "doc_lang", "kind", "date", "doc_id")
MAX_FACETS = 10
MAX_FACET_ROWS = 100_000
TOP_VALUES = 20


def facet_counts(
    store: ReadStore, filters: Filters, facets: list[str], *, max_rows: int = MAX_FACET_ROWS
) -> dict[str, Any]:
    """``{"counts": {facet: [{"value", "count"}]}, "passages": n, "truncated": bool}``."""
    names = list(dict.fromkeys(facets))
    if len(names) > MAX_FACETS:
        raise FilterError(f"at most {MAX_FACETS} facets", details={"field": "facets"})
    types = store.metadata_types() if any(n not in FIELD_FACETS for n in names) else {}
    unknown = [n for n in names if n not in FIELD_FACETS and n not in types]
    if unknown:
        types = store.metadata_types(fresh=True)
        unknown = [n for n in names if n not in FIELD_FACETS and n not in types]
    if unknown:
        raise FilterError(
            f"unknown facet {unknown[0]!r}: one of {', '.join(FIELD_FACETS)} or a metadata key "
            f"({', '.join(sorted(types)[:20]) or 'none'})",
            details={"field": "facets", "facet": unknown[0]},
        )
    fields = [n for n in names if n in FIELD_FACETS]
    if len(fields) < len(names):
        fields.append("metadata")
    rows, truncated = store.matching_rows(filters, fields, max_rows)
    counts: dict[str, Counter] = {n: Counter() for n in names}
    for row in rows:
        meta = row.get("metadata") or {}
        for name in names:
            value = row.get(name) if name in FIELD_FACETS else meta.get(name)
            for v in value if isinstance(value, list) else [value]:
                if v is not None and v != "":
                    counts[name][v] += 1
    return {
        "counts": {
            n: [{"value": v, "count": c} for v, c in sorted(
                counts[n].items(), key=lambda vc: (-vc[1], str(vc[0])))[:TOP_VALUES]]
            for n in names
        },
        "passages": len(rows),
        "truncated": truncated,
    }
