"""Every call reportrag makes to Milvus is bounded by the configured timeout."""

from __future__ import annotations

import ast
import socket
import threading
import time
from pathlib import Path

import pytest

from reportrag.errors import StoreUnavailableError
from reportrag.store import MilvusStore

STORE = Path(__file__).resolve().parent.parent / "reportrag" / "store"
LOCAL_ONLY = {"close"}  # closes the channel; no RPC to wait for


def _client_calls(tree: ast.AST) -> list[ast.Call]:
    """Calls on a pymilvus client: ``self._c().x()``, ``client.x()``, ``MilvusClient()``."""
    calls = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        if isinstance(f, ast.Name) and f.id == "MilvusClient":
            calls.append(node)
        elif isinstance(f, ast.Attribute) and f.attr not in LOCAL_ONLY:
            recv = f.value
            on_c = (
                isinstance(recv, ast.Call)
                and isinstance(recv.func, ast.Attribute)
                and recv.func.attr == "_c"
            )
            if on_c or (isinstance(recv, ast.Name) and recv.id == "client"):
                calls.append(node)
    return calls


def test_every_pymilvus_call_in_the_store_passes_a_timeout() -> None:
    missing, seen = [], 0
    for path in sorted(STORE.glob("*.py")):
        for call in _client_calls(ast.parse(path.read_text(encoding="utf-8"))):
            seen += 1
            if not any(k.arg == "timeout" for k in call.keywords):
                missing.append(f"{path.name}:{call.lineno} {ast.unparse(call.func)}")
    assert seen >= 15, "the audit found too few client calls: has the store changed shape?"
    assert missing == [], missing


@pytest.fixture()
def black_hole():
    """A loopback port that accepts TCP connections and never says a word (a hung server)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(srv.accept()[0])
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.getsockname()[1]}"
    stop.set()
    t.join()
    for s in held:
        s.close()
    srv.close()


def test_a_hung_server_fails_within_the_timeout(black_hole: str) -> None:
    store = MilvusStore(black_hole, "t_hang", 8, timeout=1.5)
    started = time.monotonic()
    with pytest.raises(StoreUnavailableError) as err:
        store.connect()
    elapsed = time.monotonic() - started
    assert "did not answer within 1.5s" in err.value.message
    assert elapsed < 1.5 + 3, elapsed  # the timeout plus slack for a busy machine, not minutes
