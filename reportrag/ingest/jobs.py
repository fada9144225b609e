"""Background ingestion jobs: a queue kept on disk, run one at a time, resumed after a crash.

A job is one JSON file ``<data_dir>/jobs/<job_id>.json``: what to do (ingest or replace one
uploaded document), its state (queued → parsing → embedding → writing → done | failed),
progress counts, timings and the error that failed it. The folder *is* the queue: any
process serving the data directory may run the next job, and the ingestion lock makes that
one at a time (a CLI ingestion in progress makes jobs wait, never fail).

A job found in a running state by a runner that holds the lock was interrupted (the process
died): it is queued again and re-run, which converges because ingestion is idempotent (same
chunk ids, same count as an uninterrupted run), up to :data:`MAX_ATTEMPTS` times; then it is
marked failed with the reason, and can be submitted again.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from reportrag.errors import ConflictError, NotFoundError, QueueFullError, ReportragError

log = logging.getLogger(__name__)

JOBS_DIR = "jobs"
# A job's state; the one list of them (the API's JobOut and its ?state= filter use it too).
JobState = Literal["queued", "parsing", "embedding", "writing", "done", "failed"]
STATES: tuple[JobState, ...] = get_args(JobState)
RUNNING: tuple[JobState, ...] = ("parsing", "embedding", "writing")
FINISHED: tuple[JobState, ...] = ("done", "failed")
MAX_ATTEMPTS = 3
BATCH = 32  # queued jobs run together as one ingestion (one flush, one alignment pass)
KEEP_FINISHED = 500  # finished jobs kept on disk (the oldest go first)
POLL_S = 1.0
RESCAN_S = 30.0  # an idle runner reads the job files at least this often


@dataclass
class Job:
    """One job's record (what ``GET /v1/jobs/{id}`` returns)."""

    job_id: str
    doc_id: str
    action: str  # "add" | "replace"
    state: JobState = "queued"
    created_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    attempts: int = 0
    progress: dict[str, int] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    error: dict[str, Any] | None = None
    result: dict[str, Any] = field(default_factory=dict)
    filename: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class JobStore:
    """The job records of one data directory (each written atomically)."""

    def __init__(self, data_dir: Path, *, max_queued: int = 100) -> None:
        self.root = data_dir / JOBS_DIR
        self.max_queued = max_queued
        self._lock = threading.Lock()
        self._last_us = 0  # job ids of this process rise strictly, even within a millisecond

    def _path(self, job_id: str) -> Path:
        if not job_id.isalnum() or len(job_id) > 64:
            raise NotFoundError(f"no job {job_id[:80]!r}")
        return self.root / f"{job_id}.json"

    def save(self, job: Job) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        path = self._path(job.job_id)
        tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps(job.to_dict(), ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, path)

    def stamp(self) -> int | None:
        """When the job folder last changed (every save renames a file into it); None
        while it does not exist. Unchanged: no job was submitted or moved on since."""
        try:
            return self.root.stat().st_mtime_ns
        except FileNotFoundError:
            return None

    def get(self, job_id: str) -> Job:
        try:
            data = json.loads(self._path(job_id).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise NotFoundError(f"no job {job_id!r}") from None
        except (OSError, ValueError) as exc:
            raise NotFoundError(f"job {job_id!r} cannot be read ({exc})") from exc
        return Job(**data)

    def all(self) -> list[Job]:
        """Every job, oldest first."""
        if not self.root.is_dir():
            return []
        jobs = []
        for path in self.root.glob("*.json"):
            try:
                jobs.append(Job(**json.loads(path.read_text(encoding="utf-8"))))
            except (OSError, ValueError, TypeError):
                continue  # removed meanwhile, or not ours
        return sorted(jobs, key=lambda j: (j.created_at, j.job_id))

    def check_room(self) -> None:
        """QueueFullError when :attr:`max_queued` jobs wait already."""
        waiting = sum(1 for j in self.all() if j.state not in FINISHED)
        if waiting >= self.max_queued:
            raise QueueFullError(
                f"{waiting} ingestion jobs are waiting (REPORTRAG_JOB_QUEUE={self.max_queued}); "
                "retry when some have finished",
                details={"waiting": waiting, "retry_after_s": 10},
            )

    def submit(self, doc_id: str, action: str, *, filename: str = "") -> Job:
        """Queue a job; QueueFullError when :attr:`max_queued` jobs wait already."""
        with self._lock:
            self.check_room()
            # the id's leading microseconds order jobs submitted in the same millisecond (an
            # add then a replace of one document must run in that order); the random tail
            # keeps ids of two processes sharing the folder apart
            self._last_us = max(time.time_ns() // 1000, self._last_us + 1)
            job = Job(
                job_id=f"{self._last_us:016d}{secrets.token_hex(6)}",
                doc_id=doc_id, action=action, created_at=round(self._last_us / 1e6, 3),
                filename=filename,
            )
            self.save(job)
        self._prune()
        return job

    def _prune(self) -> None:
        done = [j for j in self.all() if j.state in FINISHED]
        for job in done[: max(0, len(done) - KEEP_FINISHED)]:
            self._path(job.job_id).unlink(missing_ok=True)

    def next_jobs(self, limit: int = BATCH) -> list[Job]:
        """The jobs to run now, oldest first (call under the ingestion lock): interrupted
        ones, then queued ones, up to ``limit``, each document once (a second job for the
        same document waits for the next batch, so that they run in order).

        A job left in a running state was interrupted; past MAX_ATTEMPTS it is failed.
        """
        jobs = self.all()
        ready: list[Job] = []
        for job in jobs:
            if job.state in RUNNING:
                if job.attempts >= MAX_ATTEMPTS:
                    self.fail(job, "interrupted", f"interrupted {job.attempts} times; giving up")
                    continue
                log.warning("job %s (%s) was interrupted in %s: running it again",
                            job.job_id, job.doc_id, job.state)
                ready.append(job)
        ready += [j for j in jobs if j.state == "queued"]
        batch: list[Job] = []
        docs: set[str] = set()
        for job in ready:
            if job.doc_id in docs or len(batch) >= limit:
                break
            docs.add(job.doc_id)
            batch.append(job)
        return batch

    def fail(self, job: Job, code: str, message: str, details: dict | None = None) -> None:
        job.state = "failed"
        job.finished_at = round(time.time(), 3)
        job.error = {"code": code, "message": message, "details": details or {}}
        self.save(job)


# Runs a batch of jobs as one ingestion: reports (state, progress) as it goes and returns
# each job's result by job id.
JobFunction = Callable[
    [list[Job], Callable[[JobState, dict[str, int]], None]], dict[str, dict[str, Any]]
]


class JobRunner:
    """A thread that runs the queued jobs under the ingestion lock, a batch at a time.

    ``run`` ingests a batch of jobs' documents as one run (one flush, one consolidation, one
    translation pass, however many small files were queued): it calls ``report(state,
    progress)`` as it goes and returns each job's result. A batch that fails is run again
    one job at a time, so that only the job whose document is at fault fails. ``lock`` is
    the ingestion lock (a context manager raising ConflictError while another ingestion
    holds it: the jobs then wait).
    """

    def __init__(self, jobs: JobStore, run: JobFunction, lock: Callable[[], Any]) -> None:
        self.jobs = jobs
        self._run = run
        self._lock = lock
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.busy = False
        # The job folder's stamp when a scan last found nothing to run, and when: idle
        # polls skip reading every job file until the folder changes, a wake() or
        # RESCAN_S (file times are coarse: a change in the same tick could hide).
        self._idle: tuple[int, float] | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="reportrag-jobs", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def wake(self) -> None:
        self._idle = None  # look at the job files again
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(POLL_S)
            self._wake.clear()
            try:
                while not self._stop.is_set() and self.run_pending():
                    pass
            except Exception:  # the runner never dies: a bug in one job fails that job only
                log.exception("job runner")
                time.sleep(POLL_S)

    def run_pending(self) -> bool:
        """Run the next jobs if there are any and the lock is free; whether any ran."""
        stamp = self.jobs.stamp()
        if stamp is None:
            return False
        now = time.monotonic()
        if self._idle is not None and self._idle[0] == stamp and now - self._idle[1] < RESCAN_S:
            return False
        if not any(j.state not in FINISHED for j in self.jobs.all()):
            self._idle = (stamp, now)
            return False
        try:
            with self._lock():
                batch = self.jobs.next_jobs()
                if not batch:
                    return False
                self.busy = True
                try:
                    if not self._execute(batch) and len(batch) > 1:
                        for job in batch:  # one at a time: only the faulty one fails
                            self._execute([self.jobs.get(job.job_id)])
                finally:
                    self.busy = False
                return True
        except ConflictError:
            return False  # another ingestion holds the lock: try again at the next poll

    def _execute(self, batch: list[Job]) -> bool:
        """Run a batch as one ingestion; whether it succeeded (a batch of one that fails is
        marked failed here; a larger one is left to be run job by job)."""
        now = round(time.time(), 3)
        for job in batch:
            job.attempts += 1
            job.started_at = job.started_at or now
            job.error = None
        started = time.perf_counter()
        marks: dict[JobState, float] = {}

        def report(state: JobState, progress: dict[str, int]) -> None:
            if state not in marks:
                marks[state] = time.perf_counter()
            for job in batch:
                job.state = state
                job.progress.update(progress)
                self.jobs.save(job)

        report("parsing", {"batch": len(batch)})
        try:
            results = self._run(batch, report)
        except ReportragError as exc:
            if len(batch) > 1:
                log.info("a batch of %d jobs failed (%s): running them one by one",
                         len(batch), exc.message)
                return False
            self.jobs.fail(batch[0], exc.code, exc.message, dict(exc.details))
            log.warning("job %s (%s) failed: %s", batch[0].job_id, batch[0].doc_id, exc.message)
            return False
        except Exception:
            if len(batch) > 1:
                log.exception("a batch of %d jobs failed: running them one by one", len(batch))
                return False
            log.exception("job %s (%s) failed", batch[0].job_id, batch[0].doc_id)
            self.jobs.fail(batch[0], "internal_error", "internal error: see the server log")
            return False
        end = time.perf_counter()
        order = sorted(marks, key=marks.__getitem__)
        timings = {
            f"{a}_s": round((marks[b] if b else end) - marks[a], 3)
            for a, b in zip(order, [*order[1:], None], strict=True)
        }
        for job in batch:
            job.timings = {**timings, "total_s": round(end - started, 3)}
            job.result = results.get(job.job_id, {})
            job.state = "done"
            job.finished_at = round(time.time(), 3)
            self.jobs.save(job)
        return True
