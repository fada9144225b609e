"""Dify's external knowledge API and OpenAI's vector-store search against a live server,
each driven the way its own ecosystem does (issue #25): Dify's documented requests over
HTTP, and the official ``openai`` client pointed at the server with ``base_url``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.servers import ApiServer, live_api

KEY = "integration-read-key-6e0b72"
COLLECTION = "reportrag_chunks"
EN_QUESTION = "How many A100 GPUs does ChatGPT need?"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(lite_settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    work = tmp_path_factory.mktemp("integrations")
    with live_api(lite_settings, work, {"REPORTRAG_READ_API_KEY": KEY}) as live:
        yield live


@pytest.fixture(scope="module")
def client(server: ApiServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=KEY, max_retries=0, timeout=60)


# -- OpenAI vector-store search, with the official client --------------------------------------

def test_the_openai_client_finds_the_store(client: openai.OpenAI) -> None:
    stores = list(client.vector_stores.list())
    assert [s.id for s in stores] == [COLLECTION]
    store = client.vector_stores.retrieve(COLLECTION)
    assert store.status == "completed" and store.file_counts.completed == 5
    assert store.file_counts.total == 5


def test_openai_search_with_filters_and_a_threshold(client: openai.OpenAI) -> None:
    page = client.vector_stores.search(
        COLLECTION, query=EN_QUESTION, max_num_results=3,
        filters={"type": "and", "filters": [{"key": "lang", "type": "eq", "value": "zh"}]},
        ranking_options={"score_threshold": 0.5})
    results = page.data
    assert 1 <= len(results) <= 3
    for r in results:
        assert r.attributes["lang"] == "zh" and 0.5 <= r.score <= 1.0
        assert r.content[0].type == "text" and r.content[0].text
        assert r.file_id == r.attributes["doc_id"]
    # Asked in English, answered from the Chinese edition, with the English passage beside it.
    assert any("A100" in r.content[0].text for r in results)
    assert results[0].attributes.get("counterpart_lang") == "en"


def test_openai_search_with_several_queries_and_an_or(client: openai.OpenAI) -> None:
    page = client.vector_stores.search(
        COLLECTION, query=["open source business models", "开源商业模式"], max_num_results=4,
        filters={"type": "or", "filters": [{"key": "lang", "type": "eq", "value": "en"},
                                           {"key": "lang", "type": "eq", "value": "zh"}]},
        rewrite_query=True)
    assert 1 <= len(page.data) <= 4
    assert {r.attributes["lang"] for r in page.data} <= {"en", "zh"}
    threshold = client.vector_stores.search(COLLECTION, query=EN_QUESTION,
                                            ranking_options={"score_threshold": 0.99})
    assert threshold.data == []  # nothing is that close


@pytest.mark.parametrize(("call", "error"), [
    (lambda c: c.vector_stores.search("no_such_store", query="x"), openai.NotFoundError),
    (lambda c: c.vector_stores.retrieve("no_such_store"), openai.NotFoundError),
    (lambda c: c.vector_stores.search(COLLECTION, query="x", filters={
        "key": "lang", "type": "ne", "value": "en"}), openai.BadRequestError),
    (lambda c: c.vector_stores.search(COLLECTION, query="x", filters={
        "key": "author", "type": "eq", "value": "me"}), openai.BadRequestError),
    (lambda c: c.vector_stores.search(COLLECTION, query="x", filters={"type": "or", "filters": [
        {"key": "lang", "type": "eq", "value": "en"},
        {"key": "kind", "type": "eq", "value": "report"}]}), openai.BadRequestError),
    (lambda c: c.vector_stores.search(COLLECTION, query="x" * 5000), openai.BadRequestError),
    (lambda c: c.vector_stores.search(COLLECTION, query="x", max_num_results=0),
     openai.BadRequestError),
])
def test_openai_bad_input_gets_openai_errors(client: openai.OpenAI, call, error) -> None:
    with pytest.raises(error) as caught:
        call(client)
    body = caught.value.body
    assert isinstance(body, dict) and body["message"] and body["type"]


def test_openai_wrong_key_is_refused_and_the_server_keeps_serving(
        server: ApiServer, client: openai.OpenAI) -> None:
    wrong = openai.OpenAI(base_url=f"{server.url}/v1", api_key="not-the-key", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        wrong.vector_stores.search(COLLECTION, query=EN_QUESTION)
    assert client.vector_stores.search(COLLECTION, query=EN_QUESTION).data


# -- Dify's external knowledge API, as Dify's documentation builds the requests ----------------

def _dify(server: ApiServer, body: dict, key: str | None = KEY,
          header: str | None = None) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if header is not None:
        headers["Authorization"] = header
    elif key is not None:
        headers["Authorization"] = f"Bearer {key}"
    return httpx.post(f"{server.url}/retrieval", json=body, headers=headers, timeout=60)


def _request(**over: object) -> dict:
    body: dict = {
        "knowledge_id": COLLECTION,
        "query": EN_QUESTION,
        "retrieval_setting": {"top_k": 2, "score_threshold": 0.5},
        "metadata_condition": {"logical_operator": "and", "conditions": [
            {"name": ["lang"], "comparison_operator": "is", "value": "zh"}]},
    }
    body.update(over)
    return body


def test_dify_retrieval_answers_records(server: ApiServer) -> None:
    r = _dify(server, _request())
    assert r.status_code == 200, r.text
    records = r.json()["records"]
    assert 1 <= len(records) <= 2
    for rec in records:
        assert set(rec) == {"content", "score", "title", "metadata"}
        assert isinstance(rec["metadata"], dict) and rec["metadata"]["lang"] == "zh"
        assert 0.5 <= rec["score"] <= 1 and rec["content"] and rec["title"]
    assert any("A100" in rec["content"] for rec in records)
    assert records[0]["metadata"]["counterparts"][0]["lang"] == "en"


def test_dify_conditions_or_dates_and_nothing_matching(server: ApiServer) -> None:
    either = _dify(server, _request(metadata_condition={"logical_operator": "or", "conditions": [
        {"name": "lang", "comparison_operator": "is", "value": "en"},
        {"name": "lang", "comparison_operator": "is", "value": "de"}]},
        retrieval_setting={"top_k": 5, "score_threshold": 0.0}))
    assert either.status_code == 200, either.text
    assert {r["metadata"]["lang"] for r in either.json()["records"]} <= {"en", "de"}
    dated = _dify(server, _request(metadata_condition={"conditions": [
        {"name": "date", "comparison_operator": "after", "value": "2100-01-01"}]}))
    assert dated.status_code == 200 and dated.json() == {"records": []}
    contradictory = _dify(server, _request(metadata_condition={"conditions": [
        {"name": "lang", "comparison_operator": "is", "value": "en"},
        {"name": "lang", "comparison_operator": "is", "value": "zh"}]}))
    assert contradictory.status_code == 200 and contradictory.json() == {"records": []}


@pytest.mark.parametrize(("body", "key", "header", "status", "code"), [
    (_request(), None, None, 401, 1001),
    (_request(), None, f"Basic {KEY}", 401, 1001),
    (_request(), "wrong-key", None, 403, 1002),
    (_request(knowledge_id="someone-elses"), KEY, None, 404, 2001),
    (_request(metadata_condition={"conditions": [
        {"name": "lang", "comparison_operator": "contains", "value": "z"}]}), KEY, None, 400, 400),
    (_request(metadata_condition={"logical_operator": "or", "conditions": [
        {"name": "lang", "comparison_operator": "is", "value": "en"},
        {"name": "kind", "comparison_operator": "is", "value": "report"}]}), KEY, None, 400, 400),
    (_request(retrieval_setting={"top_k": "many"}), KEY, None, 400, 400),
    (_request(query="x" * 5000), KEY, None, 400, 400),
    ({"query": EN_QUESTION}, KEY, None, 400, 400),
])
def test_dify_errors_have_dify_codes(server: ApiServer, body: dict, key: str | None,
                                     header: str | None, status: int, code: int) -> None:
    r = _dify(server, body, key, header)
    assert r.status_code == status, r.text
    assert set(r.json()) == {"error_code", "error_msg"} and r.json()["error_code"] == code
    assert KEY not in r.text


def test_the_integrations_are_in_the_openapi_schema(server: ApiServer) -> None:
    paths = httpx.get(f"{server.url}/openapi.json", timeout=30).json()["paths"]
    assert {"/retrieval", "/v1/vector_stores", "/v1/vector_stores/{vector_store_id}",
            "/v1/vector_stores/{vector_store_id}/search"} <= set(paths)


def test_docs_show_a_transcript_of_each_client() -> None:
    doc = (Path(__file__).resolve().parent.parent / "docs" / "integrations.md").read_text()
    assert "client.vector_stores.search(" in doc and "POST /retrieval" in doc
    assert 'client.call_tool("search"' in doc and "retriever.retrieve(" in doc


def test_the_mcp_client_configurations_in_the_docs_are_what_the_tests_run() -> None:
    """Claude Desktop's (stdio) and Cursor's (streamable HTTP) configurations parse, and
    name what tests/test_mcp.py runs: ``reportrag mcp`` with a data dir, ``/mcp`` with the
    read key as a bearer token."""
    import json
    import re

    doc = (Path(__file__).resolve().parent.parent / "docs" / "integrations.md").read_text()
    configs = [json.loads(block) for block in re.findall(r"```json\n(.*?)```", doc, re.S)]
    servers = [c["mcpServers"]["reportrag"] for c in configs if "mcpServers" in c]
    stdio = next(s for s in servers if "command" in s)
    assert stdio["command"].endswith("/reportrag") and stdio["args"] == ["mcp"]
    assert set(stdio["env"]) == {"REPORTRAG_DATA_DIR"}
    http = next(s for s in servers if "url" in s)
    assert http["url"].endswith(":8000/mcp")
    assert re.fullmatch(r"Bearer \S+", http["headers"]["Authorization"])


# -- LlamaIndex: the retriever inside LlamaIndex's own retrieval calls ------------------------

def test_llamaindex_retriever_returns_nodes_with_citations(server: ApiServer) -> None:
    from llama_index.core.schema import MetadataMode, NodeWithScore, QueryBundle

    from reportrag.api.client import ReportragAPIError
    from reportrag.api.llamaindex_retriever import ReportragLlamaRetriever

    retriever = ReportragLlamaRetriever(server.url, api_key=KEY, top_k=3, lang=["zh"])
    nodes = retriever.retrieve(EN_QUESTION)
    assert 1 <= len(nodes) <= 3 and all(isinstance(n, NodeWithScore) for n in nodes)
    best = next(n for n in nodes if "A100" in n.node.get_content())
    meta = best.node.metadata
    assert best.node.node_id == meta["chunk_id"] and meta["doc_lang"] == "zh"
    assert best.score is not None and meta["title"] and meta["search_mode"] == "crosslingual"
    assert 0 <= best.node.start_char_idx < best.node.end_char_idx
    assert any(c["lang"] == "en" and "A100" in c["text"] for c in meta["counterparts"])
    # What an LLM prompt gets: the passage with its title, section and language, not the ids.
    shown = best.node.get_content(metadata_mode=MetadataMode.LLM)
    assert meta["title"] in shown and "chunk_id" not in shown and "counterparts" not in shown
    # The async path LlamaIndex's query engines use answers the same passages.
    import asyncio

    again = asyncio.run(retriever.aretrieve(QueryBundle(EN_QUESTION)))
    assert [n.node.node_id for n in again] == [n.node.node_id for n in nodes]

    with pytest.raises(ReportragAPIError) as refused:
        ReportragLlamaRetriever(server.url, api_key="wrong").retrieve(EN_QUESTION)
    assert refused.value.status == 401
    with pytest.raises(ValueError, match="top_k"):
        ReportragLlamaRetriever(server.url, top_k=0)
