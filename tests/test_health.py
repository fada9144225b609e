"""/healthz and /readyz say what the Milvus Lite supervisor says, without waiting on Milvus.

The supervisor's state is what `reportrag serve` publishes next to the database (written
here with LiteProcess's own publisher); nothing listens on the address, so any attempt to
reach Milvus would answer "did not answer within …" instead of the state. No model: the
requests under test never get as far as embedding.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from reportrag.api.app import create_app
from reportrag.api.runtime import Runtime
from reportrag.settings import Settings
from reportrag.store.lite_process import LiteProcess, address_file
from reportrag.store.lite_supervisor import FAILED, RESTARTING, STARTING, UP, ChildStatus
from tests.servers import free_port

KEY = "health-admin-key"


class _Embedder:  # the runtime only checks that a model is loaded before asking Milvus
    dim = 384


@pytest.fixture
def lite(tmp_path: Path) -> LiteProcess:
    """A supervisor's publisher for a database in tmp_path (no child is started)."""
    return LiteProcess(tmp_path / "milvus.db", port=free_port())


@pytest.fixture
def client(lite: LiteProcess, tmp_path: Path):
    settings = Settings(_env_file=None, data_dir=tmp_path, corpus_dir=tmp_path,
                        lite_address=lite.address, milvus_timeout=30,
                        api_key=SecretStr(KEY))
    runtime = Runtime(settings, embedder=_Embedder())
    with TestClient(create_app(settings, runtime=runtime)) as c:
        yield c


def _error(r) -> dict:
    body = r.json()
    assert set(body) == {"error"} and {"code", "message", "details"} <= set(body["error"])
    return body["error"]


def test_readyz_and_healthz_document_their_503(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path)
    with TestClient(create_app(settings, runtime=Runtime(settings))) as c:
        spec = c.get("/openapi.json").json()
    for path in ("/readyz", "/healthz"):
        documented = spec["paths"][path]["get"]["responses"]
        schema = documented["503"]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/ErrorOut"}, (path, documented)
    health = spec["paths"]["/healthz"]["get"]["responses"]["200"]["content"]
    assert health["application/json"]["schema"] == {"$ref": "#/components/schemas/HealthOut"}


def test_while_the_lite_process_restarts_every_answer_says_so_with_the_real_wait(
    client: TestClient, lite: LiteProcess
) -> None:
    due = time.time() + 7.3
    lite._publish(ChildStatus(RESTARTING, attempt=4, restarts=3, next_start_at=due,
                              reason="was killed by SIGKILL"))
    r = client.get("/readyz")
    assert r.status_code == 503
    err = _error(r)
    assert err["code"] == "not_ready"
    assert "Milvus Lite process restarting (attempt 4, next in 7." in err["message"]
    retry = int(r.headers["retry-after"])
    assert retry == err["details"]["retry_after_s"] and retry in (7, 8)  # ceil of what is left
    assert err["details"]["lite"]["state"] == RESTARTING
    assert err["details"]["lite"]["reason"] == "was killed by SIGKILL"

    for method, path, body, headers in (
        ("POST", "/v1/search", {"query": "open source"}, {}),
        ("GET", "/v1/documents", None, {}),
        ("POST", "/v1/ingest", {}, {"X-API-Key": KEY}),  # the admin ingestion, too
    ):
        r = client.request(method, path, json=body, headers=headers)
        assert r.status_code == 503, (path, r.text)
        err = _error(r)
        assert err["code"] == "store_unavailable", path
        assert err["message"].startswith("Milvus Lite process restarting (attempt 4, next in")
        assert r.headers["retry-after"] == str(err["details"]["retry_after_s"])
        assert 1 <= err["details"]["retry_after_s"] <= math.ceil(due - time.time()) + 1

    r = client.get("/healthz")  # alive: its store is being brought back
    assert r.status_code == 200, r.text
    store = r.json()["store"]
    assert store["supervised"] is True and store["state"] == RESTARTING
    assert store["attempt"] == 4 and store["restarts"] == 3 and store["pid"] is None
    assert 0 < store["next_start_in_s"] <= 7.3

    lite._publish(ChildStatus(STARTING, attempt=5, restarts=3))
    r = client.get("/readyz")
    assert r.status_code == 503 and r.headers["retry-after"] == "1"
    assert "(attempt 5, starting now)" in _error(r)["message"]


def test_a_lite_process_nobody_restarts_makes_healthz_fail(
    client: TestClient, lite: LiteProcess
) -> None:
    lite._publish(ChildStatus(UP, pid=os.getpid()))
    assert client.get("/healthz").json()["store"]["state"] == UP
    # The process that supervised the child is gone (serve was SIGKILLed; workers remain).
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    info = json.loads(address_file(lite.db).read_text())
    address_file(lite.db).write_text(json.dumps({**info, "supervisor_pid": dead.pid}))
    r = client.get("/healthz")
    assert r.status_code == 503, r.text
    err = _error(r)
    assert err["code"] == "unhealthy" and f"process {dead.pid} is gone" in err["message"]
    assert err["details"]["store"]["state"] == FAILED
    r = client.get("/readyz")
    assert r.status_code == 503
    assert "no longer restarted" in _error(r)["details"]["milvus"]

    lite._publish(ChildStatus(FAILED, reason="the supervisor failed: RuntimeError: bug"))
    r = client.get("/healthz")
    assert r.status_code == 503 and "RuntimeError: bug" in _error(r)["message"]


def test_healthz_without_a_supervisor_reports_the_connection(tmp_path: Path) -> None:
    # An address nobody publishes (a Lite server started by hand): nothing to report on.
    settings = Settings(_env_file=None, data_dir=tmp_path,
                        lite_address=f"http://127.0.0.1:{free_port()}", milvus_timeout=1)
    runtime = Runtime(settings, embedder=_Embedder())
    with TestClient(create_app(settings, runtime=runtime)) as c:
        r = c.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "store": {
        "supervised": False, "state": "disconnected", "pid": None, "attempt": None,
        "restarts": None, "next_start_in_s": None, "reason": ""}}


def test_readyz_names_no_server_path(tmp_path: Path) -> None:
    secret_dir = tmp_path / "very" / "private" / "models"
    settings = Settings(_env_file=None, data_dir=tmp_path / "data", model=str(secret_dir))
    runtime = Runtime(settings)
    runtime.start()  # the model path does not exist: recorded, not raised
    with TestClient(create_app(settings, runtime=runtime)) as client:
        r = client.get("/readyz")
    assert r.status_code == 503 and r.json()["error"]["code"] == "not_ready"
    assert "models" in r.text  # the reason stays readable: the last part of the path
    assert str(tmp_path) not in r.text and "private" not in r.text
