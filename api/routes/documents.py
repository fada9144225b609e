"""Documents and chunks: ``/v1/documents``, ``/v1/chunks/{id}``, counterparts."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Path, Query

from api.deps import ReadAuth, ServiceDep
from api.schemas import (
    ChunkWithNeighborsOut,
    CounterpartsOut,
    DocumentOut,
    DocumentsOut,
    ErrorOut,
)
from reportrag.errors import NotFoundError

router = APIRouter(prefix="/v1", tags=["documents"], dependencies=[ReadAuth])
_ERRORS = {
    s: {"model": ErrorOut} for s in (401, 404, 422, 503)
}  # 401 only when REPORTRAG_READ_API_KEY is set
_ID = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
DocId = Annotated[str, Path(pattern=_ID, max_length=128)]
ChunkId = Annotated[str, Path(pattern=_ID, max_length=128)]


@router.get(
    "/documents",
    response_model=DocumentsOut,
    responses=_ERRORS,
    summary="Every document with chunk counts, languages, sections and translations",
)
def list_documents(service: ServiceDep) -> dict:
    return {"documents": service.store.documents()}


@router.get(
    "/documents/{doc_id}",
    response_model=DocumentOut,
    responses=_ERRORS,
    summary="One document's metadata",
)
def get_document(doc_id: DocId, service: ServiceDep) -> dict:
    for d in service.store.documents():
        if d["doc_id"] == doc_id:
            return d
    raise NotFoundError(f"no document {doc_id!r}")


def _chunk_or_404(service, chunk_id: str):  # noqa: ANN001, ANN202
    found = service.store.get([chunk_id])
    if not found or not re.fullmatch(_ID, chunk_id):
        raise NotFoundError(f"no chunk {chunk_id!r}")
    return found[0]


@router.get(
    "/chunks/{chunk_id}",
    response_model=ChunkWithNeighborsOut,
    responses=_ERRORS,
    summary="One chunk, optionally with its neighbours in the document",
)
def get_chunk(
    chunk_id: ChunkId, service: ServiceDep, neighbors: Annotated[int, Query(ge=0, le=20)] = 0
) -> dict:
    chunk = _chunk_or_404(service, chunk_id)
    before, after = [], []
    if neighbors:
        window = service.store.chunks_window(
            chunk.doc_id, chunk.ordinal - neighbors, chunk.ordinal + neighbors
        )
        before = [c.to_dict() for c in window if c.ordinal < chunk.ordinal]
        after = [c.to_dict() for c in window if c.ordinal > chunk.ordinal]
    return {"chunk": chunk.to_dict(), "before": before, "after": after}


@router.get(
    "/chunks/{chunk_id}/counterparts",
    response_model=CounterpartsOut,
    responses=_ERRORS,
    summary="The aligned passages of this chunk in other languages",
)
def get_counterparts(chunk_id: ChunkId, service: ServiceDep) -> dict:
    chunk = _chunk_or_404(service, chunk_id)
    return {"chunk_id": chunk.chunk_id, "counterparts": service.counterparts_of(chunk)}
