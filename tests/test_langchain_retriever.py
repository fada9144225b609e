"""The LangChain retriever's arguments: `k`/`top_k` accepted and checked, anything else refused.

No server needed: every case here fails before a request would be sent (the client points at
a port nobody listens on, so a request that did go out would fail differently). The number
of results a live server returns for `k` is tested in tests/test_langchain_standard.py.
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from reportrag.api.langchain_retriever import ReportragRetriever
from tests.servers import free_port

NOWHERE = f"http://127.0.0.1:{free_port()}"


def test_k_and_top_k_set_the_same_field_at_construction() -> None:
    assert ReportragRetriever(base_url=NOWHERE, k=3).top_k == 3
    assert ReportragRetriever(base_url=NOWHERE, top_k=7).top_k == 7
    assert ReportragRetriever(base_url=NOWHERE).top_k == 5


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n": 3},  # unknown
        {"num_results": 3},
        {"k": 3, "top_k": 4},  # both names: which one?
        {"k": 0},
        {"k": 101},  # the API's top_k is 1..100
        {"top_k": -1},
    ],
)
def test_the_constructor_refuses_unknown_or_bad_arguments(kwargs: dict) -> None:
    with pytest.raises(ValidationError):
        ReportragRetriever(base_url=NOWHERE, **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"n": 1}, TypeError),
        ({"filters": {"lang": ["en"]}}, TypeError),
        ({"k": 0}, ValueError),
        ({"k": 101}, ValueError),
        ({"k": True}, ValueError),
        ({"k": "3"}, ValueError),
        ({"k": 1, "top_k": 2}, ValueError),
    ],
)
def test_a_call_refuses_unknown_or_bad_arguments(kwargs: dict, error: type) -> None:
    retriever = ReportragRetriever(base_url=NOWHERE)
    with pytest.raises(error):
        retriever.invoke("open source", **kwargs)


def test_the_retriever_s_settings_are_what_langchain_serialises() -> None:
    retriever = ReportragRetriever(base_url=NOWHERE, k=2, lang=["zh"])
    dumped = retriever.model_dump()
    assert dumped["top_k"] == 2 and dumped["lang"] == ["zh"] and "client" not in dumped
