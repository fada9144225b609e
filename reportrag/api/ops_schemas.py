"""Bodies of the operator routes: ingestion, uploads and their jobs, health."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints

from reportrag.api.schemas import _Strict
from reportrag.ingest.jobs import JobState

# A file name in the corpus folder: no path separator, no leading dot, no control character.
CorpusFile = Annotated[
    str, StringConstraints(pattern=r"^[^./\\\x00-\x1f][^/\\\x00-\x1f]*$", max_length=255)
]


class IngestIn(_Strict):
    """``POST /v1/ingest``: re-ingest the corpus folder (or some of its files)."""

    paths: list[CorpusFile] | None = Field(
        default=None, max_length=1000, description="file names inside the corpus folder"
    )
    dry_run: bool = False
    full: bool = Field(
        default=False, description="ignore the checkpoint: re-chunk and compare every document"
    )


class UploadOut(BaseModel):
    """``POST /v1/documents``: 202 with the job that ingests it (200: nothing changed)."""

    doc_id: str
    job_id: str | None = Field(description="GET /v1/jobs/{job_id}; null when nothing to do")
    unchanged: bool = Field(description="the same bytes and metadata were stored already")
    state: str


class JobOut(BaseModel):
    job_id: str
    doc_id: str
    action: Literal["add", "replace"]
    state: JobState
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    attempts: int = 0
    progress: dict[str, int] = Field(default_factory=dict)
    timings: dict[str, float] = Field(default_factory=dict)
    error: dict[str, Any] | None = None
    result: dict[str, Any] = Field(default_factory=dict)
    filename: str = ""


class JobsOut(BaseModel):
    jobs: list[JobOut]


class StoreHealthOut(BaseModel):
    """The store as ``/healthz`` sees it, without calling Milvus."""

    supervised: bool = Field(
        description="a Milvus Lite process that `reportrag serve` started and restarts"
    )
    state: str = Field(
        description="supervised: up, restarting (waiting for the next start), starting or "
        "failed (no longer restarted); otherwise connected or disconnected"
    )
    pid: int | None = Field(default=None, description="the Milvus Lite process, while up")
    attempt: int | None = Field(default=None, description="restart attempt under way or due")
    restarts: int | None = Field(default=None, description="Lite processes started since")
    next_start_in_s: float | None = Field(default=None, description="while restarting")
    reason: str = Field(default="", description="why the store is down")


class HealthOut(BaseModel):
    """``GET /healthz``: the process is up and nothing has given up on its store."""

    status: Literal["ok"]
    store: StoreHealthOut
