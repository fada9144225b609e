"""Real processes for the live tests: `reportrag serve` and a Milvus server, on free ports."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parent.parent
RESERVED_PORTS = set(range(19530, 19549))  # the suite's own Milvus server (scripts/test.sh)


def free_port() -> int:
    """A loopback TCP port nobody listens on now (never one of the reserved ones)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in RESERVED_PORTS:
            return port


MILVUS_PORTS = 19  # a Milvus server uses its port and the next 18 (scripts/milvus-server.sh)


def free_port_block(size: int = MILVUS_PORTS) -> int:
    """A port P with P..P+size-1 all free, below the kernel's ephemeral range (32768+)."""
    import random

    for _ in range(200):
        base = random.randrange(20000, 32000 - size)
        if any(p in RESERVED_PORTS for p in range(base, base + size)):
            continue
        if all(_is_free(p) for p in range(base, base + size)):
            return base
    raise RuntimeError("no block of free ports")


def _is_free(port: int) -> bool:
    with socket.socket() as s:
        # As servers do: connections of a killed server in TIME_WAIT do not block a listener.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def copy_lite(src_data_dir: Path, dst_data_dir: Path) -> Path:
    """Copy a Milvus Lite database the way docs/operations.md says: under the ingest lock."""
    from reportrag.ingest.pipeline import ingest_lock

    dst_data_dir.mkdir(parents=True, exist_ok=True)
    with ingest_lock(src_data_dir):
        shutil.copytree(
            src_data_dir / "milvus.db",
            dst_data_dir / "milvus.db",
            ignore=shutil.ignore_patterns("LOCK"),
        )
    return dst_data_dir


class ApiServer:
    """`reportrag serve` in its own process (its own session, so signals reach only it)."""

    def __init__(self, workdir: Path, env: dict[str, str], port: int | None = None,
                 args: tuple[str, ...] = ()) -> None:
        self.port = port or free_port()
        self.args = args  # more `reportrag serve` flags, e.g. ("--workers", "2")
        self.url = f"http://127.0.0.1:{self.port}"
        self.workdir = workdir
        self.log = workdir / f"serve-{self.port}.log"
        self.env = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "HF_HUB_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
            **env,
        }
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 240) -> ApiServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "reportrag.api.cli", "serve", "--port", str(self.port),
                 *self.args],
                cwd=self.workdir,  # no stray .env from the repo
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"reportrag serve exited {self.proc.returncode}:\n{self.tail()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"reportrag serve did not come up in {timeout}s:\n{self.tail()}")

    def wait_ready(self, timeout: float = 120) -> None:
        """Until ``/readyz`` answers 200 (the model may still be loading after ``/healthz``)."""
        deadline = time.monotonic() + timeout
        while True:
            ready = httpx.get(f"{self.url}/readyz", timeout=60)
            if ready.status_code == 200:
                return
            assert time.monotonic() < deadline, ready.text
            time.sleep(0.5)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def tail(self, n: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-n:] if self.log.exists() else ""

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


@contextmanager
def live_api(settings, work: Path, env: dict[str, str] | None = None) -> Iterator[ApiServer]:
    """`reportrag serve` over a copy of ``settings``' ingested Lite data, ready to search.

    A copy, so that what the tests do to it (deletions, ingestions) never reaches the
    collection other tests share; the server stops when the block ends.
    """
    data = copy_lite(settings.data_dir, work / "data")
    server = ApiServer(
        work,
        {
            "REPORTRAG_DATA_DIR": str(data),
            "REPORTRAG_CORPUS_DIR": str(settings.corpus_dir),
            "REPORTRAG_MODEL": settings.model,
            **(env or {}),
        },
    ).start()
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


class MilvusServer:
    """A Milvus 2.3.5 standalone server on a free port via scripts/milvus-server.sh."""

    SCRIPT = REPO / "scripts" / "milvus-server.sh"

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        self.data_dir = data_dir
        self.port = port or free_port_block()
        self.uri = f"http://127.0.0.1:{self.port}"

    def _run(self, *args: str, timeout: float = 240) -> str:
        # A restart on a data dir whose server was killed waits for the old etcd session to
        # expire before DDL works again: minutes on a busy machine.
        env = {**os.environ, "MILVUS_PORT": str(self.port), "MILVUS_START_TIMEOUT": "150"}
        proc = subprocess.run(
            [str(self.SCRIPT), *args], env=env, capture_output=True, text=True, timeout=timeout
        )
        if proc.returncode != 0:
            raise RuntimeError(f"milvus-server.sh {' '.join(args)}: {proc.stderr[-3000:]}")
        return proc.stdout.strip()

    @classmethod
    def installed(cls) -> bool:
        return (REPO / ".venv-milvus" / "bin" / "milvus-server").exists()

    def start(self, attempts: int = 3) -> MilvusServer:
        """Start (or restart on the same data dir); retried, because a restart sometimes dies
        at once: its proxy finds the previous run's datacoord session, still in etcd, and
        panics (``unknown service milvus.proto.data.DataCoord``). The session expires."""
        error: RuntimeError | None = None
        for attempt in range(attempts):
            if attempt:
                time.sleep(20)
            self._wait_for_free_ports()
            try:
                uri = self._run("start", str(self.data_dir)).splitlines()[-1]
            except RuntimeError as exc:
                error = exc
                continue
            assert uri == self.uri, uri
            return self
        assert error is not None
        raise error

    def _wait_for_free_ports(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        last = self.port + MILVUS_PORTS - 1
        while not all(_is_free(p) for p in range(self.port, last + 1)):
            if time.monotonic() > deadline:
                raise RuntimeError(f"ports {self.port}..{last} still in use")
            time.sleep(0.5)

    def stop(self) -> None:
        self._run("stop", str(self.data_dir))

    @property
    def pgid(self) -> int:
        return int((self.data_dir / "milvus.pid").read_text().strip())

    def signal(self, sig: int) -> None:
        """Signal the whole server (the wrapper and the milvus binary share a process group)."""
        os.killpg(self.pgid, sig)

    def kill(self) -> None:
        """SIGKILL, as a crash would; the data dir stays as the crash left it."""
        pgid = self.pgid
        os.killpg(pgid, signal.SIGKILL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.2)
        (self.data_dir / "milvus.pid").unlink(missing_ok=True)


def prometheus_binary(name: str) -> str:
    """The path of ``prometheus`` or ``promtool`` (scripts/prometheus-setup.sh installs them):
    the test skips without it, or fails when REPORTRAG_REQUIRE_PROMETHEUS=1 (scripts/test.sh)."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed: run scripts/prometheus-setup.sh"
        if os.environ.get("REPORTRAG_REQUIRE_PROMETHEUS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path
