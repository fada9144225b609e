"""Other protocols' metadata filters (Dify, OpenAI vector stores) mapped onto our filters.

A filter a protocol sends is a tree of comparisons (``key``, operator, value) joined by
``and`` / ``or``. reportrag can honour what its own filters express: ``lang``, ``doc_id``
and ``kind`` equal to one of some values, ``section`` equal to a path, ``date`` within a
range. Anything else (another key, ``ne``, ``contains``, an ``or`` across different keys)
is refused with a FilterError naming it: a condition is never silently dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from reportrag.errors import FilterError
from reportrag.search.filters import build_filters
from reportrag.types import Filters

LIST_KEYS = ("lang", "doc_id", "kind")  # equal to one of some values
KEYS = (*LIST_KEYS, "section", "date")
OPS = ("eq", "in", "gt", "gte", "lt", "lte")


@dataclass(frozen=True)
class Condition:
    """One comparison in our terms: ``op`` is one of :data:`OPS`."""

    key: str
    op: str
    value: object


class NoMatch(Exception):
    """The conditions exclude everything (``lang = en and lang = zh``): an empty answer."""


def _strings(cond: Condition) -> list[str]:
    values = cond.value if isinstance(cond.value, list | tuple) else [cond.value]
    if not values or not all(isinstance(v, str) for v in values):
        raise FilterError(f"filter on {cond.key!r} needs string values",
                          details={"field": cond.key})
    return list(values)


def _day(cond: Condition) -> date:
    if not isinstance(cond.value, str):
        raise FilterError("filter on 'date' needs a date YYYY-MM-DD",
                          details={"field": "date"})
    try:
        return date.fromisoformat(cond.value)
    except ValueError as exc:
        raise FilterError(f"filter on 'date' needs a date YYYY-MM-DD, not {cond.value!r}",
                          details={"field": "date"}) from exc


def all_of(conditions: list[Condition]) -> Filters:
    """Filters matching every condition; NoMatch when none can match, FilterError for a
    condition we cannot honour."""
    allowed: dict[str, set[str]] = {}
    section: str | None = None
    low: date | None = None
    high: date | None = None
    for cond in conditions:
        if cond.key not in KEYS:
            raise FilterError(
                f"cannot filter on {cond.key!r}: the filterable attributes are "
                f"{', '.join(KEYS)}", details={"field": cond.key})
        if cond.key == "date":
            if cond.op not in OPS or cond.op == "in":
                raise FilterError(f"operator {cond.op!r} cannot be applied to 'date'",
                                  details={"field": "date", "op": cond.op})
            day = _day(cond)
            if cond.op in ("gt", "gte", "eq"):
                start = day + timedelta(days=1) if cond.op == "gt" else day
                low = start if low is None else max(low, start)
            if cond.op in ("lt", "lte", "eq"):
                end = day - timedelta(days=1) if cond.op == "lt" else day
                high = end if high is None else min(high, end)
            continue
        if cond.op not in ("eq", "in"):
            raise FilterError(
                f"operator {cond.op!r} cannot be applied to {cond.key!r} (only equal to / "
                "in a list)", details={"field": cond.key, "op": cond.op})
        values = list(dict.fromkeys(_strings(cond)))  # "eq" with a list reads as "in"
        if cond.key == "section":
            if len(values) != 1 or (section is not None and section != values[0]):
                raise NoMatch
            section = values[0]
            continue
        if cond.key == "lang":
            values = [v.lower() for v in values]
        found = set(values)
        allowed[cond.key] = found if cond.key not in allowed else allowed[cond.key] & found
        if not allowed[cond.key]:
            raise NoMatch
    if low is not None and high is not None and low > high:
        raise NoMatch
    return build_filters(
        lang=sorted(allowed["lang"]) if "lang" in allowed else None,
        doc_id=sorted(allowed["doc_id"]) if "doc_id" in allowed else None,
        kind=sorted(allowed["kind"]) if "kind" in allowed else None,
        section=section,
        date_from=low.isoformat() if low else None,
        date_to=high.isoformat() if high else None,
    )


def any_of(conditions: list[Condition]) -> Condition:
    """``or`` of conditions, as one condition: only equalities on one list key can be."""
    keys = {c.key for c in conditions}
    if (len(keys) != 1 or not keys <= set(LIST_KEYS)
            or any(c.op not in ("eq", "in") for c in conditions)):
        raise FilterError(
            "'or' can only join equalities on one of lang, doc_id or kind (e.g. lang is en "
            "or lang is de); other alternatives cannot be honoured",
            details={"keys": sorted(keys)})
    values = [v for c in conditions for v in _strings(c)]
    return Condition(keys.pop(), "in", list(dict.fromkeys(values)))
