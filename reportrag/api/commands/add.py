"""``reportrag add FILE…``: keep documents under the data directory and ingest them now.

What ``POST /v1/documents`` does over HTTP, without a server and without a job: each file is
checked, kept under ``<data_dir>/uploads`` (so ``ingest --rebuild`` can read it again) and
ingested under the ingestion lock, its declared translation aligned with it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from reportrag.errors import ConflictError, InputError
from reportrag.settings import get_settings
from reportrag.wiring import embedder_from_settings, store_from_settings


def register(sub: argparse._SubParsersAction) -> None:
    add = sub.add_parser(
        "add", help="add documents (.txt .md .html .pdf .docx) from anywhere and ingest them"
    )
    add.add_argument("files", nargs="+", type=Path, metavar="FILE")
    add.add_argument("--doc-id", help="the document's id (one FILE only; default: from its name)")
    add.add_argument("--title")
    add.add_argument("--lang", help="ISO 639 code, e.g. zh (default: detected)")
    add.add_argument("--kind", help="e.g. report, article (default: article)")
    add.add_argument("--date", help="YYYY-MM-DD")
    add.add_argument("--translation-of", metavar="DOC_ID",
                     help="the doc id of the document this one translates")
    add.add_argument("--source", help="where the document comes from (a URL)")
    add.add_argument(
        "--meta", action="append", default=[], metavar="KEY=VALUE",
        help="user metadata (repeatable); VALUE is JSON when it parses (42, true, "
        "[\"a\"]), else a string",
    )
    add.add_argument("--replace", action="store_true",
                     help="replace a document added before under the same id")
    add.add_argument("--json", action="store_true", help="print one JSON object per file")
    add.set_defaults(func=_add)


def _metadata(args: argparse.Namespace) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key in ("doc_id", "title", "lang", "kind", "date", "translation_of", "source"):
        if getattr(args, key) is not None:
            values[key] = getattr(args, key)
    user: dict[str, Any] = {}
    for item in args.meta:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise InputError(f"--meta {item!r}: expected KEY=VALUE")
        try:
            user[key] = json.loads(raw)
        except ValueError:
            user[key] = raw
    if user:
        values["metadata"] = user
    return values


def _add(args: argparse.Namespace) -> int:
    from reportrag.api.ingesting import ingest_uploads, store_upload
    from reportrag.ingest.pipeline import ingest_lock

    if args.doc_id and len(args.files) > 1:
        raise InputError("--doc-id names one document: give one FILE")
    settings = get_settings()
    values = _metadata(args)
    staged = []
    for path in args.files:
        if not path.is_file():
            raise InputError(f"{path}: no such file")
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from exc
        upload, changed, _ = store_upload(
            settings, filename=path.name, data=data, values=values, replace=args.replace
        )
        staged.append((upload, changed))
    embedder = embedder_from_settings(settings)
    store = store_from_settings(settings, embedder.dim)
    store.connect()
    try:
        with ingest_lock(settings.data_dir):
            summary = ingest_uploads(settings, embedder=embedder, store=store,
                                     doc_ids=[u.doc_id for u, _ in staged]).to_dict()
        for upload, _changed in staged:
            _print(upload.doc_id, summary, args)
    except ConflictError as exc:
        raise ConflictError(
            f"{exc.message}: the documents are kept and will be ingested by the next "
            "`reportrag ingest` (or re-run this command)"
        ) from exc
    finally:
        store.close()
    return 0


def _print(doc_id: str, summary: dict[str, Any], args: argparse.Namespace) -> None:
    """One line (or JSON object) per file: its document's share of the run."""
    mine = next(d for d in summary["per_document"] if d["doc_id"] == doc_id)
    out = {k: mine.get(k, 0) for k in ("chunks", "added", "updated", "unchanged", "deleted")}
    out["seconds"] = summary["seconds"]
    out["alignments"] = [a for a in summary["alignments"]
                         if doc_id in (a["src_doc"], a["tgt_doc"])]
    if args.json:
        print(json.dumps({"doc_id": doc_id, **out}, ensure_ascii=False))
        return
    print(
        f"{doc_id}: {out['chunks']} chunks — {out['added']} added, {out['updated']} updated, "
        f"{out['unchanged']} unchanged, {out['deleted']} deleted in {out['seconds']:.1f} s"
    )
    for a in out["alignments"]:
        print(f"  aligned {a['src_doc']} ↔ {a['tgt_doc']} ({a['source']}): {a['links']} links",
              file=sys.stdout)
