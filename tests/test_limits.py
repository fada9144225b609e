"""Garbage in, a clear 4xx out: every limit of the API fed empty, huge, mistyped, mis-encoded
and injection-looking input (real app, real model, the session's Milvus Lite corpus)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from reportrag.api.app import create_app
from reportrag.api.runtime import Runtime
from reportrag.api.schemas import NON_BLANK

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parent.parent
KEY = "limits-admin-key-0e4a"
INJECTIONS = [
    "'; DROP TABLE chunks; --",
    'lang == "en" or 1==1',
    '") or chunk_id != ("',
    "{{7*7}} ${jndi:ldap://127.0.0.1/x}",
    "<script>alert(1)</script>",
    "../../../../etc/passwd",
    "a\x00b",
    "\u202eevil\u202c",
]


@pytest.fixture(scope="module")
def client(lite_settings, embedder):
    from pydantic import SecretStr

    settings = lite_settings.model_copy(update={"api_key": SecretStr(KEY)})
    runtime = Runtime(settings, embedder=embedder)
    runtime.start()
    assert runtime.service is not None, runtime.store_error
    with TestClient(create_app(settings, runtime=runtime)) as c:
        yield c


def _error(r) -> dict:
    assert r.status_code < 500, r.text
    body = r.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details", "request_id"}
    assert isinstance(body["error"]["details"], dict) and body["error"]["message"]
    assert "Traceback" not in r.text
    return body["error"]


def _raw(client: TestClient, path: str, data: bytes, ctype: str = "application/json"):
    return client.post(path, content=data, headers={"content-type": ctype})


JSON = "application/json"
CJK_OVER_TOKENS = "开源商业化" * 220  # 1100 characters (under the 2000 limit), > 512 tokens


@pytest.mark.parametrize("path", ["/v1/search", "/v1/context"])
@pytest.mark.parametrize(
    "body,status,code",
    [
        ({}, 422, "invalid_request"),
        ({"query": ""}, 422, "invalid_request"),
        ({"query": " \t\n\u3000\u2028"}, 422, "invalid_input"),
        ({"query": "x" * 2001}, 422, "invalid_input"),
        ({"query": CJK_OVER_TOKENS}, 422, "token_limit"),
        ({"query": None}, 422, "invalid_request"),
        ({"query": 42}, 422, "invalid_request"),
        ({"query": ["a"]}, 422, "invalid_request"),
        ({"query": {"$ne": ""}}, 422, "invalid_request"),
        ({"query": "ok", "top_k": 0}, 422, "invalid_request"),
        ({"query": "ok", "top_k": -1}, 422, "invalid_request"),
        ({"query": "ok", "top_k": 10**20}, 422, "invalid_request"),
        ({"query": "ok", "top_k": "5"}, 422, "invalid_request"),
        ({"query": "ok", "top_k": 5.5}, 422, "invalid_request"),
        ({"query": "ok", "top_k": True}, 422, "invalid_request"),
        ({"query": "ok", "top_k": 101}, 422, "invalid_request"),
        ({"query": "ok", "filters": {"lang": ["en"] * 51}}, 422, "invalid_request"),
        ({"query": "ok", "filters": {"section": "s" * 501}}, 422, "invalid_request"),
        ({"query": "ok", "filters": {"section": "a\x01b"}}, 422, "invalid_request"),
        ({"query": "ok", "filters": {"doc_id": ['x" or 1==1']}}, 422, "invalid_request"),
        ({"query": "ok", "filters": {"date_from": "2024-02-30"}}, 422, "bad_filter"),
        ({"query": "ok", "filters": {"date_from": "20240101"}}, 422, "invalid_request"),
        (
            {"query": "ok", "filters": {"date_from": "2024-05-01", "date_to": "2024-01-01"}},
            422,
            "bad_filter",
        ),
        ({"query": "ok", "api_key": "x"}, 422, "invalid_request"),
    ],
)
def test_bad_bodies_get_a_4xx_in_the_error_shape(client, path, body, status, code) -> None:
    if path == "/v1/context" and body.get("top_k") == 101:
        body = {**body, "top_k": 51}  # the context endpoint's own limit
    r = client.post(path, json=body)
    assert r.status_code == status, r.text
    assert _error(r)["code"] == code


@pytest.mark.parametrize(
    "body",
    [
        {"query": "ok", "max_tokens": 63},
        {"query": "ok", "max_tokens": 32_001},
        {"query": "ok", "max_tokens": "1500"},
        {"query": "ok", "max_tokens": 1e9},
        {"query": "ok", "neighbors": 6},
        {"query": "ok", "neighbors": -1},
        {"query": "ok", "top_k": 51},
    ],
)
def test_context_limits(client, body: dict) -> None:
    r = client.post("/v1/context", json=body)
    assert r.status_code == 422 and _error(r)["code"] == "invalid_request"


def test_integral_floats_and_the_limits_themselves_are_accepted(client) -> None:
    longest = ("open source " * 200)[:2000]
    r = client.post("/v1/search", json={"query": longest, "top_k": 100.0, "mode": "dense"})
    assert r.status_code == 200, r.text
    r = client.post("/v1/context", json={"query": "Stability AI", "max_tokens": 64, "top_k": 50,
                                         "neighbors": 5})
    assert r.status_code == 200 and r.json()["tokens"] <= 64


@pytest.mark.parametrize(
    "data,ctype,status",
    [
        (b"", "application/json", 422),
        (b"null", "application/json", 422),
        (b"[]", "application/json", 422),
        (b'"a string"', "application/json", 422),
        (b"not json{", "application/json", 422),
        (b'{"query": "\xff\xfe bad utf-8"}', "application/json", 400),
        (b'{"query": "\\ud800 lone surrogate"}', "application/json", 422),
        (b'{"query": "x", "filters": ' + b"[" * 20_000 + b"]" * 20_000 + b"}", JSON, 400),
        (b"query=open+source", "application/x-www-form-urlencoded", 422),
        (b"open source", "text/plain", 422),
        (b'{"query": "x" ' + b" " * 70_000 + b"}", "application/json", 413),
    ],
)
def test_malformed_and_mis_encoded_bodies(client, data: bytes, ctype: str, status: int) -> None:
    r = _raw(client, "/v1/search", data, ctype)
    assert r.status_code == status, r.text
    _error(r)


def test_utf16_json_is_understood_not_crashed_on(client) -> None:
    r = _raw(client, "/v1/search", json.dumps({"query": "开源", "top_k": 1}).encode("utf-16"))
    assert r.status_code == 200 and len(r.json()["hits"]) == 1  # RFC 8259 §8.1 auto-detection


@pytest.mark.parametrize("query", INJECTIONS)
def test_injection_looking_queries_are_just_text(client, query: str) -> None:
    r = client.post("/v1/search", json={"query": query, "top_k": 3})
    assert r.status_code == 200, r.text
    assert len(r.json()["hits"]) == 3  # searched for, not executed and not a filter


@pytest.mark.parametrize("value", INJECTIONS)
def test_injection_looking_path_and_query_parameters(client, value: str) -> None:
    from urllib.parse import quote

    for url in (f"/v1/documents/{quote(value, safe='')}", f"/v1/chunks/{quote(value, safe='')}"):
        r = client.get(url)
        assert r.status_code in (404, 422), (url, r.text)
        _error(r)
    r = client.get("/v1/chunks/x", params={"neighbors": value})
    assert r.status_code == 422 and _error(r)["code"] == "invalid_request"


def test_unknown_routes_and_methods(client) -> None:
    assert _error(client.get("/v1/nope"))["code"] == "not_found"
    r = client.patch("/v1/documents/rise-of-open-source-llms")
    assert r.status_code == 405 and _error(r)["code"] == "method_not_allowed"
    assert r.headers["allow"] == "DELETE, GET, PUT"  # the three routers' methods for this path


@pytest.mark.parametrize(
    "paths,status,code",
    [
        (["../../etc/passwd"], 422, "invalid_request"),
        (["/etc/passwd"], 422, "invalid_request"),
        ([".hidden"], 422, "invalid_request"),
        (["nope.txt"], 404, "not_found"),
        ([1], 422, "invalid_request"),
        (["a" * 256], 422, "invalid_request"),
        (["ok.txt"] * 1001, 422, "invalid_request"),
        ("002_e3e1792454d159ff.txt", 422, "invalid_request"),
    ],
)
def test_ingest_paths_are_checked(client, paths, status: int, code: str) -> None:
    r = client.post("/v1/ingest", json={"paths": paths, "dry_run": True},
                    headers={"X-API-Key": KEY})
    assert r.status_code == status, r.text
    assert _error(r)["code"] == code


def test_openapi_publishes_the_configured_limits(lite_settings, embedder) -> None:
    settings = lite_settings.model_copy(update={"max_query_chars": 321})
    app = create_app(settings, runtime=Runtime(settings))
    schema = app.openapi()
    for model in ("SearchIn", "ContextIn"):
        query = schema["components"]["schemas"][model]["properties"]["query"]
        assert query["maxLength"] == 321 and query["pattern"] == NON_BLANK
    assert schema["paths"]["/v1/ingest"]["post"]["security"] == [{"AdminKey": []}]
    assert schema["components"]["securitySchemes"]["AdminKey"]["name"] == "X-API-Key"
    with TestClient(app) as c:
        assert c.get("/openapi.json").json() == schema


_HOLD_LOCK = """
import sys
from contextlib import ExitStack
from pathlib import Path
from reportrag.ingest.pipeline import ingest_lock
with ExitStack() as stack:
    for d in sys.argv[1:]:
        stack.enter_context(ingest_lock(Path(d)))
    print("locked", flush=True)
    sys.stdin.readline()
"""


def test_a_second_ingestion_gets_409_and_the_cli_exit_6(client, lite_settings, tmp_path) -> None:
    # The CLI gets a data dir of its own: Milvus Lite lets one process open a database, and
    # this test process holds the session's open.
    cli_data = tmp_path / "cli-data"
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_LOCK, str(lite_settings.data_dir), str(cli_data)],
        cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        r = client.post("/v1/ingest", json={"dry_run": True}, headers={"X-API-Key": KEY})
        assert r.status_code == 409 and _error(r)["code"] == "conflict", r.text
        assert "another ingestion is running" in r.json()["error"]["message"]
        r = client.delete("/v1/documents/no-such-doc", headers={"X-API-Key": KEY})
        assert r.status_code == 409  # deletes take the same lock: one writer at a time
        cli = subprocess.run(
            [sys.executable, "-m", "reportrag.api.cli", "ingest", "--dry-run"],
            cwd=tmp_path, capture_output=True, text=True, timeout=300,
            env={**os.environ, "PYTHONPATH": str(REPO), "REPORTRAG_DATA_DIR": str(cli_data),
                 "REPORTRAG_CORPUS_DIR": str(lite_settings.corpus_dir),
                 "REPORTRAG_MODEL": lite_settings.model},
        )
        lines = cli.stderr.strip().splitlines()
        assert cli.returncode == 6, cli.stderr
        assert len(lines) == 1 and lines[0].startswith("reportrag: error: another ingestion")
    finally:
        holder.communicate("\n", timeout=30)
    r = client.post("/v1/ingest", json={"dry_run": True}, headers={"X-API-Key": KEY})
    assert r.status_code == 200 and r.json()["added"] == 0  # free again once the holder left


def test_cli_ingest_while_the_lite_database_is_open_elsewhere_is_one_line(
    client, lite_settings, tmp_path
) -> None:
    # This test process holds the session's Milvus Lite database open (the `client` fixture).
    cli = subprocess.run(
        [sys.executable, "-m", "reportrag.api.cli", "ingest", "--dry-run"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(REPO),
             "REPORTRAG_DATA_DIR": str(lite_settings.data_dir),
             "REPORTRAG_CORPUS_DIR": str(lite_settings.corpus_dir),
             "REPORTRAG_MODEL": lite_settings.model},
    )
    lines = cli.stderr.strip().splitlines()
    assert cli.returncode == 4 and len(lines) == 1, cli.stderr
    assert "is open in another process" in lines[0] and "POST /v1/ingest" in lines[0]
