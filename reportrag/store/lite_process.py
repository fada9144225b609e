"""Milvus Lite in a child process of its own, for ``reportrag serve``.

Milvus Lite 3.x is a gRPC server that pymilvus starts on a thread of the calling process, so
by default its searches (pure Python) share the API's interpreter lock with the HTTP server,
the request handling and the gRPC client. Started as a child process instead, the same
server runs on the other core: on this 2-core machine ``POST /v1/search`` at concurrency 16
goes from 25 to ~40 requests/s (docs/benchmarks.md), and several API workers can share one
Lite database (Lite allows one process per database).

The child is ``python -m reportrag.store.lite_server`` on a 127.0.0.1 port the kernel picks
(kept across restarts, so the address the workers were given stays right). It is
restarted when it dies while in use (a few times a minute at most), it gets SIGTERM when
this process dies however it dies (Linux ``PR_SET_PDEATHSIG``), and :meth:`LiteProcess.stop`
closes it cleanly (SIGTERM, then SIGKILL after ``stop_timeout``).

While it runs, ``<db>.address`` next to the database names its address and pid, so that the
other commands (``reportrag ingest``, ``search``, ``eval``) reach the database through it
instead of failing on Lite's one-process lock (:func:`running_address`).
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from reportrag.errors import StoreError

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
# Restarts allowed within RESTART_WINDOW_S before the child is left down (and the API 503s).
MAX_RESTARTS = 5
RESTART_WINDOW_S = 60.0
# Why a Lite database cannot be opened while another process holds it, and what to do.
LITE_LOCKED = ("the database is open in another process (Milvus Lite allows one: stop it, or "
               "ingest through the running API's POST /v1/ingest)")


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


class LiteProcess:
    """One Milvus Lite database served from a child process; :meth:`start` gives its address."""

    def __init__(self, db: Path, *, port: int = 0, start_timeout: float = 120.0,
                 stop_timeout: float = 15.0) -> None:
        self.db = Path(db).resolve()
        self.port = port
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.restarts = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._watcher: threading.Thread | None = None
        self._restart_times: list[float] = []

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return None if proc is None else proc.pid

    def start(self) -> str:
        """Start the child and wait until it accepts connections; StoreError when it cannot."""
        self.db.parent.mkdir(parents=True, exist_ok=True)
        self._spawn()
        self._watcher = threading.Thread(target=self._watch, name="lite-process-watch",
                                         daemon=True)
        self._watcher.start()
        log.info("Milvus Lite %s serving from process %s at %s", self.db, self.pid, self.address)
        return self.address

    @property
    def log_path(self) -> Path:
        """The child's stderr (Milvus Lite's warnings and errors), next to the database."""
        return self.db.with_name(self.db.name + ".log")

    def _spawn(self) -> None:
        cmd = [sys.executable, "-u", "-m", "reportrag.store.lite_server",  # -u: lines now
               "--data-dir", str(self.db), "--port", str(self.port)]
        with self.log_path.open("ab") as err:
            offset = err.tell()
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=err, preexec_fn=_die_with_parent,  # noqa: PLW1509
                                    # Signals meant for the API's process group (Ctrl-C, a
                                    # supervisor's SIGTERM) reach the child through stop().
                                    start_new_session=True)
        deadline = time.monotonic() + self.start_timeout
        # Ready when the child prints "READY 127.0.0.1:<port>": it has bound the port (one the
        # kernel picked on the first start, the same one on a restart) and accepts calls.
        said = b""
        while (port := _ready_port(said)) is None:
            assert proc.stdout is not None
            if select.select([proc.stdout], [], [], 0.05)[0]:
                got = os.read(proc.stdout.fileno(), 4096)
                said += got
                if not got:  # closed: the child is exiting
                    time.sleep(0.05)
            code = proc.poll()
            if code is not None and _ready_port(said) is None:
                _close(proc)
                raise StoreError(
                    f"Milvus Lite process for {self.db} did not start: "
                    f"{self._reason(offset, code)}",
                    details={"db": str(self.db), "exit_status": code, "log": str(self.log_path)},
                )
            if time.monotonic() > deadline:
                _terminate(proc, self.stop_timeout)
                raise StoreError(f"Milvus Lite process for {self.db} did not answer within "
                                 f"{self.start_timeout:g}s (log: {self.log_path})",
                                 details={"db": str(self.db), "log": str(self.log_path)})
        self.port = port
        with self._lock:
            if self._stopping.is_set():  # stop() ran while this (re)start was under way
                _terminate(proc, self.stop_timeout)
                return
            self._proc = proc
            self._publish(proc.pid)

    def _publish(self, pid: int) -> None:
        """Write ``<db>.address`` (atomically) for the other commands to find this process."""
        path = address_file(self.db)
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"address": self.address, "pid": pid, "db": str(self.db)}),
                       encoding="utf-8")
        tmp.replace(path)

    def _unpublish(self) -> None:
        path = address_file(self.db)
        try:
            if json.loads(path.read_text(encoding="utf-8")).get("address") == self.address:
                path.unlink()
        except (OSError, ValueError, AttributeError):
            pass

    def _reason(self, offset: int, code: int) -> str:
        """The last line the child wrote to its log, in words a user can act on."""
        try:
            with self.log_path.open("rb") as fh:
                fh.seek(offset)
                lines = fh.read().decode(errors="replace").strip().splitlines()
        except OSError:
            lines = []
        reason = lines[-1] if lines else f"exit status {code}"
        if "DataDirLockedError" in reason:
            reason = LITE_LOCKED
        return reason

    def _watch(self) -> None:
        """Restart the child when it exits without being asked to (a bounded number of times)."""
        while not self._stopping.is_set():
            proc = self._proc
            if proc is None:
                return
            code = proc.wait()
            if self._stopping.is_set():
                return
            now = time.monotonic()
            self._restart_times = [t for t in self._restart_times if now - t < RESTART_WINDOW_S]
            if len(self._restart_times) >= MAX_RESTARTS:
                log.error("Milvus Lite process exited (status %s) %d times within %gs: "
                          "leaving it down", code, MAX_RESTARTS, RESTART_WINDOW_S)
                return
            self._restart_times.append(now)
            log.error("Milvus Lite process %s exited (status %s): starting it again",
                      proc.pid, code)
            time.sleep(0.5)
            try:
                self._spawn()
                self.restarts += 1
            except StoreError as exc:
                log.error("%s", exc.message)
                return

    def stop(self) -> None:
        """Close the child cleanly (its database lock is released when this returns)."""
        self._stopping.set()
        with self._lock:
            proc, self._proc = self._proc, None
        self._unpublish()
        if proc is not None:
            _terminate(proc, self.stop_timeout)
        if self._watcher is not None and self._watcher is not threading.current_thread():
            self._watcher.join(timeout=self.stop_timeout)

    def __enter__(self) -> LiteProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def address_file(db: Path) -> Path:
    """Where a running :class:`LiteProcess` publishes the address of ``db``."""
    db = Path(db)
    return db.with_name(db.name + ".address")


def running_address(db: Path) -> str | None:
    """The address of the Lite process serving ``db`` right now, or None.

    Only a live process whose command line is this module's server for this very database
    counts: a file left behind by a process that died (or a reused pid) is ignored.
    """
    db = Path(db).resolve()
    try:
        info = json.loads(address_file(db).read_text(encoding="utf-8"))
        pid, address = int(info["pid"]), str(info["address"])
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError, KeyError, TypeError):
        return None
    args = [a.decode(errors="replace") for a in cmdline]
    if "reportrag.store.lite_server" not in args or str(db) not in args:
        return None
    if info.get("db") != str(db) or not address.startswith("http://127.0.0.1:"):
        return None
    return address


def _ready_port(said: bytes) -> int | None:
    """The port in the child's ``READY 127.0.0.1:<port>`` line, once it has printed it."""
    for line in said.split(b"\n")[:-1]:  # complete lines only
        if line.startswith(b"READY 127.0.0.1:"):
            port = line.rsplit(b":", 1)[1].strip()
            if port.isdigit() and 0 < int(port) < 65536:
                return int(port)
    return None


def _close(proc: subprocess.Popen[bytes]) -> None:
    if proc.stdout is not None:
        proc.stdout.close()


def _terminate(proc: subprocess.Popen[bytes], timeout: float) -> None:
    if proc.poll() is not None:
        _close(proc)
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        log.warning("Milvus Lite process %s did not stop within %gs: killing it", proc.pid,
                    timeout)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    _close(proc)
