"""Passages embedded in a child process, so the serving process never loads torch (issue #26).

``reportrag serve`` answers searches with the lean query encoder; passages (upload jobs, admin
ingestion) need the document engine, sentence-transformers on torch by default: ~1 GB that a
process keeps once loaded. :class:`ProcessEngine` stands in for the document engine there: on
first use it starts ``python -m reportrag.embedding.worker``, which builds the embedder from
the same settings and embeds passages with its document engine (the same code path as
in-process ingestion, so the same vectors), and it stops the child once it has been idle for
``REPORTRAG_EMBED_WORKER_IDLE_S`` seconds, returning the memory; the next call starts another.

The two talk over the child's stdin and stdout in length-prefixed frames: JSON for requests
and reply headers, raw little-endian float32 for the vectors. One call at a time. The child
exits when its stdin closes, so it never outlives the serving process; its stderr (its log)
is relayed to this process's log. A child that dies mid-call fails that call with a
ModelError; the next call starts a new child. So does a child that hangs: a call it has not
answered within ``CALL_TIMEOUT_S`` plus ``PER_PASSAGE_S`` a passage (a start within
``START_TIMEOUT_S``) kills it.
"""

from __future__ import annotations

import collections
import json
import logging
import struct
import subprocess
import threading
import time
from collections.abc import Sequence
from typing import IO, Any

import numpy as np

from reportrag.children import child_env, module_command
from reportrag.errors import ModelError

logger = logging.getLogger(__name__)

_LENGTH = struct.Struct(">I")
WORKER_MODULE = "reportrag.embedding.worker"
STOP_WAIT_S = 10.0  # how long a child told to stop (stdin closed) has before it is killed
# A hung child is killed after this long without an answer: a call's base and per-passage
# allowance (2 cores embed ~20 passages a second: the allowance is ~40 times that), and a
# start's (loading the model; a first start may export the ONNX passage encoder).
CALL_TIMEOUT_S = 120.0
PER_PASSAGE_S = 2.0
START_TIMEOUT_S = 900.0


def write_frame(stream: IO[bytes], payload: bytes) -> None:
    """One frame: 4-byte big-endian length, then the payload."""
    stream.write(_LENGTH.pack(len(payload)))
    stream.write(payload)
    stream.flush()


def _read_exact(stream: IO[bytes], n: int) -> bytes | None:
    parts, left = [], n
    while left:
        part = stream.read(left)
        if not part:
            return None
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


def read_frame(stream: IO[bytes]) -> bytes | None:
    """The next frame's payload; None at end of stream (EOFError when it ends inside one)."""
    head = _read_exact(stream, _LENGTH.size)
    if head is None:
        return None
    (size,) = _LENGTH.unpack(head)
    body = _read_exact(stream, size)
    if body is None:
        raise EOFError("the stream ended inside a frame")
    return body


def write_json(stream: IO[bytes], message: dict[str, Any]) -> None:
    write_frame(stream, json.dumps(message).encode("utf-8"))


def read_json(stream: IO[bytes]) -> dict[str, Any] | None:
    body = read_frame(stream)
    return None if body is None else dict(json.loads(body))


class ProcessEngine:
    """The document engine of a serving process: the real one runs in a child process."""

    def __init__(self, settings: dict[str, Any], *, name: str, precision: str,
                 idle_s: float, call_timeout_s: float = CALL_TIMEOUT_S,
                 per_passage_s: float = PER_PASSAGE_S, start_timeout_s: float = START_TIMEOUT_S,
                 module: str = WORKER_MODULE) -> None:
        self.settings = settings  # Settings.model_dump(mode="json") without secrets
        self.name = f"{name} (child process)"
        self.precision = precision  # resolved by the child when it starts
        self.idle_s = idle_s
        self.call_timeout_s, self.per_passage_s = call_timeout_s, per_passage_s
        self.start_timeout_s = start_timeout_s
        self.module = module  # the child's module (a seam for tests)
        self._hung: dict[int, float] = {}  # pid -> seconds it went unanswered before the kill
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()  # one call at a time; guards _proc
        self._last_used = 0.0
        self._stderr: collections.deque[str] = collections.deque(maxlen=20)

    @property
    def pid(self) -> int | None:
        """The running child's pid (None when none runs)."""
        proc = self._proc
        return None if proc is None or proc.poll() is not None else proc.pid

    def load(self) -> None:
        """Start the child and load the model there now instead of on the first call."""
        with self._lock:
            self._ensure()
            self._last_used = time.monotonic()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed passages (validated, not prefixed: the child's embedder prefixes them);
        (n, dim) float32, L2-normalised."""
        with self._lock:
            proc = self._ensure()
            assert proc.stdin is not None and proc.stdout is not None
            watchdog = self._watch(proc, self.call_timeout_s + self.per_passage_s * len(texts))
            try:
                write_json(proc.stdin, {"texts": list(texts)})
                head = read_json(proc.stdout)
                if head is not None and head.get("ok"):
                    body = read_frame(proc.stdout)
                    if body is not None:
                        shape = tuple(int(n) for n in head["shape"])
                        return np.frombuffer(body, dtype="<f4").reshape(shape).astype(np.float32)
                elif head is not None:
                    raise ModelError(f"embedding passages failed: {head.get('error')}")
            except (OSError, EOFError, ValueError, KeyError) as exc:
                logger.info("the passage-embedding process failed: %r", exc)
            finally:
                watchdog.cancel()
                self._last_used = time.monotonic()
            raise self._died(proc, f"while embedding {len(texts)} passages")

    def close(self) -> None:
        """Stop the child (a call in flight gets a ModelError)."""
        if self._lock.acquire(timeout=5):
            try:
                self._stop("the serving process is closing")
            finally:
                self._lock.release()
            return
        proc = self._proc  # a call is running: end it rather than wait for it
        if proc is not None:
            proc.kill()

    # -- the child's life, with _lock held -------------------------------------------------

    def _ensure(self) -> subprocess.Popen[bytes]:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            return proc
        if proc is not None:
            self._died(proc, "while idle")  # reaped; the error is not ours to raise
        started = time.monotonic()
        try:
            proc = subprocess.Popen(
                module_command(self.module), stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env(),
            )
        except OSError as exc:
            raise ModelError(f"could not start the passage-embedding process: {exc}") from exc
        self._proc = proc
        self._stderr.clear()
        threading.Thread(target=self._relay, args=(proc,), daemon=True,
                         name=f"embed-worker-{proc.pid}-log").start()
        assert proc.stdin is not None and proc.stdout is not None
        level = logging.getLogger("reportrag").getEffectiveLevel()
        watchdog = self._watch(proc, self.start_timeout_s)
        try:
            write_json(proc.stdin, {"settings": self.settings, "log_level": level})
            ready = read_json(proc.stdout)
        except (OSError, EOFError, ValueError) as exc:
            logger.info("the passage-embedding process failed to start: %r", exc)
            ready = None
        finally:
            watchdog.cancel()
        if ready is None or not ready.get("ok"):
            error = self._died(proc, "while loading the model")
            if ready is not None:
                error = ModelError(f"the passage-embedding process could not load the model: "
                                   f"{ready.get('error')}")
            raise error
        self.precision = str(ready.get("precision", self.precision))
        logger.info("passage-embedding process %d started in %.1fs (%s, %s)", proc.pid,
                    time.monotonic() - started, ready.get("engine"), self.precision)
        threading.Thread(target=self._reap, args=(proc,), daemon=True,
                         name=f"embed-worker-{proc.pid}-idle").start()
        return proc

    def _stop(self, reason: str) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            try:
                proc.stdin.close()  # the child exits at the end of its input
            except OSError:
                pass
        try:
            code = proc.wait(timeout=STOP_WAIT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        logger.info("passage-embedding process %d stopped (%s), exit code %d",
                    proc.pid, reason, code)

    def _died(self, proc: subprocess.Popen[bytes], when: str) -> ModelError:
        """Forget a child that failed (killed if still running) and say what happened."""
        if proc.poll() is None:
            proc.kill()
        code = proc.wait()
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass
        if self._proc is proc:
            self._proc = None
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        hung = self._hung.pop(proc.pid, None)
        if hung is not None:
            how = f"gave no answer for {hung:.0f}s and was killed"
        last = f"; its last words: {self._stderr[-1]}" if self._stderr else ""
        error = ModelError(
            f"the passage-embedding process (pid {proc.pid}) {how} {when}{last}; "
            "the next call starts a new one",
            details={"pid": proc.pid, "exit_code": code},
        )
        logger.warning("%s", error.message)
        return error

    # -- threads -----------------------------------------------------------------------------

    def _watch(self, proc: subprocess.Popen[bytes], seconds: float) -> threading.Timer:
        """A started timer that kills ``proc`` unless cancelled within ``seconds``."""
        def fire() -> None:
            if proc.poll() is None:
                self._hung[proc.pid] = seconds
                proc.kill()  # the blocked read then ends: the call fails (ModelError)

        timer = threading.Timer(seconds, fire)
        timer.daemon = True
        timer.start()
        return timer

    def _relay(self, proc: subprocess.Popen[bytes]) -> None:
        """The child's stderr, line by line, into this process's log at the child's level."""
        assert proc.stderr is not None
        with proc.stderr:
            for raw in proc.stderr:
                line = raw.decode("utf-8", "replace").rstrip()
                if not line:
                    continue
                name, _, rest = line.partition(" ")
                level = logging.getLevelName(name)
                if not isinstance(level, int):
                    level, rest = logging.WARNING, line
                self._stderr.append(rest)
                logger.log(level, "passage-embedding process %d: %s", proc.pid, rest)

    def _reap(self, proc: subprocess.Popen[bytes]) -> None:
        """Stop ``proc`` once it has been idle for ``idle_s``; returns when it is gone."""
        while True:
            with self._lock:
                if self._proc is not proc:
                    return
                idle = time.monotonic() - self._last_used
                if idle >= self.idle_s:
                    self._stop(f"idle for {idle:.0f}s")
                    return
                wait = self.idle_s - idle
            time.sleep(wait)
