"""Documents and chunks: ``/v1/documents``, ``/v1/chunks/{id}``, counterparts."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from reportrag.api.deps import ReadAuth, ServiceDep
from reportrag.api.schemas import (
    MAX_NEIGHBORS,
    ChunkWithNeighborsOut,
    CounterpartsOut,
    DocumentOut,
    DocumentsOut,
    ErrorOut,
)
from reportrag.ids import ID_PATTERN
from reportrag.search import lookup

router = APIRouter(prefix="/v1", tags=["documents"], dependencies=[ReadAuth])
_ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"model": ErrorOut} for s in (401, 404, 422, 503)
}  # 401 only when REPORTRAG_READ_API_KEY is set
DocId = Annotated[str, Path(pattern=ID_PATTERN, max_length=128)]
ChunkId = Annotated[str, Path(pattern=ID_PATTERN, max_length=128)]


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
    return lookup.document(service.store, doc_id)


@router.get(
    "/chunks/{chunk_id}",
    response_model=ChunkWithNeighborsOut,
    responses=_ERRORS,
    summary="One chunk, optionally with its neighbours in the document",
)
def get_chunk(
    chunk_id: ChunkId, service: ServiceDep,
    neighbors: Annotated[int, Query(ge=0, le=MAX_NEIGHBORS)] = 0,
) -> dict:
    return lookup.chunk_with_neighbors(service.store, chunk_id, neighbors)


@router.get(
    "/chunks/{chunk_id}/counterparts",
    response_model=CounterpartsOut,
    responses=_ERRORS,
    summary="The aligned passages of this chunk in other languages",
)
def get_counterparts(chunk_id: ChunkId, service: ServiceDep) -> dict:
    chunk = lookup.chunk(service.store, chunk_id)
    return {"chunk_id": chunk.chunk_id, "counterparts": service.counterparts_of(chunk)}
