"""The background job runner of a serving process: uploaded documents are ingested here.

Each worker process runs one :class:`~ingest.jobs.JobRunner` thread; the job folder is shared
and the ingestion lock lets one job run at a time across processes (and waits for a CLI
ingestion to finish). The runner opens a Milvus connection of its own per job, like
``POST /v1/ingest``.
"""

from __future__ import annotations

from typing import Any

from api.runtime import Runtime
from ingest.jobs import Job, JobRunner, JobStore


def job_store(runtime: Runtime) -> JobStore:
    settings = runtime.settings
    return JobStore(settings.data_dir, max_queued=settings.job_queue)


def start_runner(runtime: Runtime) -> JobRunner:
    """Start the job thread of this process (stopped by the app's lifespan)."""
    from ingest.pipeline import ingest_lock

    def run(job: Job, report: Any) -> dict[str, Any]:
        from api.ingesting import ingest_upload

        writer = runtime.open_writer()
        try:
            summary = ingest_upload(
                runtime.settings, embedder=writer.embedder, store=writer.store,
                doc_id=job.doc_id, on_stage=report,
            )
        finally:
            writer.close()
        return _result(summary.to_dict())

    runner = JobRunner(job_store(runtime), run, lambda: ingest_lock(runtime.settings.data_dir))
    runner.start()
    return runner


def _result(summary: dict[str, Any]) -> dict[str, Any]:
    keys = ("chunks", "added", "updated", "unchanged", "deleted", "embedded", "seconds",
            "embed_seconds")
    out = {k: summary[k] for k in keys if k in summary}
    out["alignments"] = [
        {k: a.get(k) for k in ("src_doc", "tgt_doc", "source", "confidence", "links")}
        for a in summary.get("alignments", [])
    ]
    return out
