"""One way to run an ingestion from settings, shared by ``reportrag ingest`` and the admin API."""

from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path

from ingest.cancel import CancelToken, request_cancel
from ingest.checkpoint import Checkpoint, checkpoint_path, forget_document
from ingest.corpus import find_documents
from ingest.pipeline import IngestSummary, ingest_lock, run_ingest
from reportrag.embedding import TextEmbedder
from reportrag.errors import InputError
from reportrag.langid import LanguageDetector
from reportrag.settings import Settings

log = logging.getLogger(__name__)


def open_checkpoint(settings: Settings, store) -> Checkpoint | None:  # noqa: ANN001
    """The checkpoint of the configured collection, or None when it has no generation."""
    generation = store.generation()
    if generation is None:
        return None
    path = checkpoint_path(settings.data_dir, settings.resolved_milvus_uri, settings.collection)
    return Checkpoint(path, generation)


def ingest_from_settings(
    settings: Settings,
    *,
    embedder: TextEmbedder,
    store,  # noqa: ANN001 - a connected MilvusStore
    paths: list[Path] | None = None,
    dry_run: bool = False,
    full: bool = False,
    progress: bool = False,
    rebuild: bool = False,
) -> IngestSummary:
    """Ingest the corpus (or ``paths``) under the ingestion lock; prune only a whole-corpus run.

    ``full`` ignores the checkpoint: every document is chunked and compared with Milvus.
    ``rebuild`` drops the collection first (for one built by an older reportrag or model).
    """
    if rebuild and paths:
        raise InputError("a rebuild re-ingests the whole corpus folder: name no paths")
    found = find_documents(settings.corpus_dir, paths or None)
    # A dry run writes nothing, not even the lock file, but it does not plan against a
    # collection another ingestion is writing either (409, like a real run).
    with ingest_lock(settings.data_dir, create=not dry_run):
        cancel = None if dry_run else CancelToken(settings.data_dir)
        if rebuild and not dry_run and store.has_collection():
            log.warning("rebuild: dropping collection %s", settings.collection)
            store.drop()
        exists = store.has_collection()
        if not dry_run or exists:
            # Creates the collection, or refuses one built with another model (also when dry).
            store.ensure_collection(embedder.fingerprint())
            if not dry_run:
                store.require_writable()  # an older schema: say so before any work
            exists = True
        checkpoint = open_checkpoint(settings, store) if exists and not full else None
        summary = run_ingest(
            found.documents,
            embedder=embedder,
            store=store,
            detector=LanguageDetector(),
            chunk_tokens=settings.chunk_tokens,
            overlap_tokens=settings.chunk_overlap_tokens,
            dry_run=dry_run,
            prune_doc_ids=not paths,
            progress=progress,
            embed_batch=settings.ingest_batch,
            checkpoint=checkpoint,
            max_chunks=settings.max_document_chunks,
            cancel=cancel,
        )
    summary.refused = [asdict(r) for r in found.refused]
    return summary


def forget_from_checkpoint(settings: Settings, doc_id: str) -> None:
    """After deleting a document by hand: the next ingestion must not skip it."""
    forget_document(settings.data_dir, settings.resolved_milvus_uri, settings.collection, doc_id)


def cancel_ingestion(settings: Settings) -> bool:
    """Ask the ingestion running on this data directory to stop; False when none runs."""
    return request_cancel(settings.data_dir)


class NoDatabase:
    """A Milvus Lite database that does not exist yet, for a dry run (which creates none)."""

    def has_collection(self) -> bool:
        return False

    def close(self) -> None:
        """Nothing to close."""
