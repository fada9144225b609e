"""One way to run an ingestion from settings, shared by ``reportrag ingest`` and the admin API."""

from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reportrag.errors import (
    ConflictError,
    DocumentError,
    InputError,
    NoTextLayerError,
    NotFoundError,
    OutdatedCollectionError,
    ReportragError,
    TooLargeError,
)
from reportrag.ingest.cancel import CancelToken, request_cancel
from reportrag.ingest.checkpoint import Checkpoint, checkpoint_path, forget_document
from reportrag.ingest.corpus import Discovery, find_documents
from reportrag.ingest.formats import parse_bytes
from reportrag.ingest.pipeline import IngestSummary, StageCallback, ingest_lock, run_ingest
from reportrag.ingest.uploads import Upload, UploadStore, check_filename, split_metadata
from reportrag.langid import LanguageDetector
from reportrag.settings import Settings

if TYPE_CHECKING:
    from reportrag.embedding import Embedder
    from reportrag.store.protocols import WriteStore

log = logging.getLogger(__name__)


def open_checkpoint(settings: Settings, store: WriteStore) -> Checkpoint | None:
    """The checkpoint of the configured collection, or None when it has no generation."""
    generation = store.generation()
    if generation is None:
        return None
    path = checkpoint_path(settings.data_dir, settings.resolved_milvus_uri, settings.collection)
    return Checkpoint(path, generation)


def ingest_from_settings(
    settings: Settings,
    *,
    embedder: Embedder,
    store: WriteStore | None,
    paths: list[Path] | None = None,
    dry_run: bool = False,
    full: bool = False,
    progress: bool = False,
    rebuild: bool = False,
    upgrade: bool = False,
) -> IngestSummary:
    """Ingest the corpus (or ``paths``) under the ingestion lock; prune only a whole-corpus run.

    ``full`` ignores the checkpoint: every document is chunked and compared with Milvus.
    ``rebuild`` drops the collection first (for one built by an older reportrag or model);
    ``upgrade`` does so only when the collection's schema is older than this code's, or its
    passages are at the other precision (a collection of another model is still refused).
    ``store`` is None only for a dry run where no database exists yet (connecting would
    create one).
    """
    if store is None and not dry_run:
        raise ValueError("only a dry run goes without a store")
    if rebuild and paths:
        raise InputError("a rebuild re-ingests the whole corpus folder: name no paths")
    if paths:
        found = find_documents(settings.corpus_dir, paths)
    else:  # the whole corpus: the folder's documents and the uploaded ones
        found = all_documents(settings)
    # A dry run writes nothing, not even the lock file, but it does not plan against a
    # collection another ingestion is writing either (409, like a real run).
    with ingest_lock(settings.data_dir, create=not dry_run):
        cancel = None if dry_run else CancelToken(settings.data_dir)
        checkpoint = None
        if store is not None:  # None: a dry run without a database, nothing to check
            if upgrade and not paths and not dry_run and store.has_collection():
                store.ensure_collection(embedder.fingerprint())
                try:
                    store.require_writable()
                except OutdatedCollectionError as exc:
                    log.warning("upgrade: %s", exc.message)
                    rebuild = True
            if rebuild and not dry_run and store.has_collection():
                log.warning("rebuild: dropping collection %s", settings.collection)
                store.drop()
            exists = store.has_collection()
            if not dry_run or exists:
                # Creates the collection, or refuses one of another model (also when dry).
                store.ensure_collection(embedder.fingerprint())
                if not dry_run:
                    store.require_writable()  # an older schema: say so before any work
                exists = True
            if exists and not full:
                checkpoint = open_checkpoint(settings, store)
        summary = run_ingest(
            found.documents, embedder=embedder, store=store, dry_run=dry_run,
            prune_doc_ids=not paths, progress=progress, checkpoint=checkpoint, cancel=cancel,
            **_run_settings(settings),
        )
    summary.refused = [asdict(r) for r in found.refused]
    return summary


def all_documents(settings: Settings) -> Discovery:
    """The documents a whole ingestion reads: the corpus folder's, then the uploaded ones.

    A missing corpus folder is no error when documents were uploaded; an id that both hold
    is (DocumentError naming it).
    """
    uploaded = UploadStore(settings.data_dir).documents()
    if not settings.corpus_dir.is_dir() and uploaded:
        return Discovery(documents=uploaded)
    discovery = find_documents(settings.corpus_dir)
    found = discovery.documents
    clash = {m.doc_id for m in found} & {m.doc_id for m in uploaded}
    if clash:
        doc_id = sorted(clash)[0]
        raise DocumentError(
            f"document {doc_id!r} is both a file of the corpus folder and an upload: rename "
            "one (a doc_id in manifest.toml), or delete the upload",
            details={"doc_id": doc_id},
        )
    return Discovery(documents=[*found, *uploaded], refused=discovery.refused)


def ocr_enabled(settings: Settings) -> bool:
    """Whether PDFs without a text layer are read by OCR: REPORTRAG_OCR=auto and Tesseract."""
    from reportrag.ingest import ocr

    return settings.ocr == "auto" and ocr.available()


def corpus_doc_ids(settings: Settings) -> set[str]:
    """The doc ids of the corpus folder's documents (none when it is missing or unreadable)."""
    if not settings.corpus_dir.is_dir():
        return set()
    try:
        return {m.doc_id for m in find_documents(settings.corpus_dir).documents}
    except ReportragError as exc:
        log.warning("corpus folder: %s", exc.message)
        return set()


def store_upload(
    settings: Settings,
    *,
    filename: str,
    data: bytes,
    values: dict[str, Any],
    doc_id: str | None = None,
    replace: bool = False,
) -> tuple[Upload, bool, bool]:
    """Check an upload and keep it under the data directory: (record, changed, existed).

    Refused with a 4xx-class error, storing nothing: a bad file name or type (415), too
    large (413), empty, metadata that is not valid, a file that does not parse (an encrypted
    PDF, a scan, a zip bomb), an id of the corpus folder, or (unless ``replace``) another
    document already uploaded under the same id.
    """
    check_filename(filename)
    limit = settings.max_upload_bytes
    if len(data) > limit:
        raise TooLargeError(
            f"{filename}: larger than the upload limit of {limit:,} bytes "
            "(REPORTRAG_MAX_UPLOAD_BYTES)",
            details={"limit_bytes": limit},
        )
    if not data:
        raise InputError(f"{filename}: the file is empty (0 bytes)", details={"filename": filename})
    fields, user = split_metadata(values)
    if doc_id is not None:
        if fields.get("doc_id", doc_id) != doc_id:
            raise InputError("metadata.doc_id differs from the document id in the path")
        fields["doc_id"] = doc_id
    uploads = UploadStore(settings.data_dir)
    target = uploads.doc_id_for(filename, fields)
    try:  # no OCR while the client waits: a scan is read by its job
        parsed = parse_bytes(data, suffix=Path(filename).suffix, source=filename,
                             max_bytes=limit)
        if not parsed.text.strip():
            raise DocumentError(f"{filename}: no text left after cleaning",
                                details={"file": filename})
    except NoTextLayerError:
        if not ocr_enabled(settings):
            raise
    if target in corpus_doc_ids(settings):
        raise ConflictError(
            f"document {target!r} comes from the corpus folder; give the upload another "
            "doc_id (metadata.doc_id)",
            details={"doc_id": target},
        )
    existing = uploads.get(target)
    if existing is not None and not replace:
        _, differs = uploads.put(target, filename, data, fields, user, dry=True)
        if differs:
            raise ConflictError(
                f"document {target!r} exists: to replace it, send it with PUT to its own "
                "document URL (or reportrag add --replace)",
                details={"doc_id": target},
            )
    upload, changed = uploads.put(target, filename, data, fields, user)
    return upload, changed, existing is not None


def ingest_uploads(
    settings: Settings,
    *,
    embedder: Embedder,
    store: WriteStore,
    doc_ids: list[str],
    on_stage: StageCallback | None = None,
) -> IngestSummary:
    """Ingest uploaded documents as one run (the caller holds the ingestion lock).

    Their declared translations are aligned with them, corpus files or uploads alike.
    """
    uploads = UploadStore(settings.data_dir)
    metas = []
    for doc_id in doc_ids:
        upload = uploads.get(doc_id)
        if upload is None:
            raise NotFoundError(f"no uploaded document {doc_id!r} (deleted meanwhile?)")
        metas.append(uploads.meta(upload))
    try:
        known = all_documents(settings).documents
    except ReportragError as exc:  # a broken manifest must not stop uploads
        log.warning("aligning uploads with the other uploads only: %s", exc.message)
        known = uploads.documents()
    # Their declared partners (either side may declare a pair); detection reads the store.
    ids = set(doc_ids)
    wanted = {m.translation_of for m in metas}
    others = [
        m for m in known if m.doc_id not in ids and (m.translation_of in ids or m.doc_id in wanted)
    ]
    store.ensure_collection(embedder.fingerprint())
    store.require_writable()
    return run_ingest(
        metas, embedder=embedder, store=store, progress=False,
        checkpoint=open_checkpoint(settings, store), cancel=CancelToken(settings.data_dir),
        on_stage=on_stage, align_with=others, **_run_settings(settings),
    )


def _run_settings(settings: Settings) -> dict[str, Any]:
    """What every ingestion takes from the settings (run_ingest's keyword arguments)."""
    return {
        "detector": LanguageDetector(),
        "chunk_tokens": settings.chunk_tokens,
        "overlap_tokens": settings.chunk_overlap_tokens,
        "embed_batch": settings.ingest_batch,
        "max_chunks": settings.max_document_chunks,
        "ocr": ocr_enabled(settings),
    }


def forget_from_checkpoint(settings: Settings, doc_id: str) -> None:
    """After deleting a document by hand: the next ingestion must not skip it."""
    forget_document(settings.data_dir, settings.resolved_milvus_uri, settings.collection, doc_id)


def cancel_ingestion(settings: Settings) -> bool:
    """Ask the ingestion running on this data directory to stop; False when none runs."""
    return request_cancel(settings.data_dir)
