"""Admin: ``POST /v1/ingest`` and ``DELETE /v1/documents/{doc_id}`` (need X-API-Key)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from reportrag.api.deps import AdminAuth, RuntimeDep, StoreDep, WriterDep
from reportrag.api.ops_schemas import IngestIn
from reportrag.api.schemas import error_responses
from reportrag.errors import InputError, NotFoundError
from reportrag.ids import DOC_ID_PATTERN

router = APIRouter(prefix="/v1", tags=["admin"], dependencies=[AdminAuth])
_ERRORS = error_responses(400, 401, 403, 404, 409, 413, 422, 503)


@router.post("/ingest", responses=_ERRORS, summary="Ingest the corpus folder (idempotent)")
def ingest(body: IngestIn, runtime: RuntimeDep, service: WriterDep) -> dict:
    from reportrag.api.ingesting import ingest_from_settings

    settings = runtime.settings
    corpus = settings.corpus_dir.resolve()
    paths = None
    if body.paths:
        paths = []
        for name in body.paths:
            p = settings.corpus_dir / name
            resolved = p.resolve()
            if corpus not in resolved.parents:  # ".." or a symbolic link out of the folder
                raise InputError(
                    f"{name!r} is not a file inside the corpus folder", details={"path": name}
                )
            if not (p.is_file() or p.is_symlink()):
                raise NotFoundError(
                    f"no file {name!r} in the corpus folder", details={"path": name}
                )
            paths.append(p)  # unresolved: its folder's manifest and listing give its doc id
    summary = ingest_from_settings(
        settings,
        embedder=service.embedder,
        store=service.store,
        paths=paths,
        dry_run=body.dry_run,
        full=body.full,
    )
    return summary.to_dict()


@router.delete(
    "/ingest",
    status_code=202,
    responses=_ERRORS,
    summary="Cancel the running ingestion (it stops at its next batch)",
)
def cancel_ingest(runtime: RuntimeDep) -> dict:
    from reportrag.api.ingesting import cancel_ingestion

    if not cancel_ingestion(runtime.settings):
        raise NotFoundError("no ingestion is running")
    return {"cancelling": True}


@router.delete("/documents/{doc_id}", responses=_ERRORS, summary="Delete a document's chunks")
def delete_document(
    doc_id: Annotated[str, Path(pattern=DOC_ID_PATTERN)],
    store: StoreDep,
    runtime: RuntimeDep,
) -> dict:
    from reportrag.api.ingesting import forget_from_checkpoint
    from reportrag.ingest.pipeline import ingest_lock
    from reportrag.ingest.uploads import UploadStore

    # The ingestion lock: one writer at a time (and a backup taken under it is consistent).
    with ingest_lock(runtime.settings.data_dir):
        ids = list(store.doc_index(doc_id))
        uploaded = UploadStore(runtime.settings.data_dir).remove(doc_id)  # its original too
        if not ids and not uploaded:
            raise NotFoundError(f"no document {doc_id!r}")
        deleted = 0
        if ids:
            with store.batched_writes():  # Milvus Lite: one flush, then one segment
                deleted = store.delete(ids)
        forget_from_checkpoint(runtime.settings, doc_id)
    return {"doc_id": doc_id, "deleted": deleted, "upload_removed": uploaded}
