"""Connection limits of `reportrag serve`, over raw sockets: the request-head and keep-alive
timeouts (REPORTRAG_HEADER_TIMEOUT, REPORTRAG_KEEPALIVE_TIMEOUT).

A real server process with short timeouts. It runs without a model (its path does not exist,
so /readyz says 503): connection handling happens before any route, and /healthz answers
regardless, so these tests need neither the model nor Milvus and start in a second or two.
A slow but complete search on the real model is in tests/test_contract_live.py.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import REPO, ApiServer

HEADER_TIMEOUT = 2.0
# Longer than uvicorn's default (5 s), so that the setting is seen to be applied.
KEEPALIVE_TIMEOUT = 10.0
HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    work = tmp_path_factory.mktemp("timeouts")
    served = ApiServer(
        work,
        {
            "REPORTRAG_DATA_DIR": str(work / "data"),
            "REPORTRAG_MODEL": str(work / "no-model"),
            "REPORTRAG_LITE_PROCESS": "false",
            "REPORTRAG_HEADER_TIMEOUT": str(HEADER_TIMEOUT),
            "REPORTRAG_KEEPALIVE_TIMEOUT": str(KEEPALIVE_TIMEOUT),
        },
    ).start(timeout=60)
    try:
        yield served
    finally:
        served.stop()


def _connect(server: ApiServer) -> socket.socket:
    # The read timeout only stops a test that would otherwise hang (as they all did before
    # the head timeout existed); it is far above every timeout under test.
    return socket.create_connection(("127.0.0.1", server.port), timeout=30)


def _read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes; fails if it never does."""
    chunks = []
    while True:
        try:
            data = sock.recv(65536)
        except ConnectionResetError:
            break
        except TimeoutError:
            pytest.fail(f"the server kept the connection open; it sent {b''.join(chunks)!r}")
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks)


def _read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One response (status, headers, body by Content-Length), leaving the socket open."""
    raw = b""
    while b"\r\n\r\n" not in raw:
        data = sock.recv(65536)
        assert data, f"closed before a full response head: {raw!r}"
        raw += data
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines)}
    while len(body) < int(headers.get("content-length", "0")):
        data = sock.recv(65536)
        assert data, "closed in the middle of a body"
        body += data
    return int(status_line.split()[1]), headers, body


def _parse(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines)}
    return int(status_line.split()[1]), headers, body


def test_half_a_request_head_gets_408_and_the_connection_is_closed(server: ApiServer) -> None:
    with _connect(server) as sock:
        opened = time.monotonic()
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")  # no blank line
        raw = _read_until_closed(sock)
        waited = time.monotonic() - opened
    status, headers, body = _parse(raw)
    assert status == 408, raw
    assert headers["connection"] == "close"
    assert headers["content-type"] == "application/json"
    assert headers["x-content-type-options"] == "nosniff"
    error = json.loads(body)["error"]
    assert error["code"] == "request_timeout"
    assert error["details"] == {"timeout_s": HEADER_TIMEOUT} and error["message"]
    assert waited >= HEADER_TIMEOUT * 0.9  # not before its time


def test_a_connection_that_sends_nothing_is_closed_without_an_answer(server: ApiServer) -> None:
    with _connect(server) as sock:
        opened = time.monotonic()
        assert _read_until_closed(sock) == b""
        assert time.monotonic() - opened >= HEADER_TIMEOUT * 0.9


def test_a_head_trickling_in_within_the_timeout_is_answered(server: ApiServer) -> None:
    pieces = [HEALTHZ[:10], HEALTHZ[10:25], HEALTHZ[25:]]
    with _connect(server) as sock:
        for piece in pieces:
            sock.sendall(piece)
            time.sleep(HEADER_TIMEOUT / 8)  # all of it well inside the limit
        status, _, body = _read_response(sock)
    assert status == 200 and json.loads(body)["status"] == "ok"


def test_a_request_cut_off_on_a_kept_alive_connection_gets_408_too(server: ApiServer) -> None:
    """The next request's head is timed from its first byte, not from the connection."""
    with _connect(server) as sock:
        sock.sendall(HEALTHZ)
        assert _read_response(sock)[0] == 200
        time.sleep(HEADER_TIMEOUT * 1.5)  # idle: the keep-alive timeout's business, not this one
        sock.sendall(b"GET /healthz HTTP/1.1\r\n")
        status, _, body = _parse(_read_until_closed(sock))
    assert status == 408 and json.loads(body)["error"]["code"] == "request_timeout"


def test_an_idle_kept_alive_connection_lives_for_the_keepalive_timeout(server: ApiServer) -> None:
    with _connect(server) as sock:
        sock.sendall(HEALTHZ)
        assert _read_response(sock)[0] == 200
        answered = time.monotonic()
        # Past uvicorn's default keep-alive (5 s), inside the configured one: still usable.
        time.sleep(6.0)
        sock.sendall(HEALTHZ)
        assert _read_response(sock)[0] == 200
        answered = time.monotonic()
        assert _read_until_closed(sock) == b""
        assert time.monotonic() - answered >= KEEPALIVE_TIMEOUT * 0.9


@pytest.mark.parametrize("value", ["0", "-1", "abc", "3601", "nan"])
def test_a_bad_timeout_setting_stops_serve_with_one_line(value: str, tmp_path: Path) -> None:
    for name in ("REPORTRAG_HEADER_TIMEOUT", "REPORTRAG_KEEPALIVE_TIMEOUT"):
        proc = subprocess.run(
            [sys.executable, "-m", "reportrag.api.cli", "serve", "--port", "1"],
            cwd=tmp_path, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), name: value},
            capture_output=True, text=True, timeout=60,
        )
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and name in lines[0], proc.stderr
