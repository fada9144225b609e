"""Milvus Lite in a child process of its own, for ``reportrag serve``.

Milvus Lite 3.x is a gRPC server that pymilvus starts on a thread of the calling process, so
by default its searches (pure Python) share the API's interpreter lock with the HTTP server,
the request handling and the gRPC client. Started as a child process instead, the same
server runs on the other core: on a 2-core machine ``POST /v1/search`` at concurrency 16
serves more requests a second (docs/benchmarks-history.md#the-http-rounds-newest-first),
and several API workers can share one Lite database (Lite allows one process per database).

The child is ``python -m reportrag.store.lite_server`` on a 127.0.0.1 port the kernel picks
(kept across restarts, so the address the workers were given stays right). It gets SIGTERM
when this process dies however it dies (Linux ``PR_SET_PDEATHSIG``), and
:meth:`LiteProcess.stop` closes it cleanly (SIGTERM, then SIGKILL after ``stop_timeout``).

A :class:`~reportrag.store.lite_supervisor.Supervisor` restarts it for as long as this
process runs, forever, on a capped backoff (reportrag/store/lite_supervisor.py).

While it runs, ``<db>.address`` next to the database names its address, its pid and the
supervisor's state (up, or restarting: which attempt, when the next start is due, why it is
down). The other commands (``reportrag ingest``, ``search``, ``eval``) reach the database
through that address instead of failing on Lite's one-process lock (:func:`running_address`);
the API workers read the state (:func:`read_status`) so that ``/readyz`` and ``/healthz``
say what is going on instead of waiting for a connection timeout.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import select
import signal
import subprocess
import threading
import time
from dataclasses import asdict
from pathlib import Path

from reportrag.children import child_env, module_command
from reportrag.errors import StoreError
from reportrag.store.lite_supervisor import FAILED, UP, Backoff, ChildStatus, Supervisor

# A reader of read_status() gets the states it compares with from here too (api/runtime.py).
__all__ = [
    "FAILED", "LITE_LOCKED", "UP", "Backoff", "ChildStatus", "LiteProcess", "address_file",
    "read_status", "running_address",
]

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
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
    """One Milvus Lite database served from a supervised child; :meth:`start` gives its address."""

    def __init__(self, db: Path, *, port: int = 0, start_timeout: float = 120.0,
                 stop_timeout: float = 15.0, backoff: Backoff | None = None) -> None:
        self.db = Path(db).resolve()
        self.port = port
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._watcher: threading.Thread | None = None
        self._supervisor = Supervisor(self._spawn, backoff=backoff, publish=self._publish)

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return None if proc is None else proc.pid

    @property
    def status(self) -> ChildStatus:
        """The supervisor's state of the child."""
        return self._supervisor.status

    @property
    def restarts(self) -> int:
        """Children started after the first one."""
        return self._supervisor.status.restarts

    def start(self) -> str:
        """Start the child and wait until it accepts connections; StoreError when it cannot.

        Only this first start fails for good (``serve`` exits with the reason): once it has
        served, the child is restarted whatever happens to it.
        """
        self.db.parent.mkdir(parents=True, exist_ok=True)
        proc = self._spawn()
        if proc is None:
            raise StoreError(f"Milvus Lite process for {self.db}: stopped while starting")
        self._supervisor.adopt(proc)
        # The supervisor spawns every later child from this thread, and it lives as long as
        # they may: PR_SET_PDEATHSIG fires when the *thread* that forked the child ends.
        self._watcher = threading.Thread(target=self._supervisor.run,
                                         name="lite-process-supervisor", daemon=True)
        self._watcher.start()
        log.info("Milvus Lite %s serving from process %s at %s", self.db, self.pid, self.address)
        return self.address

    @property
    def log_path(self) -> Path:
        """The child's stderr (Milvus Lite's warnings and errors), next to the database."""
        return self.db.with_name(self.db.name + ".log")

    def _spawn(self) -> subprocess.Popen[bytes] | None:
        """A child serving the database, or None when :meth:`stop` came meanwhile."""
        cmd = module_command("reportrag.store.lite_server",  # unbuffered: lines now
                             "--data-dir", str(self.db), "--port", str(self.port),
                             unbuffered=True)
        with self.log_path.open("ab") as err:
            offset = err.tell()
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=err, preexec_fn=_die_with_parent, env=child_env(),
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
            if self._supervisor.stopping:  # stop() ran while this (re)start was under way
                _terminate(proc, self.stop_timeout)
                return None
            dead, self._proc = self._proc, proc
        if dead is not None:  # the child this one replaces: its pipe, or restarts leak fds
            _close(dead)
        return proc

    def _publish(self, status: ChildStatus) -> None:
        """Write ``<db>.address`` (atomically) for the other commands and the API workers."""
        info = {"address": self.address, "db": str(self.db), "supervisor_pid": os.getpid(),
                **asdict(status)}
        path = address_file(self.db)
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
        with self._lock:  # never after stop() removed it
            if self._supervisor.stopping:
                return
            try:
                tmp.write_text(json.dumps(info), encoding="utf-8")
                tmp.replace(path)
            except OSError as exc:  # a full disk must not stop the supervision
                log.warning("cannot write %s: %s", path, exc)

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

    def stop(self) -> None:
        """Close the child cleanly (its database lock is released when this returns)."""
        self._supervisor.stop()
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


def read_status(db: Path, address: str) -> ChildStatus | None:
    """What the supervisor serving ``db`` at ``address`` last published about its child.

    None when no supervisor of ours publishes that (no file, or one for another address: a
    server started by hand, or ``serve`` stopping). A supervisor whose process is gone reads
    as FAILED: nobody will restart the child.
    """
    path = address_file(db)
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        if str(info["address"]).rstrip("/") != address.rstrip("/"):
            return None
        supervisor = int(info["supervisor_pid"])
        status = ChildStatus(
            state=str(info["state"]),
            pid=None if info.get("pid") is None else int(info["pid"]),
            attempt=int(info.get("attempt") or 0),
            restarts=int(info.get("restarts") or 0),
            next_start_at=(None if info.get("next_start_at") is None
                           else float(info["next_start_at"])),
            reason=str(info.get("reason") or ""),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    if status.state != FAILED and not _alive(supervisor):
        return ChildStatus(FAILED, restarts=status.restarts,
                           reason=f"the supervising process {supervisor} is gone")
    return status


def _alive(pid: int) -> bool:
    """Whether ``pid`` is a running process (a zombie is not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's: it exists
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


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
