"""The seams' protocols against what plugs into them: MilvusStore and the test fakes.

mypy checks MilvusStore structurally (reportrag/store/protocols.py); this checks the same
at run time, member by member, with parameter names, kinds and defaults, so a renamed
method or keyword breaks here and not in production.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from reportrag.embedding.base import Embedder
from reportrag.embedding.counter import TokenCounter
from reportrag.embedding.factory import TextEmbedder
from reportrag.embedding.resolve import KNOWN_PROMPTS
from reportrag.store import MilvusStore
from reportrag.store.protocols import ReadStore, WriteStore
from tests.fakes import MemoryStore, WordEmbedder

PACKAGE = Path(__file__).resolve().parents[1] / "reportrag"


def _members(protocol: type) -> dict[str, object]:
    """The protocol's own members and those of the protocols it extends."""
    out: dict[str, object] = {}
    for klass in reversed(protocol.__mro__):
        if klass is object or klass.__name__ in ("Protocol", "Generic"):
            continue
        out.update({k: v for k, v in vars(klass).items() if not k.startswith("_")})
    return out


def _params(fn: object) -> list[tuple[str, object, object]]:
    sig = inspect.signature(fn)  # type: ignore[arg-type]
    return [(p.name, p.kind, p.default) for p in sig.parameters.values()]


def _mismatches(protocol: type, implementation: type) -> list[str]:
    wrong = []
    for name, member in _members(protocol).items():
        got = inspect.getattr_static(implementation, name, None)
        if got is None:
            wrong.append(f"{name}: missing")
        elif isinstance(member, property):
            if not isinstance(got, property):
                wrong.append(f"{name}: not a property")
        elif callable(member):
            if not callable(got):
                wrong.append(f"{name}: not a method")
            elif _params(member) != _params(got):
                wrong.append(f"{name}: {_params(got)} instead of {_params(member)}")
    return wrong


@pytest.mark.parametrize(
    ("protocol", "implementation"),
    [(ReadStore, MilvusStore), (WriteStore, MilvusStore), (ReadStore, MemoryStore)],
)
def test_stores_have_every_member_with_its_signature(protocol: type, implementation: type) -> None:
    assert _members(protocol)  # the check sees something
    assert _mismatches(protocol, implementation) == []


def test_the_write_store_extends_the_read_store() -> None:
    assert set(_members(ReadStore)) < set(_members(WriteStore))
    assert "rank_dense" in _members(ReadStore) and "upsert" not in _members(ReadStore)


def test_a_store_that_lost_a_keyword_is_caught() -> None:
    class Renamed(MemoryStore):
        def rank_text(self, query, filters, top_k, *, rows=False):  # type: ignore[no-untyped-def,override]
            return []

    assert _mismatches(ReadStore, Renamed) == [
        "rank_text: " + str(_params(Renamed.rank_text)) + " instead of "
        + str(_params(ReadStore.rank_text))
    ]


def _protocols_outside_the_store_seam() -> dict[str, set[str]]:
    """Every Protocol class the package defines outside store/protocols.py, with its methods."""
    found: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == PACKAGE / "store" / "protocols.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            bases = [b.id if isinstance(b, ast.Name) else getattr(b, "attr", "")
                     for b in getattr(node, "bases", [])]
            if isinstance(node, ast.ClassDef) and "Protocol" in bases:
                found[f"{path.relative_to(PACKAGE)}:{node.name}"] = {
                    n.name for n in node.body
                    if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
                }
    return found


def test_no_module_defines_a_store_protocol_of_its_own() -> None:
    """A step that needs store methods takes ReadStore or WriteStore, not a subset of its own."""
    protocols = _protocols_outside_the_store_seam()
    assert "embedding/base.py:Embedder" in protocols  # the scan sees the other seams
    store_methods = set(_members(WriteStore))
    assert {name: sorted(methods & store_methods) for name, methods in protocols.items()
            if methods & store_methods} == {}


@pytest.mark.parametrize("embedder", [TextEmbedder, WordEmbedder])
def test_embedders_have_the_protocol(embedder: type) -> None:
    members = _members(Embedder)
    assert {"dim", "max_tokens", "embed_documents", "embed_query", "count_tokens",
            "fingerprint"} <= set(members)
    for name, member in members.items():
        got = inspect.getattr_static(embedder, name)
        if callable(member):
            want = _params(member)
            have = [p for p in _params(got) if p[0] != "progress"]  # an extra keyword is fine
            assert have == want, name


def test_a_dry_runs_token_counter_is_an_embedder_that_embeds_nothing() -> None:
    from reportrag.errors import ModelError

    counter = TokenCounter("intfloat/multilingual-e5-small",
                           KNOWN_PROMPTS["intfloat/multilingual-e5-small"])
    assert isinstance(counter, Embedder)
    assert counter.dim == 384 and counter.max_tokens == 512
    with pytest.raises(ModelError):
        counter.embed_query("anything")
    with pytest.raises(ModelError):
        counter.embed_documents(["anything"])
