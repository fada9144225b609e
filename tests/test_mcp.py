"""The MCP server (issue #25), driven by the official MCP SDK's own client: over streamable
HTTP against a live ``reportrag serve`` (with a read key), and over stdio (``reportrag mcp``
started as a subprocess, as Claude Desktop and Cursor start it)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from reportrag.api import schemas as S
from reportrag.api.mcp import TOOLS, build_server
from tests.servers import REPO, ApiServer, copy_lite, live_api

KEY = "mcp-read-key-51c9a0"
EN_QUESTION = "How many A100 GPUs does ChatGPT need?"
TOOL_NAMES = {"search", "context", "get_chunk", "counterparts", "list_documents"}


def _payload(result: Any) -> dict:
    """A tool's answer: its structured content, which its text content says too."""
    assert not result.is_error, result.content
    assert json.loads(result.content[0].text) == result.structured_content
    return result.structured_content


def _problem(result: Any) -> str:
    assert result.is_error
    return result.content[0].text


# -- the tools' contract, in process (no model, no Milvus) --------------------------------------

async def test_tools_take_the_http_request_models() -> None:
    async with Client(build_server(lambda: None)) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    assert set(tools) == TOOL_NAMES
    for spec in TOOLS:
        tool = tools[spec.name]
        http = spec.arguments.model_json_schema()
        assert set(tool.input_schema.get("properties", {})) == set(http.get("properties", {}))
        assert set(tool.input_schema.get("required", [])) == set(http.get("required", []))
        assert tool.annotations.read_only_hint is True
        assert len(tool.description) > 80 and "instructions" in tool.description or \
            spec.name == "list_documents"
        assert set(tool.output_schema["properties"]) == set(spec.answer.model_fields)
    search = tools["search"].input_schema["properties"]
    assert search["top_k"]["maximum"] == S.MAX_TOP_K and search["top_k"]["minimum"] == 1
    assert search["mode"]["enum"] == ["auto", "dense", "hybrid", "crosslingual"]
    assert search["with_counterparts"]["default"] is True  # MCP's default: translations shown
    assert tools["get_chunk"].input_schema["properties"]["neighbors"]["maximum"] == \
        S.MAX_NEIGHBORS


@pytest.mark.parametrize(("tool", "arguments", "expected"), [
    ("search", {"query": "x", "topk": 3}, "unknown argument(s) 'topk'"),
    ("search", {"query": "x", "top_k": "5"}, "top_k"),
    ("search", {"query": "x", "top_k": 0}, "top_k"),
    ("search", {"query": "x", "mode": "fuzzy"}, "mode"),
    ("search", {"query": "x", "filters": {"lang": "zh"}}, "filters.lang"),
    ("search", {"query": "x", "filters": {"language": ["zh"]}}, "filters.language"),
    ("search", {}, "query"),
    ("context", {"query": "x", "max_tokens": 10}, "max_tokens"),
    ("get_chunk", {"chunk_id": "../etc/passwd"}, "chunk_id"),
    ("get_chunk", {"chunk_id": "a", "neighbors": 99}, "neighbors"),
    ("list_documents", {"all": True}, "unknown argument(s) 'all'"),
])
async def test_bad_arguments_are_tool_errors_naming_the_field(
        tool: str, arguments: dict, expected: str) -> None:
    async with Client(build_server(lambda: None)) as client:
        result = await client.call_tool(tool, arguments)
        assert _problem(result).startswith(f"Error executing tool {tool}: invalid_input: ")
        assert expected in _problem(result)
        unknown = await client.call_tool("drop_collection", {})
        assert unknown.is_error and "drop_collection" in unknown.content[0].text


# -- streamable HTTP against a live server ------------------------------------------------------


@pytest.fixture(scope="module")
def server(lite_settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    work = tmp_path_factory.mktemp("mcp")
    with live_api(lite_settings, work, {"REPORTRAG_READ_API_KEY": KEY}) as live:
        yield live


@asynccontextmanager
async def http_client(server: ApiServer, key: str | None = KEY) -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with httpx2.AsyncClient(headers=headers, timeout=120) as http, \
            Client(streamable_http_client(f"{server.url}/mcp", http_client=http)) as client:
        yield client


async def _exercise(client: Client) -> None:
    """Every tool, called the way a chatbot would: the acceptance of issue #25."""
    assert {t.name for t in (await client.list_tools()).tools} == TOOL_NAMES

    # An English question, Chinese passages wanted: the Chinese edition's passage, with its
    # English counterpart beside it.
    found = _payload(await client.call_tool(
        "search", {"query": EN_QUESTION, "top_k": 3, "filters": {"lang": ["zh"]}}))
    assert found["hits"] and all(h["doc_lang"] == "zh" for h in found["hits"])
    top = next(h for h in found["hits"] if "A100" in h["text"])
    assert any(c["lang"] == "en" and "A100" in c["text"] for c in top["counterparts"])

    ctx = _payload(await client.call_tool(
        "context", {"query": EN_QUESTION, "max_tokens": 600, "top_k": 3}))
    assert ctx["tokens"] <= 600 and ctx["citations"]
    assert '<passage id="1"' in ctx["context"] and "A100" in ctx["context"]

    chunk = _payload(await client.call_tool(
        "get_chunk", {"chunk_id": top["chunk_id"], "neighbors": 1}))
    assert chunk["chunk"]["chunk_id"] == top["chunk_id"]
    assert chunk["before"] or chunk["after"]

    pairs = _payload(await client.call_tool("counterparts", {"chunk_id": top["chunk_id"]}))
    assert pairs["chunk_id"] == top["chunk_id"]
    assert any(c["lang"] == "en" for c in pairs["counterparts"])

    docs = _payload(await client.call_tool("list_documents", {}))
    assert len(docs["documents"]) == 5
    assert {d["lang"] for d in docs["documents"]} >= {"en", "zh", "de"}

    # The store's own refusals come back as tool errors too, and the server keeps serving.
    missing = await client.call_tool("get_chunk", {"chunk_id": "no-such-chunk"})
    assert _problem(missing) == \
        "Error executing tool get_chunk: not_found: no chunk 'no-such-chunk'"
    huge = await client.call_tool("search", {"query": "x" * 5000})
    assert "longer than" in _problem(huge)
    assert _payload(await client.call_tool("search", {"query": EN_QUESTION}))["hits"]


@pytest.mark.slow
async def test_the_sdk_client_uses_every_tool_over_streamable_http(server: ApiServer) -> None:
    async with http_client(server) as client:
        await _exercise(client)


@pytest.mark.slow
async def test_a_wrong_or_missing_bearer_token_is_refused(server: ApiServer) -> None:
    for key in ("not-the-key", None):
        # The SDK reports the refused request as an MCPError (the raw answer is below).
        with pytest.raises(BaseExceptionGroup) as refused:
            async with http_client(server, key) as client:
                await client.list_tools()
        assert refused.group_contains(MCPError)
    raw = httpx.post(f"{server.url}/mcp", headers={"Authorization": "Bearer wrong"},
                     json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, timeout=30)
    assert raw.status_code == 401 and raw.headers["www-authenticate"] == "Bearer"
    assert raw.json()["error"]["code"] == "unauthorized"
    async with http_client(server) as client:  # the right key still works
        assert len((await client.list_tools()).tools) == 5


@pytest.mark.slow
def test_a_page_of_another_origin_is_refused(server: ApiServer) -> None:
    r = httpx.post(f"{server.url}/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                   headers={"Authorization": f"Bearer {KEY}", "Origin": "http://evil.example"},
                   timeout=30)
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"


@pytest.mark.slow
async def test_mcp_calls_are_counted_without_their_arguments(server: ApiServer) -> None:
    async with http_client(server) as client:
        assert _payload(await client.call_tool("search", {"query": EN_QUESTION}))["hits"]
    text = httpx.get(f"{server.url}/metrics", headers={"X-API-Key": KEY}, timeout=30).text
    calls = [line for line in text.splitlines() if line.startswith("reportrag_mcp_tool_calls")]
    assert any('tool="search"' in line and 'outcome="ok"' in line for line in calls), calls
    assert 'route="/mcp"' in text
    assert "A100" not in text and KEY not in text


# -- stdio: `reportrag mcp` as a subprocess -----------------------------------------------------

@pytest.mark.slow
async def test_the_sdk_client_uses_every_tool_over_stdio(
        lite_settings, tmp_path: Path) -> None:
    data = copy_lite(lite_settings.data_dir, tmp_path / "data")
    env = {k: v for k, v in os.environ.items() if not k.startswith("REPORTRAG_")}
    env.update({"REPORTRAG_DATA_DIR": str(data), "REPORTRAG_MODEL": lite_settings.model,
                "REPORTRAG_CORPUS_DIR": str(lite_settings.corpus_dir), "HF_HUB_OFFLINE": "1"})
    params = StdioServerParameters(command=sys.executable, args=["-m", "reportrag.api.cli", "mcp"],
                                   env=env, cwd=str(REPO))
    async with Client(params, read_timeout_seconds=180) as client:
        await _exercise(client)


@pytest.mark.slow
def test_malformed_requests_get_json_rpc_errors_and_the_server_keeps_serving(
        server: ApiServer) -> None:
    auth = {"Authorization": f"Bearer {KEY}", "Accept": "application/json, text/event-stream"}
    garbage = httpx.post(f"{server.url}/mcp", content=b"{not json",
                         headers={**auth, "Content-Type": "application/json"}, timeout=30)
    assert 400 <= garbage.status_code < 500
    assert garbage.json()["error"]["code"] == -32700  # JSON-RPC parse error
    wrong_type = httpx.post(f"{server.url}/mcp", content=b"<xml/>",
                            headers={**auth, "Content-Type": "text/xml"}, timeout=30)
    assert 400 <= wrong_type.status_code < 500
    huge = httpx.post(f"{server.url}/mcp", content=b"x" * (3 << 20),
                      headers={**auth, "Content-Type": "application/json"}, timeout=30)
    assert huge.status_code == 413 and huge.json()["error"]["code"] == "payload_too_large"
    ok = httpx.post(f"{server.url}/v1/search", json={"query": EN_QUESTION},
                    headers={"X-API-Key": KEY}, timeout=60)
    assert ok.status_code == 200 and ok.json()["hits"]


def test_the_sdk_is_built_on_the_first_call_to_mcp_not_at_start() -> None:
    """A serving process that no agent calls does not build the MCP server (the SDK's
    memory, docs/benchmarks.md#memory); the first call to /mcp builds and starts it, and
    the next lifespan starts a fresh session manager."""
    from contextlib import asynccontextmanager
    from types import SimpleNamespace

    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from reportrag.api import mcp as M
    from reportrag.settings import Settings

    endpoint: Any = None

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        async with endpoint.running():
            yield

    app = FastAPI(lifespan=lifespan)
    app.state.runtime = SimpleNamespace(settings=Settings(read_api_key=None))
    endpoint = M.mount(app, [])
    hello = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
             "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                        "clientInfo": {"name": "t", "version": "0"}}}
    headers = {"accept": "application/json, text/event-stream"}
    for lifespan_no in range(2):  # two lifespans, as tests start apps
        with TestClient(app) as client:
            assert (endpoint.server is None) == (lifespan_no == 0)
            assert endpoint._manager is None  # nothing started before the first call
            answer = client.post("/mcp", json=hello, headers=headers)
            assert answer.status_code == 200, answer.text
            assert answer.json()["result"]["serverInfo"]["name"] == "reportrag"
            assert endpoint.server is not None and endpoint._manager is not None
        assert endpoint._manager is None
