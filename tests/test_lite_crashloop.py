"""A Milvus Lite process that keeps crashing under a real `reportrag serve --workers 2`.

The child is SIGKILLed ten times in a row, each time as soon as the service is back. The
supervisor must bring it back every time (it once gave up after five crashes a minute, and
the service stayed down while /healthz said 200), /readyz must say 503 with the restart
state while the child is gone, /healthz must show that state without failing (the
supervisor is alive), and searches must answer again within 30 s of the last kill, in both
workers (they reach the child by address and must reconnect to each new one).

With the default backoff (0.5 s doubling to 10 s) the ten restarts take about a minute.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.servers import REPO, ApiServer

pytestmark = pytest.mark.slow
DOC = "002_e3e1792454d159ff.txt"
KEY = "crashloop-admin-key"
QUERY = {"query": "Which browser did the Mozilla open source project develop?", "top_k": 3}
KILLS = 10
BACK_WITHIN_S = 60  # between kills: the capped backoff (10 s) plus a start, with slack
LAST_KILL_WITHIN_S = 30  # the acceptance bound after the last kill


def _children(db: Path) -> list[int]:
    out = subprocess.run(["pgrep", "-f", f"reportrag.store.lite_server --data-dir {db}"],
                         capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


@dataclass
class Probe:
    """/readyz and /healthz once, with whether a Lite child existed around them."""

    child_before: bool
    ready: httpx.Response
    health: httpx.Response
    child_after: bool

    @property
    def surely_down(self) -> bool:
        return not self.child_before and not self.child_after


def _probe(url: str, db: Path) -> Probe:
    before = bool(_children(db))
    ready = httpx.get(f"{url}/readyz", timeout=60)
    health = httpx.get(f"{url}/healthz", timeout=60)
    return Probe(before, ready, health, bool(_children(db)))


def _until_back(url: str, db: Path, killed: int, within: float) -> list[Probe]:
    """Probe until a new child serves and /readyz is 200 again; every probe on the way."""
    deadline = time.monotonic() + within
    probes: list[Probe] = []
    while time.monotonic() < deadline:
        probe = _probe(url, db)
        probes.append(probe)
        if probe.ready.status_code == 200 and [p for p in _children(db) if p != killed]:
            return probes
        time.sleep(0.1)
    raise AssertionError(f"Milvus Lite was not back within {within:g}s of SIGKILL to {killed}; "
                         f"last /readyz: {probes[-1].ready.text if probes else None}")


def _check_while_down(probes: list[Probe], kill: int) -> None:
    """While the child was gone /readyz said so, naming the restart, and /healthz held."""
    for p in probes[:-1]:  # the last one is the first 200
        assert p.ready.status_code == 503, p.ready.text
        err = p.ready.json()["error"]
        assert err["code"] == "not_ready"
        assert p.ready.headers["retry-after"] == str(err["details"]["retry_after_s"])
        assert 1 <= err["details"]["retry_after_s"] <= 10  # never more than the cap
        assert p.health.status_code == 200, p.health.text  # the supervisor is alive
    down = [p for p in probes if p.surely_down]
    assert down, "no probe while the child was down"
    named = [p for p in down if f"Milvus Lite process restarting (attempt {kill}," in
             p.ready.json()["error"]["message"]]
    assert named, [p.ready.json()["error"]["message"] for p in down]
    states = {p.health.json()["store"]["state"] for p in named}
    assert states <= {"restarting", "starting"}, states


def _searches(url: str, n: int) -> list[int]:
    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(
            lambda _: httpx.post(f"{url}/v1/search", json=QUERY, timeout=60).status_code,
            range(n)))


def test_a_crash_looping_lite_process_is_restarted_and_readyz_tells_the_truth(
    tmp_path: Path, model_path: str
) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(REPO / "corpus" / DOC, corpus / DOC)
    data = tmp_path / "data"
    server = ApiServer(tmp_path, {
        "REPORTRAG_DATA_DIR": str(data),
        "REPORTRAG_CORPUS_DIR": str(corpus),
        "REPORTRAG_MODEL": model_path,
        "REPORTRAG_THREADS": "1",
        "REPORTRAG_MILVUS_TIMEOUT": "30",
        "REPORTRAG_API_KEY": KEY,
    }, args=("--workers", "2")).start()
    db = (data / "milvus.db").resolve()
    try:
        r = httpx.post(f"{server.url}/v1/ingest", json={}, headers={"X-API-Key": KEY},
                       timeout=300)
        assert r.status_code == 200, r.text
        _until_back(server.url, db, killed=-1, within=120)  # both workers up and ready
        for kill in range(1, KILLS + 1):
            (child,) = _children(db)
            os.kill(child, signal.SIGKILL)
            killed_at = time.monotonic()
            if kill < KILLS:
                _check_while_down(_until_back(server.url, db, child, BACK_WITHIN_S), kill)
        # After the last kill: searches answer again within the bound, in every worker. Each
        # worker reconnects on its first request after the restart, and requests that arrive
        # during that reconnect get a fast 503 (reportrag/api/runtime.py): so the bound is for three
        # batches of concurrent searches in a row all answered, spread over both workers.
        deadline = killed_at + LAST_KILL_WITHIN_S
        clean = 0
        while clean < 3 and time.monotonic() < deadline:
            codes = _searches(server.url, 8)
            clean = clean + 1 if codes == [200] * 8 else 0
            if clean == 0:
                time.sleep(0.2)
        assert clean == 3, f"searches did not all answer within {LAST_KILL_WITHIN_S}s: {codes}"
        assert _searches(server.url, 40) == [200] * 40
        workers = {httpx.get(f"{server.url}/healthz", timeout=30).headers["x-worker-pid"]
                   for _ in range(40)}
        assert len(workers) == 2, workers
        health = httpx.get(f"{server.url}/healthz", timeout=30).json()["store"]
        assert health["state"] == "up" and health["restarts"] == KILLS
    except BaseException:
        print(server.tail(8000))  # shown by pytest with the failure
        raise
    finally:
        server.stop()
    assert _children(db) == []
