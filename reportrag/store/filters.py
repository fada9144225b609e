"""Turn the portable :class:`Filters` into a Milvus boolean expression.

Two modes, chosen by the deployment:

* templating (Milvus >= 2.5): every value is bound through ``filter_params`` and the
  expression only holds ``{placeholders}``; no user text is ever part of the expression;
* literal (Milvus 2.3 and Milvus Lite 3.x, whose parsers reject ``{``): values are pasted as
  double-quoted string literals with backslash, ``"`` and ``'`` escaped, and control
  characters rejected outright. Both parsers were checked to read such a literal back as
  exactly the original value.

The section prefix is a range (``section >= p and section < successor(p)``) rather than
``like "p%"``: LIKE gives ``%``/``_`` a meaning and Lite and the 2.3 server disagree on how
to escape them, while string comparison needs no wildcard escaping at all.

With ``like_prefixes`` (Milvus 2.3, whose Trie index answers a string *range* by scanning
every row, an order of magnitude slower than ``like "p%"``: docs/benchmarks.md#scale)
prefixes and date ranges become LIKE prefixes instead: the section prefix when it holds no
character LIKE or the literal could treat specially, and a date range as the few ``YYYY``,
``YYYY-M``, ``YYYY-MM``, ... prefixes that cover exactly the calendar days between its ends
(a one-year range is ``date like "2021%"``; ``date_from`` alone about 30 prefixes).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from reportrag.errors import FilterError
from reportrag.metadata import KEY_PATTERN, Condition, Group, MetaFilter
from reportrag.rules import CONTROL_CHARS, DATE
from reportrag.types import Filters

_CONTROL = re.compile(f"[{CONTROL_CHARS}]")
_DATE = re.compile(DATE)
_MAX_CODE_POINT = 0x10FFFF


@dataclass
class Expr:
    """A boolean expression being built, with its template parameters."""

    templating: bool
    clauses: list[str] = field(default_factory=list)
    params: dict[str, object] = field(default_factory=dict)

    def value(self, name: str, value: Scalar | list[Scalar]) -> str:
        """The expression text standing for ``value``: a placeholder or a safe literal."""
        if self.templating:
            key = f"p_{name}_{len(self.params)}"
            self.params[key] = value
            return "{" + key + "}"
        if isinstance(value, list):
            return "[" + ", ".join(literal(v) for v in value) + "]"
        return literal(value)

    def add(self, clause: str) -> None:
        self.clauses.append(clause)

    def render(self) -> str:
        """The whole expression; empty string when there is nothing to filter on."""
        if len(self.clauses) == 1:
            return self.clauses[0]
        return " and ".join(f"({c})" for c in self.clauses)


Scalar = str | int | float | bool


def literal(value: Scalar) -> str:
    """A Milvus literal that reads back as exactly ``value`` (string, number or boolean)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise FilterError("filter numbers must be finite")
        text = repr(value)  # the shortest text that reads back as the same float
        return format(Decimal(text), "f") if "e" in text or "E" in text else text
    return quote(value)


def quote(value: str) -> str:
    """A double-quoted Milvus string literal that reads back as exactly ``value``."""
    if not isinstance(value, str):
        raise FilterError(f"filter value must be a string, not {type(value).__name__}")
    if _CONTROL.search(value):
        raise FilterError(
            "filter value contains control characters", details={"value": value[:100]}
        )
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("'", "\\'")
    return f'"{escaped}"'


def successor(prefix: str) -> str | None:
    """The smallest string greater than every string starting with ``prefix``.

    None when there is no such string (the prefix is all U+10FFFF): no upper bound.
    """
    chars = list(prefix)
    while chars and ord(chars[-1]) == _MAX_CODE_POINT:
        chars.pop()
    if not chars:
        return None
    nxt = ord(chars[-1]) + 1
    if 0xD800 <= nxt <= 0xDFFF:  # surrogates cannot be stored; jump past them
        nxt = 0xE000
    chars[-1] = chr(nxt)
    return "".join(chars)


def _check_values(name: str, values: Sequence[str]) -> list[str]:
    out: list[str] = []
    for v in values:
        if not isinstance(v, str):
            raise FilterError(f"filter '{name}' values must be strings", details={"field": name})
        if _CONTROL.search(v):
            raise FilterError(
                f"filter '{name}' has a value with control characters", details={"field": name}
            )
        out.append(v)
    return list(dict.fromkeys(out))


def _check_date(name: str, value: str) -> str:
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        raise FilterError(
            f"filter '{name}' must be a date YYYY-MM-DD, not {value!r}", details={"field": name}
        )
    return value


def in_clause(expr: Expr, fld: str, values: Sequence[str]) -> None:
    """``fld in [...]`` (values already checked)."""
    expr.add(f"{fld} in {expr.value(fld, list(values))}")


_PLAIN_PREFIX = re.compile(r"[^%_\\\"']+")  # nothing LIKE or the literal treats specially


def prefix_cover(lo: str, hi: str) -> list[str]:
    """The fewest prefixes whose completions (to ``len(lo)`` digits) are exactly ``lo..hi``.

    ``lo`` and ``hi`` are digit strings of one length; empty when ``lo > hi``.
    """
    if len(lo) != len(hi) or not (lo + hi).isdigit():
        raise ValueError("prefix_cover needs two digit strings of the same length")
    if lo > hi:
        return []

    def cover(prefix: str, a: str, b: str) -> list[str]:
        if a == "0" * len(a) and b == "9" * len(b):
            return [prefix]
        if a[0] == b[0]:
            return cover(prefix + a[0], a[1:], b[1:])
        rest = len(a) - 1
        out = cover(prefix + a[0], a[1:], "9" * rest)
        out += [prefix + str(d) for d in range(int(a[0]) + 1, int(b[0]))]
        return out + cover(prefix + b[0], "0" * rest, b[1:])

    return cover("", lo, hi)


def _date_prefix(digits: str) -> str:
    """``2021``, ``20210``, ``202101``, ``2021011`` -> ``2021``, ``2021-0``, ``2021-01``, ..."""
    return "-".join(p for p in (digits[:4], digits[4:6], digits[6:]) if p)


def _widen(lo: str, hi: str) -> tuple[str, str]:
    """Bounds (8 digits) stretched over strings no calendar date has: the cover gets shorter.

    No date has day 00 or month 00, nor day > 31 or month > 12, so ``20210101`` may start at
    ``20210000`` and ``20211231`` end at ``20219999`` (one prefix, ``2021``, for the year).
    """
    if lo[6:] == "01":
        lo = lo[:6] + "00"
        if lo[4:6] == "01":
            lo = lo[:4] + "0000"
    if hi[6:] == "31":
        hi = hi[:6] + "99"
        if hi[4:6] == "12":
            hi = hi[:4] + "9999"
    return lo, hi


def _any_of(parts: list[str]) -> str:
    """``a or b or ...`` as a balanced tree: 2.3.5 fails a search on a ~50-deep chain."""
    if len(parts) == 1:
        return parts[0]
    mid = len(parts) // 2
    return f"({_any_of(parts[:mid])} or {_any_of(parts[mid:])})"


def _date_cover(expr: Expr, date_from: str, date_to: str) -> str:
    lo = date_from.replace("-", "") if date_from else "00000000"
    hi = date_to.replace("-", "") if date_to else "99999999"
    if lo > hi:  # an empty range: a clause nothing matches
        return 'date == "" and date != ""'
    prefixes = prefix_cover(*_widen(lo, hi))
    days: list[Scalar] = [_date_prefix(p) for p in prefixes if len(p) == 8]
    parts = [
        f"date like {expr.value('date', _date_prefix(p) + '%')}" for p in prefixes if len(p) < 8
    ]
    if days:
        parts.append(f"date in {expr.value('date', days)}")
    return _any_of(parts)


# The clause that keeps rows of documents still being written out of what users see.
VISIBLE_ONLY = "visible == true"


def compile_filters(
    filters: Filters,
    *,
    templating: bool,
    like_prefixes: bool = False,
    visible_only: bool = False,
) -> tuple[str, dict[str, object]]:
    """(expression, filter_params) for ``filters``; ("", {}) when they are empty."""
    expr = Expr(templating=templating)
    if visible_only:
        expr.add(VISIBLE_ONLY)
    for fld in ("lang", "doc_id", "kind", "chunk_id"):
        values = getattr(filters, fld)
        if isinstance(values, str):  # a bare string would otherwise iterate per character
            values = (values,)
        if values:
            in_clause(expr, fld, _check_values(fld, values))
    if filters.section:
        prefix = _check_values("section", [filters.section])[0]
        if like_prefixes and _PLAIN_PREFIX.fullmatch(prefix):
            expr.add(f"section like {expr.value('section', prefix + '%')}")
        else:
            clause = f"section >= {expr.value('section', prefix)}"
            upper = successor(prefix)
            if upper is not None:
                clause += f" and section < {expr.value('section', upper)}"
            expr.add(clause)
    if filters.metadata is not None:
        expr.add(metadata_clause(expr, filters.metadata))
    if like_prefixes and (filters.date_from or filters.date_to):
        date_from = _check_date("date_from", filters.date_from) if filters.date_from else ""
        date_to = _check_date("date_to", filters.date_to) if filters.date_to else ""
        expr.add(_date_cover(expr, date_from, date_to))
        return expr.render(), expr.params
    if filters.date_from:
        expr.add(f"date >= {expr.value('date', _check_date('date_from', filters.date_from))}")
    if filters.date_to:
        # "" (undated) sorts before every date; a date range never matches undated chunks.
        upper_date = expr.value("date", _check_date("date_to", filters.date_to))
        expr.add(f'date <= {upper_date} and date != ""')
    return expr.render(), expr.params


METADATA_FIELD = "metadata"
_META_KEY = re.compile(KEY_PATTERN)
_COMPARE = {"eq": "==", "ne": "!=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


def metadata_clause(expr: Expr, node: MetaFilter) -> str:
    """A resolved metadata filter (reportrag/metadata.py) as a boolean expression.

    Every condition is guarded by ``exists`` so that it is true or false, never null: Milvus
    Lite and the 2.3 server then agree on ``ne``, ``nin`` and ``not`` for documents without
    the key (tests/test_store_contract.py). ``in`` / ``nin`` become ``or`` chains of ``==``
    (Lite has no ``in`` on a JSON path), balanced so that long lists stay shallow.
    """
    if isinstance(node, Group):
        if node.op == "not":
            return f"not ({metadata_clause(expr, node.items[0])})"
        parts = [f"({metadata_clause(expr, i)})" for i in node.items]
        if node.op == "or":
            return _any_of(parts)
        return " and ".join(parts)
    if not isinstance(node, Condition) or not _META_KEY.fullmatch(node.key):
        raise FilterError("not a metadata condition", details={"field": "metadata"})
    path = f'{METADATA_FIELD}["{node.key}"]'
    has = f"(exists {path})"
    name = f"m_{node.key}"
    op, value = node.op, node.value
    if op == "exists":
        return has
    if op in _COMPARE:
        return f"{has} and {path} {_COMPARE[op]} {expr.value(name, value)}"
    if op in ("in", "nin"):
        any_of = _any_of([f"{path} == {expr.value(name, v)}" for v in value])
        return f"{has} and {any_of}" if op == "in" else f"{has} and not ({any_of})"
    if op == "contains":
        return f"{has} and json_contains({path}, {expr.value(name, value)})"
    if op == "contains_any":
        return f"{has} and json_contains_any({path}, {expr.value(name, list(value))})"
    raise FilterError(f"unknown metadata operator {op!r}", details={"field": "metadata"})


def ids_filter(
    fld: str, ids: Sequence[str], *, templating: bool, visible_only: bool = False
) -> tuple[str, dict[str, object]]:
    """(expression, filter_params) selecting rows whose ``fld`` is one of ``ids``."""
    expr = Expr(templating=templating)
    in_clause(expr, fld, _check_values(fld, ids))
    if visible_only:
        expr.add(VISIBLE_ONLY)
    return expr.render(), expr.params


def eq_filter(
    fld: str, value: str, *, templating: bool, extra: str = ""
) -> tuple[str, dict[str, object]]:
    """(expression, filter_params) for ``fld == value`` (plus a trusted extra clause)."""
    expr = Expr(templating=templating)
    expr.add(f"{fld} == {expr.value(fld, _check_values(fld, [value])[0])}")
    if extra:
        expr.add(extra)
    return expr.render(), expr.params
