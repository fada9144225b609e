"""Uploads and jobs: ``POST /v1/documents``, ``PUT /v1/documents/{id}``, ``/v1/jobs`` (admin).

An upload is checked while the client waits (size, type, file name, metadata, and that the
file parses: an encrypted PDF or a scan is a 4xx now, not a failed job later), kept under
the data directory, then ingested by a background job (api/jobs.py): 202 with the job's id.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Path, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from reportrag.api.deps import AdminAuth, RuntimeDep
from reportrag.api.ops_schemas import JobOut, JobsOut, UploadOut
from reportrag.api.routes.documents import DocId
from reportrag.api.runtime import Runtime
from reportrag.api.schemas import error_responses
from reportrag.errors import InputError, ReportragError
from reportrag.ingest.jobs import FINISHED, STATES, JobStore
from reportrag.ingest.uploads import Upload, UploadStore, check_filename

router = APIRouter(prefix="/v1", tags=["uploads"], dependencies=[AdminAuth])
_ERRORS = error_responses(401, 403, 404, 409, 413, 415, 422, 429, 503)
FileField = Annotated[UploadFile, File(description="the document: .txt .md .html .pdf .docx")]
MetadataField = Annotated[
    str | None,
    Form(
        description="JSON object: title, lang, kind, date, translation_of, source, doc_id "
        "(POST only), and free keys (string, number, boolean, list of strings)",
    ),
]


@router.post(
    "/documents",
    status_code=202,
    response_model=UploadOut,
    responses={**_ERRORS, 200: {"model": UploadOut, "description": "the same document again"}},
    summary="Upload a document; it is ingested by a background job",
)
async def upload_document(
    request: Request, runtime: RuntimeDep, file: FileField, metadata: MetadataField = None
) -> Any:
    return await _accept(request, runtime, file, metadata, doc_id=None)


@router.put(
    "/documents/{doc_id}",
    status_code=202,
    response_model=UploadOut,
    responses={**_ERRORS, 200: {"model": UploadOut, "description": "the same document again"}},
    summary="Replace (or create) an uploaded document; re-ingested by a background job",
)
async def replace_document(
    doc_id: DocId, request: Request, runtime: RuntimeDep, file: FileField,
    metadata: MetadataField = None,
) -> Any:
    return await _accept(request, runtime, file, metadata, doc_id=doc_id)


@router.get("/jobs/{job_id}", response_model=JobOut, responses=_ERRORS, summary="One job")
def get_job(
    job_id: Annotated[str, Path(pattern=r"^[A-Za-z0-9]{1,64}$")], runtime: RuntimeDep
) -> dict:
    return _jobs(runtime).get(job_id).to_dict()


@router.get("/jobs", response_model=JobsOut, responses=_ERRORS, summary="Recent jobs")
def list_jobs(
    runtime: RuntimeDep,
    state: Annotated[str | None, Query(pattern="^(" + "|".join(STATES) + ")$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict:
    jobs = [j for j in _jobs(runtime).all() if state is None or j.state == state]
    return {"jobs": [j.to_dict() for j in reversed(jobs[-limit:])]}


def _jobs(runtime: Any) -> JobStore:
    from reportrag.api.jobs import job_store

    return job_store(runtime)


async def _accept(
    request: Request, runtime: Any, file: UploadFile, metadata: str | None, *, doc_id: str | None
) -> JSONResponse:
    from reportrag.api.ingesting import store_upload

    settings = runtime.settings
    # Named before the queue is looked at (store_upload checks it again, for the CLI too).
    filename = check_filename(file.filename or "")
    data = await file.read(settings.max_upload_bytes + 1)
    values = _metadata_json(metadata)
    _jobs(runtime).check_room()  # before anything is stored: a full queue stores nothing
    upload, changed, existed = await run_in_threadpool(
        store_upload, settings, filename=filename, data=data, values=values, doc_id=doc_id,
        replace=doc_id is not None,
    )
    return await run_in_threadpool(_queue, request, runtime, upload, changed, existed)


def _metadata_json(metadata: str | None) -> dict[str, Any]:
    if metadata is None or not metadata.strip():
        return {}
    try:
        return json.loads(metadata)
    except ValueError as exc:
        raise InputError(f"metadata is not valid JSON ({exc})") from exc


def _queue(
    request: Request, runtime: Any, upload: Upload, changed: bool, existed: bool
) -> JSONResponse:
    """A job for the stored upload, unless it is unchanged and ingested (or queued) already."""
    doc_id = upload.doc_id
    jobs = _jobs(runtime)
    mine = [j for j in jobs.all() if j.doc_id == doc_id]
    pending = [j for j in mine if j.state not in FINISHED]
    if not changed:
        last = mine[-1] if mine else None
        done = (
            last.state == "done" and last.created_at >= upload.added_at
            if last is not None
            else _stored(runtime, doc_id)  # added by `reportrag add`, without a job
        )
        if pending or done:
            body = {"doc_id": doc_id, "job_id": pending[-1].job_id if pending else None,
                    "unchanged": True, "state": pending[-1].state if pending else "done"}
            return JSONResponse(body, status_code=200)
    try:
        job = jobs.submit(doc_id, "replace" if existed else "add", filename=upload.filename)
    except ReportragError:
        if not existed:
            UploadStore(runtime.settings.data_dir).remove(doc_id)  # refused: nothing left
        raise
    runner = getattr(request.app.state, "jobs", None)
    if runner is not None:
        runner.wake()
    body = {"doc_id": doc_id, "job_id": job.job_id, "unchanged": False, "state": job.state}
    return JSONResponse(body, status_code=202, headers={"Location": f"/v1/jobs/{job.job_id}"})


def _stored(runtime: Runtime, doc_id: str) -> bool:
    """Whether the collection holds the document (an unchanged upload then needs no job)."""
    try:
        with runtime.leased_store() as store:
            return bool(store.doc_index(doc_id))
    except ReportragError:  # not connected, no collection yet: let a job find out
        return False
