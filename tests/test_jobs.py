"""The job queue on disk and its runner, with a stand-in for the ingestion (our own seam):
batches, order per document, a faulty document failing alone, interrupted jobs, a full queue.
The real ingestion behind it is tested in test_uploads.py and test_upload_restart.py."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest

from reportrag.errors import ConflictError, InputError, QueueFullError
from reportrag.ingest.jobs import MAX_ATTEMPTS, JobRunner, JobStore


class Ingestion:
    """Records each batch it is given; documents named bad-* fail their batch."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    def __call__(self, jobs, report):
        docs = [j.doc_id for j in jobs]
        self.batches.append(docs)
        report("embedding", {"to_embed": len(docs)})
        report("writing", {})
        bad = [d for d in docs if d.startswith("bad")]
        if bad:
            raise InputError(f"{bad[0]}: metadata.year is a string")
        return {j.job_id: {"chunks": 1} for j in jobs}


@contextmanager
def free_lock():
    yield


def test_jobs_submitted_in_one_millisecond_keep_their_order(tmp_path: Path) -> None:
    """Ids rise strictly in a process: an add then a replace of one document, submitted
    within the same millisecond, are listed (and so run) in that order."""
    jobs = JobStore(tmp_path, max_queued=500)
    submitted = [jobs.submit("a", "add" if i % 2 == 0 else "replace").job_id
                 for i in range(120)]
    listed = jobs.all()
    assert len({j.created_at for j in listed}) < len(listed)  # some did share a millisecond
    assert [j.job_id for j in listed] == submitted


def test_queued_jobs_run_as_batches_and_a_faulty_one_fails_alone(tmp_path: Path) -> None:
    jobs = JobStore(tmp_path, max_queued=10)
    ids = [jobs.submit(d, "add").job_id for d in ("a", "bad-b", "c", "a", "d")]
    ingestion = Ingestion()
    runner = JobRunner(jobs, ingestion, free_lock)
    assert runner.run_pending() and runner.run_pending() and not runner.run_pending()
    # first batch: a, bad-b, c (the second job of "a" waits), then each alone; then a, d
    assert ingestion.batches == [["a", "bad-b", "c"], ["a"], ["bad-b"], ["c"], ["a", "d"]]
    states = {i: jobs.get(i) for i in ids}
    assert [states[i].state for i in ids] == ["done", "failed", "done", "done", "done"]
    failed = states[ids[1]]
    assert failed.error["code"] == "invalid_input" and "metadata.year" in failed.error["message"]
    done = states[ids[0]]
    assert done.result == {"chunks": 1} and done.timings["total_s"] >= 0
    assert set(done.timings) >= {"parsing_s", "embedding_s", "writing_s"}


def test_an_interrupted_job_runs_again_then_gives_up(tmp_path: Path) -> None:
    jobs = JobStore(tmp_path)
    job = jobs.submit("a", "add")
    job.state, job.attempts = "embedding", 1  # the process died while embedding
    jobs.save(job)
    later = jobs.submit("b", "add")
    assert [j.job_id for j in jobs.next_jobs()] == [job.job_id, later.job_id]
    job.attempts = MAX_ATTEMPTS
    jobs.save(job)
    assert [j.job_id for j in jobs.next_jobs()] == [later.job_id]
    gone = jobs.get(job.job_id)
    assert gone.state == "failed" and gone.error["code"] == "interrupted"


def test_a_full_queue_refuses_and_a_held_lock_makes_jobs_wait(tmp_path: Path) -> None:
    jobs = JobStore(tmp_path, max_queued=2)
    jobs.submit("a", "add")
    jobs.submit("b", "add")
    with pytest.raises(QueueFullError) as err:
        jobs.submit("c", "add")
    assert err.value.details["retry_after_s"] > 0

    @contextmanager
    def held():
        raise ConflictError("another ingestion is running")
        yield

    ingestion = Ingestion()
    assert not JobRunner(jobs, ingestion, held).run_pending()
    assert ingestion.batches == [] and {j.state for j in jobs.all()} == {"queued"}


def test_the_runner_thread_picks_up_jobs_when_woken(tmp_path: Path) -> None:
    jobs = JobStore(tmp_path)
    finished = threading.Event()

    def run(batch, report):
        finished.set()
        return {}

    runner = JobRunner(jobs, run, free_lock)
    runner.start()
    try:
        job = jobs.submit("a", "add")
        runner.wake()
        assert finished.wait(10)
        deadline = time.monotonic() + 10
        while jobs.get(job.job_id).state != "done":
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        runner.stop()
    with pytest.raises(Exception, match="no job"):
        jobs.get("0" * 20)


def test_an_idle_runner_reads_the_job_files_only_when_the_folder_changed(tmp_path: Path) -> None:
    jobs = JobStore(tmp_path)
    done = jobs.submit("a", "add")
    jobs.save(replace(done, state="done"))
    reads = []
    real_all = jobs.all
    jobs.all = lambda: reads.append(1) or real_all()  # type: ignore[method-assign]
    runner = JobRunner(jobs, Ingestion(), free_lock)
    assert not runner.run_pending() and len(reads) == 1  # scanned: nothing to run
    assert not runner.run_pending() and len(reads) == 1  # unchanged folder: no scan
    time.sleep(0.02)  # past the file system's timestamp tick
    jobs.submit("b", "add")
    assert runner.run_pending()  # the folder changed: scanned, and b ran
    assert jobs.get(done.job_id).state == "done"
