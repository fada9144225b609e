"""User metadata: its value types, the portable filter tree over it, and its checks.

Every document may carry free key/values (``DocumentMeta.metadata``): strings, numbers,
booleans and lists of strings; a string ``YYYY-MM-DD`` is a date. The first document that
uses a key declares its type for the collection (recorded with it, see
``MilvusStore.metadata_types``); a later document giving the key another type is refused (a
date key given a non-date string becomes a plain string key: widening, never an error).

A metadata filter is a tree: conditions ``{key, op, value}`` joined by ``and`` / ``or`` /
``not``. Each condition is checked against the declared types before the search runs: an
unknown key, an operator the type does not have, or a value of another type is a
FilterError (HTTP 422), never a filter silently ignored. Semantics are the same on Milvus
Lite and on a server (the store compiles every condition to an expression that is true or
false, never null): ``ne`` and ``nin`` match documents that have the key with another value;
``not`` matches everything its operand does not, documents without the key included.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Literal

from reportrag.errors import FilterError, InputError
from reportrag.rules import DATE

MetaType = Literal["string", "number", "bool", "date", "list"]
OPS = ("eq", "ne", "in", "nin", "gt", "gte", "lt", "lte", "contains", "exists")
# Which operators each type has.
TYPE_OPS: dict[str, frozenset[str]] = {
    "string": frozenset({"eq", "ne", "in", "nin", "exists"}),
    "date": frozenset({"eq", "ne", "in", "nin", "gt", "gte", "lt", "lte", "exists"}),
    "number": frozenset({"eq", "ne", "in", "nin", "gt", "gte", "lt", "lte", "exists"}),
    "bool": frozenset({"eq", "ne", "exists"}),
    # in: contains any of the values (resolved to the internal contains_any)
    "list": frozenset({"contains", "in", "contains_any", "exists"}),
}
MAX_DEPTH = 8  # nesting of and / or / not
MAX_CONDITIONS = 64
MAX_VALUES = 100  # items of an in / nin list
MAX_STRING = 1000
KEY_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
_KEY = re.compile(KEY_PATTERN)
_DATE = re.compile(DATE)


@dataclass(frozen=True)
class Condition:
    """``key op value`` (``value`` is None for ``exists``; a tuple for ``in`` / ``nin``)."""

    key: str
    op: str
    value: Any = None


@dataclass(frozen=True)
class Group:
    """``and`` / ``or`` of its items, or ``not`` of its one item."""

    op: Literal["and", "or", "not"]
    items: tuple[MetaFilter, ...]


MetaFilter = Condition | Group


def value_type(value: object) -> MetaType:
    """The type of one metadata value (InputError for what metadata cannot hold)."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            raise InputError("metadata numbers must be finite")
        return "number"
    if isinstance(value, str):
        return "date" if _DATE.fullmatch(value) else "string"
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "list"
    raise InputError(f"{type(value).__name__} is not a metadata value")


def merge_types(
    declared: dict[str, str], metadata: dict[str, Any], *, doc_id: str
) -> dict[str, str]:
    """``declared`` plus the types of ``metadata``; InputError when a key changes type."""
    out = dict(declared)
    for key, value in metadata.items():
        new = value_type(value)
        old = out.get(key)
        if old is None or old == new:
            out[key] = new
        elif {old, new} == {"date", "string"}:
            out[key] = "string"  # a date key with a non-date value: compared as strings
        else:
            raise InputError(
                f"{doc_id}: metadata.{key} is a {new}, but other documents made it a {old}; "
                "use one type per key",
                details={"doc_id": doc_id, "key": key, "type": new, "declared": old},
            )
    return out


def parse_filter(raw: object, *, depth: int = 0, counter: list[int] | None = None) -> MetaFilter:
    """A filter tree from its JSON form; FilterError for any shape that is not one.

    ``{"key": K, "op": OP, "value": V}``, ``{"and": [...]}``, ``{"or": [...]}``,
    ``{"not": {...}}``; at most MAX_DEPTH levels and MAX_CONDITIONS conditions.
    """
    counter = counter if counter is not None else [0]
    if depth > MAX_DEPTH:
        raise FilterError(f"metadata filter nested deeper than {MAX_DEPTH} levels",
                          details={"field": "metadata"})
    if not isinstance(raw, dict) or not raw:
        raise FilterError("a metadata filter is an object: {key, op, value}, {and: [...]}, "
                          "{or: [...]} or {not: {...}}", details={"field": "metadata"})
    groups = [k for k in ("and", "or", "not") if k in raw]
    if groups:
        if len(raw) != 1:
            raise FilterError(f"'{groups[0]}' must be the only key of its object",
                              details={"field": "metadata"})
        op = groups[0]
        inner = raw[op]
        if op == "not":
            return Group("not", (parse_filter(inner, depth=depth + 1, counter=counter),))
        if not isinstance(inner, list) or not inner:
            raise FilterError(f"'{op}' takes a non-empty list", details={"field": "metadata"})
        items = tuple(parse_filter(i, depth=depth + 1, counter=counter) for i in inner)
        return Group(op, items)  # type: ignore[arg-type]
    unknown = set(raw) - {"key", "op", "value"}
    if unknown or "key" not in raw or "op" not in raw:
        raise FilterError(
            "a metadata condition is {key, op, value}"
            + (f"; unknown: {sorted(unknown)[:5]}" if unknown else ""),
            details={"field": "metadata"},
        )
    counter[0] += 1
    if counter[0] > MAX_CONDITIONS:
        raise FilterError(f"more than {MAX_CONDITIONS} metadata conditions",
                          details={"field": "metadata"})
    key, op = raw["key"], raw["op"]
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise FilterError(f"metadata key {str(key)[:80]!r} is not an identifier",
                          details={"field": "metadata"})
    if op not in OPS:
        raise FilterError(f"unknown operator {str(op)[:20]!r}; one of {', '.join(OPS)}",
                          details={"field": "metadata", "key": key})
    if op == "exists":
        if raw.get("value") not in (None, True):
            raise FilterError("'exists' takes no value", details={"field": "metadata", "key": key})
        return Condition(key, op)
    if "value" not in raw:
        raise FilterError(f"'{op}' needs a value", details={"field": "metadata", "key": key})
    value = raw["value"]
    if op in ("in", "nin"):
        if not isinstance(value, list) or not value or len(value) > MAX_VALUES:
            raise FilterError(f"'{op}' takes a list of 1 to {MAX_VALUES} values",
                              details={"field": "metadata", "key": key})
        return Condition(key, op, tuple(_scalar(key, v) for v in value))
    return Condition(key, op, _scalar(key, value))


def _scalar(key: str, value: object) -> str | float | int | bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            raise FilterError("metadata filter numbers must be finite",
                              details={"field": "metadata", "key": key})
        if isinstance(value, int) and abs(value) >= 2**53:
            raise FilterError("metadata filter integers must be below 2**53 in size",
                              details={"field": "metadata", "key": key})
        return value
    if isinstance(value, str):
        if len(value) > MAX_STRING or any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in value):
            raise FilterError("metadata filter strings: at most 1000 characters, no control "
                              "characters", details={"field": "metadata", "key": key})
        return value
    raise FilterError(f"metadata filter values are strings, numbers or booleans, not "
                      f"{type(value).__name__}", details={"field": "metadata", "key": key})


def resolve_filter(node: MetaFilter, types: dict[str, str]) -> MetaFilter:
    """The filter checked against the declared types, ready to compile: FilterError unless
    every condition names a declared key with an operator and values of its type. ``in`` on
    a list key becomes ``contains_any``."""
    if isinstance(node, Group):
        return Group(node.op, tuple(resolve_filter(i, types) for i in node.items))
    _check_condition(node, types)
    if node.op == "in" and types[node.key] == "list":
        return Condition(node.key, "contains_any", node.value)
    return node


def _check_condition(node: Condition, types: dict[str, str]) -> None:
    kind = types.get(node.key)
    if kind is None:
        known = ", ".join(sorted(types)[:20]) or "none"
        raise FilterError(
            f"unknown metadata key {node.key!r} (keys in this collection: {known})",
            details={"field": "metadata", "key": node.key},
        )
    if node.op not in TYPE_OPS[kind]:
        raise FilterError(
            f"metadata.{node.key} is a {kind}: '{node.op}' does not apply (use "
            f"{', '.join(sorted(TYPE_OPS[kind]))})",
            details={"field": "metadata", "key": node.key, "type": kind},
        )
    values = node.value if isinstance(node.value, tuple) else (node.value,)
    if node.op == "exists":
        return
    for v in values:
        if not _fits(kind, v):
            raise FilterError(
                f"metadata.{node.key} is a {kind}: {v!r} is not one",
                details={"field": "metadata", "key": node.key, "type": kind},
            )


def _fits(kind: str, value: object) -> bool:
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "date":
        return isinstance(value, str) and bool(_DATE.fullmatch(value))
    return isinstance(value, str)  # string, list (its items)


def evaluate(node: MetaFilter, metadata: dict[str, Any]) -> bool:
    """Whether a document's metadata satisfies a resolved filter (the store's semantics)."""
    if isinstance(node, Group):
        if node.op == "not":
            return not evaluate(node.items[0], metadata)
        results = (evaluate(i, metadata) for i in node.items)
        return all(results) if node.op == "and" else any(results)
    if node.key not in metadata:
        return False
    have = metadata[node.key]
    want = node.value
    try:
        return {
            "exists": lambda: True,
            "eq": lambda: have == want,
            "ne": lambda: have != want,
            "in": lambda: have in want,
            "nin": lambda: have not in want,
            "gt": lambda: have > want,
            "gte": lambda: have >= want,
            "lt": lambda: have < want,
            "lte": lambda: have <= want,
            "contains": lambda: isinstance(have, list) and want in have,
            "contains_any": lambda: isinstance(have, list) and any(v in have for v in want),
        }[node.op]()
    except TypeError:  # a value of another type (a key retyped since): no match
        return False


def keys_of(node: MetaFilter) -> set[str]:
    """The keys a filter names."""
    if isinstance(node, Group):
        return set().union(*(keys_of(i) for i in node.items))
    return {node.key}
