"""User metadata: value types, the filter tree's parsing and checks, and its compilation
(the contract suite runs the compiled filters on Milvus Lite and the server)."""

from __future__ import annotations

import pytest

from reportrag.errors import FilterError, InputError
from reportrag.metadata import (
    Condition,
    Group,
    evaluate,
    merge_types,
    parse_filter,
    resolve_filter,
    value_type,
)
from reportrag.store.filters import compile_filters, literal
from reportrag.types import Filters

TYPES = {"dept": "string", "year": "number", "public": "bool", "tags": "list", "due": "date"}


def test_value_types_and_their_merging() -> None:
    assert [value_type(v) for v in ("x", "2024-01-02", 3, 2.5, True, ["a"])] == [
        "string", "date", "number", "number", "bool", "list"]
    for bad in ({"a": 1}, [1, 2], None, float("nan")):
        with pytest.raises(InputError):
            value_type(bad)
    merged = merge_types({}, {"year": 2023, "due": "2024-01-01"}, doc_id="a")
    assert merge_types(merged, {"due": "soon"}, doc_id="b")["due"] == "string"  # widened
    with pytest.raises(InputError, match="metadata.year is a string, but other documents"):
        merge_types(merged, {"year": "2023"}, doc_id="c")


def test_a_filter_tree_parses_and_resolves() -> None:
    raw = {"and": [{"key": "dept", "op": "in", "value": ["legal", "eng"]},
                   {"not": {"key": "tags", "op": "in", "value": ["draft"]}},
                   {"key": "due", "op": "exists"}]}
    node = resolve_filter(parse_filter(raw), TYPES)
    assert node == Group("and", (
        Condition("dept", "in", ("legal", "eng")),
        Group("not", (Condition("tags", "contains_any", ("draft",)),)),
        Condition("due", "exists"),
    ))
    assert evaluate(node, {"dept": "legal", "tags": ["x"], "due": "2024-01-01"})
    assert not evaluate(node, {"dept": "legal", "tags": ["draft"], "due": "2024-01-01"})
    assert not evaluate(node, {"dept": "legal"})


def _nested(depth: int) -> dict:
    node: dict = {"key": "dept", "op": "eq", "value": "x"}
    for _ in range(depth):
        node = {"not": node}
    return node


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (_nested(9), "nested deeper than 8"),
        ({"or": [{"key": "year", "op": "eq", "value": i} for i in range(65)]}, "more than 64"),
        ({"key": "dept", "op": "in", "value": [str(i) for i in range(101)]}, "1 to 100"),
        ({"key": "dept", "op": "in", "value": []}, "1 to 100"),
        ({"key": "dept", "op": "like", "value": "x"}, "unknown operator"),
        ({"key": "dept); drop", "op": "eq", "value": "x"}, "not an identifier"),
        ({"key": "dept", "op": "eq", "value": {"$ne": 1}}, "not dict"),
        ({"key": "dept", "op": "eq", "value": "a\x00b"}, "control characters"),
        ({"key": "dept", "op": "eq"}, "needs a value"),
        ({"key": "dept", "op": "exists", "value": 3}, "takes no value"),
        ({"key": "dept", "op": "eq", "value": "x", "extra": 1}, "unknown"),
        ({"and": [], }, "non-empty list"),
        ({"and": [{"key": "dept", "op": "exists"}], "or": []}, "only key"),
        ([{"key": "dept", "op": "exists"}], "is an object"),
        ({"key": "year", "op": "eq", "value": 2**60}, "2\\*\\*53"),
        ({"key": "year", "op": "eq", "value": float("inf")}, "finite"),
    ],
)
def test_malformed_filters_are_refused_by_name(raw: object, says: str) -> None:
    with pytest.raises(FilterError, match=says):
        parse_filter(raw)


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ({"key": "owner", "op": "eq", "value": "x"}, "unknown metadata key 'owner'"),
        ({"key": "year", "op": "eq", "value": "2023"}, "is a number: '2023' is not one"),
        ({"key": "dept", "op": "gt", "value": "a"}, "'gt' does not apply"),
        ({"key": "public", "op": "in", "value": [True]}, "'in' does not apply"),
        ({"key": "due", "op": "gte", "value": "next week"}, "is a date"),
        ({"key": "tags", "op": "eq", "value": "x"}, "'eq' does not apply"),
        ({"key": "year", "op": "eq", "value": True}, "is a number"),
    ],
)
def test_filters_are_checked_against_the_declared_types(raw: dict, says: str) -> None:
    with pytest.raises(FilterError, match=says):
        resolve_filter(parse_filter(raw), TYPES)


def test_values_are_literals_never_expression_text() -> None:
    assert literal(True) == "true" and literal(3) == "3" and literal(2.5) == "2.5"
    assert literal(1e20) == "100000000000000000000" and literal(1e-7) == "0.0000001"
    assert literal('a" or 1==1 or "') == '"a\\" or 1==1 or \\""'
    node = resolve_filter(parse_filter({"key": "dept", "op": "eq", "value": 'x" or "1'}), TYPES)
    expr, params = compile_filters(Filters(metadata=node), templating=True)
    assert expr == '(exists metadata["dept"]) and metadata["dept"] == {p_m_dept_0}'
    assert params == {"p_m_dept_0": 'x" or "1'}
    expr, _ = compile_filters(Filters(metadata=node), templating=False)
    assert expr == '(exists metadata["dept"]) and metadata["dept"] == "x\\" or \\"1"'
