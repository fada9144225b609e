"""The Python client and the LangChain retriever against the real app (no network)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from reportrag.api.app import create_app
from reportrag.api.client import ReportragAPIError, ReportragClient
from reportrag.api.langchain_retriever import ReportragRetriever
from reportrag.api.runtime import Runtime

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def rr(lite_settings, embedder):
    runtime = Runtime(lite_settings, embedder=embedder)
    runtime.start()
    with TestClient(create_app(lite_settings, runtime=runtime)) as http:
        yield ReportragClient(http=http)


def test_client_search_context_documents(rr: ReportragClient) -> None:
    body = rr.search("Stability AI", top_k=3, lang=["en"])
    assert body["hits"] and all(h["lang"] == "en" for h in body["hits"])
    ctx = rr.context("Stability AI", max_tokens=400)
    assert ctx["citations"] and ctx["tokens"] <= 400
    assert len(rr.documents()) == 5
    chunk = rr.chunk(body["hits"][0]["chunk_id"], neighbors=1)
    assert chunk["chunk"]["chunk_id"] == body["hits"][0]["chunk_id"]


def test_client_raises_the_api_error(rr: ReportragClient) -> None:
    with pytest.raises(ReportragAPIError) as info:
        rr.search("ok", lang=["not a language"])
    assert info.value.status == 422 and info.value.code == "invalid_request"
    assert "lang" in info.value.message
    assert not info.value.retryable


def test_langchain_retriever_returns_documents_with_metadata(rr: ReportragClient) -> None:
    retriever = ReportragRetriever(client=rr, top_k=3, lang=["zh"])
    docs = retriever.invoke("Which company open-sourced Stable Diffusion?")
    assert len(docs) == 3
    assert all(d.metadata["lang"] == "zh" and d.page_content for d in docs)
    assert all({"doc_id", "section", "char_start", "score"} <= set(d.metadata) for d in docs)
