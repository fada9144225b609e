"""The Milvus Lite child's supervisor: restart it whenever it exits, on a capped backoff.

Whenever the child exits without being asked to, :class:`Supervisor` starts it again after a
capped exponential backoff (:class:`Backoff`: 0.5 s doubling to 10 s, from 0.5 s again once
a child has stayed up 30 s), and a start that fails is retried on the same schedule. It is
never left down. What it knows about the child (:class:`ChildStatus`) is what ``/readyz``
and ``/healthz`` report.

Only the schedule and the state machine live here (tests/test_lite_supervisor.py drives them
with fake children and fake time): starting a real child, and publishing its state to other
processes, is ``LiteProcess``'s part (reportrag/store/lite_process.py).
"""

from __future__ import annotations

import logging
import math
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

from reportrag.errors import StoreError

log = logging.getLogger(__name__)

# The supervisor's states, as published in <db>.address.
UP = "up"  # the child serves
RESTARTING = "restarting"  # the child is down; the next start is due at next_start_at
STARTING = "starting"  # a restart is under way
FAILED = "failed"  # nobody restarts the child any more (the supervisor broke or is gone)


@dataclass(frozen=True)
class Backoff:
    """Delays before restarts: ``initial`` seconds, times ``factor`` each attempt, at most ``cap``.

    There is no last attempt. A child that stayed up ``reset_after`` seconds starts the
    schedule over, so a crash after hours of service is not delayed by the crashes before it.
    """

    initial: float = 0.5
    factor: float = 2.0
    cap: float = 10.0
    reset_after: float = 30.0

    def __post_init__(self) -> None:
        if not (0 < self.initial <= self.cap and self.factor >= 1 and self.reset_after > 0):
            raise ValueError(f"not a restart backoff: {self}")

    def delay(self, attempt: int) -> float:
        """Seconds to wait before restart ``attempt`` (1, 2, …)."""
        if attempt < 1:
            raise ValueError(f"attempts count from 1, not {attempt}")
        # The exponent is bounded: attempts grow without end, a float power does not.
        return min(self.cap, self.initial * self.factor ** min(attempt - 1, 64))


@dataclass(frozen=True)
class ChildStatus:
    """What the supervisor knows about its child: what ``/readyz`` and ``/healthz`` report."""

    state: str  # UP, RESTARTING, STARTING or FAILED
    pid: int | None = None  # the child's, while it is up
    attempt: int = 0  # the restart attempt under way or due (0 while up)
    restarts: int = 0  # children started after the first one
    next_start_at: float | None = None  # time.time() when the next start is due (RESTARTING)
    reason: str = ""  # why the child is down: its exit, or why the last start failed

    def next_start_in(self, now: float) -> float | None:
        """Seconds until the next start (0 when it is due or under way); None unless down."""
        if self.state == STARTING:
            return 0.0
        if self.state != RESTARTING or self.next_start_at is None:
            return None
        return max(0.0, self.next_start_at - now)

    def describe(self, now: float) -> str:
        """One line for people: the state and, while it restarts, when it will be back."""
        if self.state == UP:
            return f"Milvus Lite process {self.pid} is up"
        if self.state == STARTING:
            return f"Milvus Lite process restarting (attempt {self.attempt}, starting now)"
        if self.state == RESTARTING:
            due = self.next_start_in(now) or 0.0
            return f"Milvus Lite process restarting (attempt {self.attempt}, next in {due:.1f} s)"
        return f"Milvus Lite process is down and no longer restarted: {self.reason}"

    def retry_after_s(self, now: float) -> int | None:
        """Whole seconds until a retry can find the child up; None when no restart is coming."""
        due = self.next_start_in(now)
        return None if due is None else max(1, math.ceil(due))

    def to_dict(self, now: float) -> dict[str, Any]:
        """The status for a JSON body (times relative to ``now``)."""
        due = self.next_start_in(now)
        return {
            "state": self.state,
            "pid": self.pid,
            "attempt": self.attempt,
            "restarts": self.restarts,
            "next_start_in_s": None if due is None else round(due, 1),
            "reason": self.reason,
        }


class Child(Protocol):
    """A started child process, as the supervisor uses it (``subprocess.Popen`` is one)."""

    pid: int

    def wait(self) -> int: ...


class Supervisor:
    """Keeps a child running: whenever it exits, starts another after :class:`Backoff`, forever.

    ``start()`` starts a child and returns it once it serves, returns None when a stop came
    meanwhile, and raises when the child cannot start (that attempt failed; the next one
    follows on the schedule). ``publish(status)`` hears every change of state.
    ``sleep(seconds)`` returns True when :meth:`stop` ended the wait early. ``clock`` times
    how long a child stayed up, ``wall`` dates the next start for other processes.
    """

    def __init__(
        self,
        start: Callable[[], Child | None],
        *,
        backoff: Backoff | None = None,
        publish: Callable[[ChildStatus], None] = lambda status: None,
        sleep: Callable[[float], bool] | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.backoff = backoff or Backoff()
        self._start = start
        self._publish = publish
        self._stopping = threading.Event()
        self._sleep = sleep or self._stopping.wait
        self._clock = clock
        self._wall = wall
        self._child: Child | None = None
        self.status = ChildStatus(STARTING)

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def stop(self) -> None:
        """Supervise no more (the caller stops the child, which ends :meth:`run`'s wait)."""
        self._stopping.set()

    def adopt(self, child: Child) -> None:
        """The first child, started (and serving) before :meth:`run`: published as up."""
        self._child = child
        self._set(ChildStatus(UP, pid=child.pid))

    def run(self) -> None:
        """Restart the adopted child whenever it exits, until :meth:`stop`."""
        try:
            self._supervise()
        except Exception as exc:
            log.exception("the Milvus Lite supervisor failed: the process is not restarted")
            self._set(ChildStatus(FAILED, restarts=self.status.restarts,
                                  reason=f"the supervisor failed: {type(exc).__name__}: {exc}"))

    def _supervise(self) -> None:
        child = self._child
        if child is None:
            raise RuntimeError("Supervisor.run() before adopt()")
        failures = 0  # restart attempts since a child last stayed up backoff.reset_after
        while True:
            up_since = self._clock()
            code = child.wait()
            if self.stopping:
                return
            if self._clock() - up_since >= self.backoff.reset_after:
                failures = 0
            reason = _exit_reason(code)
            while True:
                failures += 1
                delay = self.backoff.delay(failures)
                log.error("Milvus Lite process %s: starting it again in %.1fs (attempt %d)",
                          reason, delay, failures)
                self._set(ChildStatus(RESTARTING, attempt=failures,
                                      restarts=self.status.restarts,
                                      next_start_at=self._wall() + delay, reason=reason))
                if self._sleep(delay) or self.stopping:
                    return
                self._set(replace(self.status, state=STARTING, next_start_at=None))
                try:
                    started = self._start()
                except Exception as exc:
                    reason = f"did not start: {_message(exc)}"
                    continue
                if started is None:  # stop() came while it started
                    return
                break
            child = self._child = started
            log.warning("Milvus Lite process %s serving again (restart attempt %d)",
                        child.pid, failures)
            self._set(ChildStatus(UP, pid=child.pid, restarts=self.status.restarts + 1))

    def _set(self, status: ChildStatus) -> None:
        self.status = status
        self._publish(status)


def _exit_reason(code: int) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"was killed by {name}"
    return f"exited with status {code}"


def _message(exc: Exception) -> str:
    return exc.message if isinstance(exc, StoreError) else f"{type(exc).__name__}: {exc}"
