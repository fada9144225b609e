"""The Milvus Lite supervisor's schedule and state machine, with fake children and fake time.

(tests/test_lite_crashloop.py SIGKILLs a real child over and over under `reportrag serve`.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from reportrag.errors import StoreError
from reportrag.store.lite_process import LiteProcess, address_file, read_status, running_address
from reportrag.store.lite_supervisor import (
    FAILED,
    RESTARTING,
    STARTING,
    UP,
    Backoff,
    ChildStatus,
    Supervisor,
)

KILLED = -9


class Clock:
    """Fake time: the supervisor's sleeps and the children's lifetimes move it."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


class FakeChild:
    def __init__(self, pid: int, clock: Clock, lives: float, code: int = KILLED) -> None:
        self.pid, self._clock, self._lives, self._code = pid, clock, lives, code

    def wait(self) -> int:
        self._clock.now += self._lives
        return self._code


class Script:
    """A supervisor driven by a list of start outcomes (a child, or an exception to raise);
    when the list is used up the next start stops the supervisor."""

    def __init__(self, outcomes: list[FakeChild | Exception], backoff: Backoff | None = None):
        self.clock = Clock()
        self.outcomes = list(outcomes)
        self.sleeps: list[float] = []
        self.published: list[ChildStatus] = []
        self.sup = Supervisor(self._start, backoff=backoff, publish=self.published.append,
                              sleep=self._sleep, clock=self.clock, wall=self.clock)

    def child(self, pid: int, lives: float = 0.1, code: int = KILLED) -> FakeChild:
        return FakeChild(pid, self.clock, lives, code)

    def _start(self) -> FakeChild | None:
        if not self.outcomes:
            self.sup.stop()
            return None
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def _sleep(self, seconds: float) -> bool:
        self.sleeps.append(seconds)
        self.clock.now += seconds
        return self.sup.stopping

    def run(self, first: FakeChild) -> Supervisor:
        self.sup.adopt(first)
        self.sup.run()
        return self.sup


def test_the_backoff_doubles_from_half_a_second_to_ten_and_stays_there() -> None:
    b = Backoff()
    assert [b.delay(n) for n in range(1, 9)] == [0.5, 1, 2, 4, 8, 10, 10, 10]
    assert b.delay(10**9) == 10  # no overflow, no last attempt
    assert Backoff(initial=1, factor=3, cap=20).delay(3) == 9
    assert Backoff(initial=2, factor=1, cap=2).delay(50) == 2
    with pytest.raises(ValueError):
        b.delay(0)
    for bad in ({"initial": 0}, {"initial": 11}, {"factor": 0.5}, {"reset_after": 0}):
        with pytest.raises(ValueError):
            Backoff(**bad)


def test_a_crash_looping_child_is_restarted_forever_on_the_capped_schedule() -> None:
    s = Script([])
    s.outcomes = [s.child(100 + n) for n in range(1, 21)]  # each dies 0.1 s after its start
    sup = s.run(s.child(100))
    assert s.sleeps == [0.5, 1, 2, 4, 8] + [10] * 15 + [10]  # the 21st start: stop
    assert sup.status.restarts == 20
    restarting = [st for st in s.published if st.state == RESTARTING]
    assert [st.attempt for st in restarting] == list(range(1, 22))
    assert restarting[0].reason == "was killed by SIGKILL"
    # Every restart is announced with when it is due, then as under way, then as up.
    assert [st.state for st in s.published[:4]] == [UP, RESTARTING, STARTING, UP]
    assert [st.pid for st in s.published if st.state == UP] == list(range(100, 121))
    first = restarting[0]
    assert first.next_start_at == pytest.approx(1_000.1 + 0.5)
    assert first.pid is None and first.retry_after_s(1_000.1) == 1


def test_a_start_that_fails_is_retried_on_the_same_schedule() -> None:
    s = Script([])
    s.outcomes = [StoreError("port taken"), OSError("fork failed"), s.child(2, lives=5)]
    sup = s.run(s.child(1, code=3))
    assert s.sleeps == [0.5, 1, 2, 4]  # three starts (two failed), then the new child died
    states = [(st.state, st.attempt, st.reason) for st in s.published if st.state != STARTING]
    assert states[:5] == [
        (UP, 0, ""),
        (RESTARTING, 1, "exited with status 3"),
        (RESTARTING, 2, "did not start: port taken"),
        (RESTARTING, 3, "did not start: OSError: fork failed"),
        (UP, 0, ""),
    ]
    assert sup.status.restarts == 1


def test_a_child_that_stayed_up_a_while_starts_the_schedule_over() -> None:
    s = Script([])
    s.outcomes = [s.child(2), s.child(3), s.child(4, lives=31), s.child(5)]
    s.run(s.child(1))
    # 1, 2 and 3 died at once (0.5, 1, 2); 4 served 31 s, so its death waits 0.5 s again.
    assert s.sleeps == [0.5, 1, 2, 0.5, 1]


def test_stop_ends_the_supervision_while_it_waits() -> None:
    s = Script([])
    calls: list[float] = []

    def sleep(seconds: float) -> bool:
        calls.append(seconds)
        s.sup.stop()
        return True

    s.sup._sleep = sleep
    s.outcomes = [s.child(2)]
    s.run(s.child(1))
    assert calls == [0.5] and s.outcomes, "no start after stop()"
    assert s.sup.status.state == RESTARTING


def test_a_broken_supervisor_says_so_instead_of_vanishing() -> None:
    class Broken:
        pid = 7

        def wait(self) -> int:
            raise RuntimeError("bug")

    s = Script([])
    sup = s.run(Broken())  # type: ignore[arg-type]
    assert sup.status.state == FAILED and "RuntimeError: bug" in sup.status.reason
    assert s.published[-1] == sup.status


def test_the_status_says_when_the_child_will_be_back() -> None:
    now = 50.0
    down = ChildStatus(RESTARTING, attempt=3, restarts=2, next_start_at=now + 1.64,
                       reason="was killed by SIGKILL")
    assert down.describe(now) == "Milvus Lite process restarting (attempt 3, next in 1.6 s)"
    assert down.retry_after_s(now) == 2 and down.retry_after_s(now + 10) == 1
    assert down.to_dict(now) == {"state": RESTARTING, "pid": None, "attempt": 3,
                                 "restarts": 2, "next_start_in_s": 1.6,
                                 "reason": "was killed by SIGKILL"}
    starting = ChildStatus(STARTING, attempt=4)
    assert starting.describe(now) == "Milvus Lite process restarting (attempt 4, starting now)"
    assert starting.retry_after_s(now) == 1
    up = ChildStatus(UP, pid=42)
    assert up.describe(now) == "Milvus Lite process 42 is up" and up.retry_after_s(now) is None
    failed = ChildStatus(FAILED, reason="the supervising process 9 is gone")
    assert failed.describe(now).endswith("no longer restarted: the supervising process 9 is gone")
    assert failed.retry_after_s(now) is None


def test_workers_read_the_published_status_and_notice_a_dead_supervisor(tmp_path: Path) -> None:
    db = tmp_path / "milvus.db"
    lite = LiteProcess(db, port=45678)  # never started: only its publishing is used
    address = lite.address
    lite._publish(ChildStatus(UP, pid=os.getpid(), restarts=1))
    assert read_status(db, address) == ChildStatus(UP, pid=os.getpid(), restarts=1)
    assert read_status(db, address + "/") is not None
    assert read_status(db, "http://127.0.0.1:1") is None  # someone else's server
    down = ChildStatus(RESTARTING, attempt=2, next_start_at=123.5, reason="was killed by SIGKILL")
    lite._publish(down)
    assert read_status(db, address) == down
    assert running_address(db) is None  # while it restarts, no pid to reach it by

    info = json.loads(address_file(db).read_text())
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    address_file(db).write_text(json.dumps({**info, "supervisor_pid": dead.pid}))
    gone = read_status(db, address)
    assert gone is not None and gone.state == FAILED
    assert f"supervising process {dead.pid} is gone" in gone.reason

    for content in ("not json", "[]", json.dumps({"address": address}), ""):
        address_file(db).write_text(content)
        assert read_status(db, address) is None, content
    address_file(db).unlink()
    assert read_status(db, address) is None
