"""The HTTP contract as deployed: `reportrag serve` with the real model (tests/conftest.py:
live_server), over real sockets.

- a corpus file in Latin-1 is refused with the right encoding named, and the message names
  it relative to the corpus folder: no server path;
- a search whose body arrives after the request-head timeout is still answered;
- the security headers and the /docs policy reach the client through uvicorn.
"""

from __future__ import annotations

import json
import socket
import time

import httpx
import pytest

from tests.conftest import LATIN_1_FILE, LIVE_ADMIN_KEY, LIVE_HEADER_TIMEOUT
from tests.servers import ApiServer

pytestmark = pytest.mark.slow


def test_a_latin_1_corpus_file_is_named_latin_1_without_server_paths(
    live_server: ApiServer,
) -> None:
    r = httpx.post(f"{live_server.url}/v1/ingest", json={"paths": [LATIN_1_FILE]},
                   headers={"X-API-Key": LIVE_ADMIN_KEY}, timeout=120)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "bad_document"
    assert error["message"].startswith(
        f"{LATIN_1_FILE}: not valid UTF-8 (Latin-1/Windows-1252?) at byte "
    ), error
    assert "GBK" not in r.text
    assert str(live_server.workdir) not in r.text and "/tmp/" not in r.text


def test_a_search_whose_body_comes_after_the_head_timeout_is_answered(
    live_server: ApiServer,
) -> None:
    body = json.dumps({"query": "Which company open-sourced Stable Diffusion?",
                       "top_k": 2}).encode()
    head = (
        b"POST /v1/search HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", live_server.port), timeout=60) as sock:
        sock.sendall(head)
        time.sleep(LIVE_HEADER_TIMEOUT * 1.5)  # the head is complete: no timeout applies
        sock.sendall(body)
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    status_line, _, rest = raw.partition(b"\r\n")
    assert status_line.split()[1] == b"200", raw[:500]
    payload = rest.partition(b"\r\n\r\n")[2]
    assert len(json.loads(payload)["hits"]) == 2


def test_security_headers_reach_the_client(live_server: ApiServer) -> None:
    for path in ("/healthz", "/v1/documents", "/no-such-path", "/docs", "/"):
        r = httpx.get(f"{live_server.url}{path}")
        assert r.headers["x-content-type-options"] == "nosniff", path
        assert r.headers["x-frame-options"] == "DENY", path
        assert r.headers["referrer-policy"] == "no-referrer", path
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"], path
    docs = httpx.get(f"{live_server.url}/docs")
    assert "https://cdn.jsdelivr.net" in docs.headers["content-security-policy"]
