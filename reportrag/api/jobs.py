"""The background job runner of a serving process: uploaded documents are ingested here.

Each worker process runs one :class:`~ingest.jobs.JobRunner` thread; the job folder is shared
and the ingestion lock lets one job run at a time across processes (and waits for a CLI
ingestion to finish). The runner opens a Milvus connection of its own per job, like
``POST /v1/ingest``.
"""

from __future__ import annotations

from typing import Any

from reportrag.api.runtime import Runtime
from reportrag.ingest.jobs import Job, JobRunner, JobStore
from reportrag.ingest.report import StageCallback


def job_store(runtime: Runtime) -> JobStore:
    settings = runtime.settings
    return JobStore(settings.data_dir, max_queued=settings.job_queue)


def start_runner(runtime: Runtime) -> JobRunner:
    """Start the job thread of this process (stopped by the app's lifespan)."""
    from reportrag.ingest.pipeline import ingest_lock

    def run(jobs: list[Job], report: StageCallback) -> dict[str, dict[str, Any]]:
        from reportrag.api.ingesting import ingest_uploads

        writer = runtime.open_writer()
        try:
            summary = ingest_uploads(
                runtime.settings, embedder=writer.embedder, store=writer.store,
                doc_ids=[j.doc_id for j in jobs], on_stage=report,
            )
        finally:
            writer.close()
        out = summary.to_dict()
        return {j.job_id: _result(out, j.doc_id) for j in jobs}

    runner = JobRunner(job_store(runtime), run, lambda: ingest_lock(runtime.settings.data_dir))
    runner.start()
    return runner


def _result(summary: dict[str, Any], doc_id: str) -> dict[str, Any]:
    """One job's share of its batch's summary: its document's counts and alignments."""
    mine: dict[str, Any]
    mine = next((d for d in summary.get("per_document", []) if d.get("doc_id") == doc_id), {})
    out = {k: mine.get(k, 0) for k in ("chunks", "added", "updated", "unchanged", "deleted")}
    out["batch_documents"] = summary.get("documents", 1)
    out["batch_seconds"] = summary.get("seconds", 0.0)
    out["alignments"] = [
        {k: a.get(k) for k in ("src_doc", "tgt_doc", "source", "confidence", "links")}
        for a in summary.get("alignments", [])
        if doc_id in (a.get("src_doc"), a.get("tgt_doc"))
    ]
    return out
