"""``reportrag serve`` as a real process: one worker on Milvus Lite, several on the server."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from reportrag.api.cli import main as cli_main
from reportrag.settings import get_settings

REPO = Path(__file__).resolve().parent.parent
LOADED = re.compile(r"embedding model \S+ loaded in [\d.]+s \(pid (\d+)\)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Served:
    """A ``reportrag serve`` subprocess, its base URL and its stderr so far."""

    def __init__(self, settings, workers: int, tmp_path: Path,
                 extra_env: dict[str, str] | None = None) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp_path / "serve.log"
        env = {
            **os.environ,
            "REPORTRAG_DATA_DIR": str(settings.data_dir),
            "REPORTRAG_MODEL": settings.model,
            "REPORTRAG_CORPUS_DIR": str(settings.corpus_dir),
            "REPORTRAG_COLLECTION": settings.collection,
            "REPORTRAG_THREADS": "1",
            "REPORTRAG_MILVUS_TIMEOUT": "30",
            "HF_HUB_OFFLINE": "1",
        }
        for name in ("REPORTRAG_MILVUS_URI", "REPORTRAG_LITE_PROCESS", "REPORTRAG_LITE_ADDRESS"):
            env.pop(name, None)
        env.update(extra_env or {})
        if settings.milvus_uri:
            env["REPORTRAG_MILVUS_URI"] = settings.milvus_uri
        argv = [sys.executable, "-m", "reportrag.api.cli", "-v", "serve", "--port", str(self.port),
                "--workers", str(workers), "--log-level", "warning"]
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)

    def stderr(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def wait_ready(self, loaded: int, timeout: float = 300) -> None:
        """Until /readyz answers 200 and ``loaded`` workers have logged their model load."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.stderr()[-3000:]
            try:
                ready = httpx.get(f"{self.url}/readyz", timeout=10).status_code == 200
            except httpx.HTTPError:
                ready = False
            if ready and len(LOADED.findall(self.stderr())) >= loaded:
                return
            time.sleep(1)
        raise AssertionError(f"not ready in {timeout}s:\n{self.stderr()[-3000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)


@pytest.fixture
def serve(tmp_path: Path) -> Iterator:
    started: list[Served] = []

    def start(settings, workers: int, extra_env: dict[str, str] | None = None) -> Served:
        s = Served(settings, workers, tmp_path, extra_env)
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()


def _pids(url: str, path: str, requests: int, method: str = "GET", body: dict | None = None):
    """The X-Worker-Pid of each of ``requests`` concurrent requests (fresh connections)."""

    def one(_: int) -> tuple[int, str]:
        r = httpx.request(method, f"{url}{path}", json=body, timeout=60)
        return r.status_code, r.headers.get("x-worker-pid", "")

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(one, range(requests)))


@pytest.mark.slow
@pytest.mark.integration
def test_two_workers_each_load_the_model_once_and_both_answer(server_settings, serve) -> None:
    served = serve(server_settings, workers=2)
    served.wait_ready(loaded=2)
    answers = _pids(served.url, "/healthz", 400)
    assert all(code == 200 for code, _ in answers)
    pids = {int(pid) for _, pid in answers}
    assert len(pids) == 2 and served.proc.pid not in pids, pids
    # Each worker logged its model load exactly once, and those are the workers that answered.
    loads = [int(p) for p in LOADED.findall(served.stderr())]
    assert sorted(loads) == sorted(pids), served.stderr()[-2000:]
    # The settings reached the workers: the test collection (not the default one) is open
    # on the server, in every worker that searches.
    ready = httpx.get(f"{served.url}/readyz", timeout=30).json()
    assert ready["milvus"] == "ok" and ready["capabilities"]["kind"] == "server"
    body = {"query": "How many A100 GPUs does ChatGPT need?", "top_k": 3}
    for _ in range(3):
        for code, _pid in _pids(served.url, "/v1/search", 16, "POST", body):
            assert code == 200
    r = httpx.post(f"{served.url}/v1/search", json=body, timeout=60)
    assert r.json()["hits"][0]["doc_id"].startswith("oss-report-2023")
    assert len(LOADED.findall(served.stderr())) == 2  # no reload under load


def _lite_children(db: Path) -> list[int]:
    out = subprocess.run(["pgrep", "-f", f"reportrag.store.lite_server --data-dir {db}"],
                         capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def _serve_copy(lite_settings, serve, tmp_path: Path, **kw) -> tuple[Served, Path]:
    """``serve`` over a copy of the session's Lite database (this test process holds its lock)."""
    data = tmp_path / "data"
    shutil.copytree(lite_settings.data_dir / "milvus.db", data / "milvus.db")
    return serve(lite_settings.model_copy(update={"data_dir": data}), **kw), data


@pytest.mark.slow
def test_two_workers_share_milvus_lite_served_from_its_own_process(
    lite_settings, serve, tmp_path: Path
) -> None:
    served, data = _serve_copy(lite_settings, serve, tmp_path, workers=2)
    served.wait_ready(loaded=2)
    children = _lite_children(data / "milvus.db")
    assert len(children) == 1, children  # one Lite process, whatever the worker count
    ready = httpx.get(f"{served.url}/readyz", timeout=30).json()
    assert ready["capabilities"]["kind"] == "lite" and "hybrid" in ready["modes"]
    body = {"query": "How many A100 GPUs does ChatGPT need?", "top_k": 3}
    assert all(code == 200 for code, _ in _pids(served.url, "/v1/search", 48, "POST", body))
    pids = {int(pid) for code, pid in _pids(served.url, "/healthz", 200) if code == 200}
    assert len(pids) == 2 and served.proc.pid not in pids and children[0] not in pids
    # Each worker logged its model load exactly once, and those are the workers that answer.
    assert sorted(int(p) for p in LOADED.findall(served.stderr())) == sorted(pids)
    r = httpx.post(f"{served.url}/v1/search", json=body, timeout=60)
    assert r.json()["hits"][0]["doc_id"].startswith("oss-report-2023")
    served.stop()
    assert served.proc.returncode == 0
    assert _lite_children(data / "milvus.db") == []  # stopped with the server


@pytest.mark.slow
def test_sigterm_stops_the_lite_process_cleanly_and_removes_its_address(
    lite_settings, serve, tmp_path: Path
) -> None:
    from reportrag.store.lite_process import address_file, running_address

    served, data = _serve_copy(lite_settings, serve, tmp_path, workers=1)
    served.wait_ready(loaded=1)
    db = data / "milvus.db"
    child = _lite_children(db)
    assert len(child) == 1 and running_address(db) is not None
    os.kill(served.proc.pid, signal.SIGTERM)  # what a supervisor (systemd, Kubernetes) sends
    served.proc.wait(60)
    assert _lite_children(db) == [] and not address_file(db).exists()
    # The child closed the database itself: nothing but a clean stop in its log.
    log = (data / "milvus.db.log").read_text(encoding="utf-8", errors="replace")
    assert "Error" not in log and "Traceback" not in log, log


@pytest.mark.slow
def test_workers_on_milvus_lite_in_the_api_process_fall_back_to_one(
    lite_settings, serve, tmp_path: Path
) -> None:
    served, data = _serve_copy(lite_settings, serve, tmp_path, workers=2,
                               extra_env={"REPORTRAG_LITE_PROCESS": "false"})
    served.wait_ready(loaded=1)
    assert "Milvus Lite in the API process allows one process: serving with 1 worker" in (
        served.stderr())
    assert _lite_children(data / "milvus.db") == []
    pids = {pid for code, pid in _pids(served.url, "/healthz", 40) if code == 200}
    assert pids == {str(served.proc.pid)}  # one process: the server itself
    assert len(LOADED.findall(served.stderr())) == 1


def test_serve_says_in_one_line_when_the_lite_database_is_taken(
    monkeypatch, tmp_path: Path, capsys
) -> None:
    from reportrag.store.lite_process import LiteProcess

    db = tmp_path / "milvus.db"
    with LiteProcess(db):  # another server already has this data directory's database
        monkeypatch.setenv("REPORTRAG_DATA_DIR", str(tmp_path))
        for name in ("REPORTRAG_MILVUS_URI", "REPORTRAG_LITE_PROCESS", "REPORTRAG_LITE_ADDRESS"):
            monkeypatch.delenv(name, raising=False)
        get_settings.cache_clear()
        try:
            code = cli_main(["serve", "--port", str(_free_port())])
        finally:
            get_settings.cache_clear()
            os.environ.pop("REPORTRAG_LITE_ADDRESS", None)
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0 and len(err) == 1, err
    assert "open in another process" in err[0] and err[0].startswith("reportrag:")


@pytest.mark.parametrize(
    ("argv", "needle"),
    [(["serve", "--workers", "0"], "--workers"), (["serve", "--port", "70000"], "--port")],
)
def test_serve_refuses_bad_flags(monkeypatch, tmp_path: Path, capsys, argv, needle) -> None:
    monkeypatch.setenv("REPORTRAG_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        code = cli_main(argv)
    finally:
        get_settings.cache_clear()
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and needle in err[0] and err[0].startswith("reportrag:")


def test_connections_accepted_on_a_proto_0_socket_get_nagle_turned_off() -> None:
    """uvicorn's worker mode listens on socket.socket(family) (proto 0), which asyncio skips."""
    import socket

    from reportrag.api.nodelay import set_nodelay

    class _Transport:  # the one method of asyncio.Transport that set_nodelay uses
        def __init__(self, sock: socket.socket) -> None:
            self._sock = sock

        def get_extra_info(self, name: str) -> object:
            return self._sock if name == "socket" else None

    listener = socket.socket(family=socket.AF_INET)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    client = socket.create_connection(listener.getsockname())
    accepted, _ = listener.accept()
    try:
        assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0  # Nagle on
        assert set_nodelay(_Transport(accepted)) is True
        assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        assert set_nodelay(_Transport(None)) is False  # type: ignore[arg-type]
    finally:
        for s in (accepted, client, listener):
            s.close()
