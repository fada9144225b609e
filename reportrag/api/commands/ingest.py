"""``reportrag ingest`` and ``reportrag chunks``: write the corpus to Milvus, inspect chunks."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reportrag.errors import NotFoundError
from reportrag.settings import Settings, get_settings
from reportrag.wiring import embedder_from_settings, open_collection, store_from_settings

if TYPE_CHECKING:
    from reportrag.embedding import Embedder
    from reportrag.ingest.pipeline import IngestSummary
    from reportrag.store import MilvusStore


def register(sub: argparse._SubParsersAction) -> None:
    ing = sub.add_parser("ingest", help="clean, chunk, embed and store documents (idempotent)")
    ing.add_argument(
        "paths",
        nargs="*",
        type=Path,
        metavar="PATH",
        help="files or folders (default: the whole corpus, pruning removed docs)",
    )
    ing.add_argument(
        "--dry-run", action="store_true", help="print what would change; write nothing"
    )
    ing.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    ing.add_argument("--no-progress", action="store_true", help="no progress bars")
    ing.add_argument(
        "--full",
        action="store_true",
        help="ignore the checkpoint: chunk every document and compare it with Milvus",
    )
    ing.add_argument(
        "--rebuild",
        action="store_true",
        help="drop the collection and ingest the corpus folder and the added documents "
        "afresh (after an upgrade that changed the schema, another model or "
        "REPORTRAG_PRECISION)",
    )
    ing.add_argument(
        "--upgrade",
        action="store_true",
        help="rebuild the collection only if an older reportrag built it, or its passages "
        "are at the other REPORTRAG_PRECISION (scripts/run.sh)",
    )
    ing.add_argument(
        "--cancel",
        action="store_true",
        help="ask the ingestion running on this data directory to stop, and exit",
    )
    ing.set_defaults(func=_ingest)

    ch = sub.add_parser("chunks", help="show the chunks of DOC (a doc id or a file) as JSON lines")
    ch.add_argument("doc", metavar="DOC")
    ch.add_argument(
        "--stored",
        action="store_true",
        help="read the chunks from Milvus instead of chunking the file now",
    )
    ch.set_defaults(func=_chunks)


def _ingest(args: argparse.Namespace) -> int:
    from reportrag.api.ingesting import cancel_ingestion, ingest_from_settings

    settings = get_settings()
    if args.cancel:
        if not cancel_ingestion(settings):
            raise NotFoundError(f"no ingestion is running on {settings.data_dir}")
        print("asked the running ingestion to stop", file=sys.stderr)
        return 0
    if args.dry_run:
        return _print_summary(_dry_run(args, settings), args)
    embedder = embedder_from_settings(settings)
    store = store_from_settings(settings, embedder.dim)
    store.connect()
    try:
        summary = ingest_from_settings(
            settings,
            embedder=embedder,
            store=store,
            paths=list(args.paths) or None,
            dry_run=args.dry_run,
            full=args.full,
            rebuild=args.rebuild,
            upgrade=args.upgrade,
            progress=not args.no_progress and sys.stderr.isatty(),
        )
    finally:
        store.close()
    return _print_summary(summary, args)


def _dry_run(args: argparse.Namespace, settings: Settings) -> IngestSummary:
    """What an ingestion would change, writing nothing: no database, no model directory."""
    from reportrag.api.ingesting import ingest_from_settings
    from reportrag.embedding.counter import unbuilt_default_counter
    from reportrag.store.lite_process import running_address

    embedder: Embedder | None = unbuilt_default_counter(settings.model, settings.models_dir)
    if embedder is None:
        embedder = embedder_from_settings(settings)  # built already (or another model)
    lite = settings.milvus_uri is None and settings.lite_address is None
    db = Path(settings.resolved_milvus_uri)
    store: MilvusStore | None = None  # None: connecting would create the Lite database
    if not (lite and not db.exists() and running_address(db) is None):
        store = store_from_settings(settings, embedder.dim)
        store.connect()
    try:
        return ingest_from_settings(
            settings, embedder=embedder, store=store, paths=list(args.paths) or None,
            dry_run=True, full=args.full, progress=False,
        )
    finally:
        if store is not None:
            store.close()


def _print_summary(summary: IngestSummary, args: argparse.Namespace) -> int:
    if args.json:
        print(json.dumps(summary.to_dict(), ensure_ascii=False))
        return 0
    s = summary
    verb = "would change" if args.dry_run else "done"
    n_skipped = s.skipped_documents
    skipped = f" ({n_skipped} unchanged since the checkpoint)" if n_skipped else ""
    print(
        f"{verb}: {s.documents} documents{skipped}, {s.chunks} chunks — "
        f"{s.added} added, {s.updated} updated, {s.unchanged} unchanged, "
        f"{s.deleted} deleted ({s.embedded} embedded) in {s.seconds:.1f} s"
    )
    if args.dry_run:
        for d in s.per_document:
            print(
                f"  {d['doc_id']}: +{d.get('added', 0)} ~{d.get('updated', 0)} "
                f"={d.get('unchanged', 0)} -{d.get('deleted', 0)}"
            )
    for r in s.refused:
        print(f"reportrag: not ingested: {r['file']}: {r['reason']}", file=sys.stderr)
    _print_alignments(s.alignments)
    return 0


def _print_alignments(alignments: list[dict[str, Any]]) -> None:
    """stdout: the pairs that were aligned with links; stderr: every other outcome.

    Each line names both documents, so a refused or empty alignment can be told apart from
    a good one without reading logs.
    """
    for a in alignments:
        pair = f"{a['src_doc']} ↔ {a['tgt_doc']} ({a['source']})"
        if a["aligned"] and a["links"]:
            print(
                f"aligned {pair}: {a['links']} links, {a['chunks_updated']} chunks updated, "
                f"mean confidence {a['mean_confidence']:.2f}, "
                f"document confidence {a['confidence']:.2f}"
            )
        elif a.get("rejected"):
            print(f"reportrag: {pair}: not a translation pair after all (no passage aligns); "
                  "not recorded", file=sys.stderr)
        elif a["aligned"]:
            print(f"reportrag: {pair}: aligned, but no link is confident enough "
                  "(0 links); no counterparts stored", file=sys.stderr)
        else:
            print(f"reportrag: {pair}: not aligned", file=sys.stderr)
        for warning in a["warnings"]:
            print(f"reportrag: warning: {pair}: {warning}", file=sys.stderr)


def _chunks(args: argparse.Namespace) -> int:
    settings = get_settings()
    embedder = embedder_from_settings(settings)
    if args.stored:
        store = open_collection(settings, embedder)
        chunks = store.chunks_of(args.doc)
        store.close()
        if not chunks:
            raise NotFoundError(f"no stored chunks for document {args.doc!r}")
    else:
        from reportrag.ingest.corpus import discover
        from reportrag.ingest.pipeline import prepare_document
        from reportrag.langid import LanguageDetector

        path = Path(args.doc)
        docs = (
            discover(settings.corpus_dir, [path])
            if path.is_file()
            else [d for d in discover(settings.corpus_dir) if d.doc_id == args.doc]
        )
        if not docs:
            raise NotFoundError(f"{args.doc!r} is neither a file nor a doc id of the corpus")
        _, chunks = prepare_document(
            docs[0],
            embedder=embedder,
            detector=LanguageDetector(),
            chunk_tokens=settings.chunk_tokens,
            overlap_tokens=settings.chunk_overlap_tokens,
        )
    for c in chunks:
        print(json.dumps(c.to_dict(), ensure_ascii=False))
    return 0
