"""LangChain's own standard retriever tests (langchain-tests) against a live `reportrag serve`.

A real server process with the real model over a copy of the ingested corpus; the retriever
talks to it over HTTP like any user's would. `RetrieversIntegrationTests` checks that the
number of results follows `k` at construction and per call, and that invoke/ainvoke return
documents; its `test_no_overrides_DO_NOT_OVERRIDE` fails if a standard test is skipped here.
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain_tests.integration_tests import RetrieversIntegrationTests

from reportrag.api.langchain_retriever import ReportragRetriever
from tests.servers import ApiServer

pytestmark = pytest.mark.slow


@pytest.fixture
def served(live_server: ApiServer) -> ApiServer:
    return live_server  # tests/conftest.py: shared with the other live contract tests


class TestReportragRetrieverStandard(RetrieversIntegrationTests):
    base_url = ""  # the live server's, set per test by _use_server

    @pytest.fixture(autouse=True)
    def _use_server(self, served: ApiServer) -> None:
        # The standard suite builds retrievers from a property, which cannot take fixtures.
        self.base_url = served.url

    @property
    def retriever_constructor(self) -> type[ReportragRetriever]:
        return ReportragRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return {"base_url": self.base_url, "lang": ["en"]}

    @property
    def retriever_query_example(self) -> str:
        return "Which company open-sourced Stable Diffusion?"


def test_top_k_is_the_same_knob_as_k(served: ApiServer) -> None:
    """The API's own name works too, at construction and per call; a call's value wins."""
    query = "Which company open-sourced Stable Diffusion?"
    retriever = ReportragRetriever(base_url=served.url, top_k=2)
    assert len(retriever.invoke(query)) == 2
    assert len(retriever.invoke(query, top_k=4)) == 4
    assert len(retriever.invoke(query, k=1)) == 1
    assert len(retriever.invoke(query)) == 2  # a call's k does not stick
