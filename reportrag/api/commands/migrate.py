"""``reportrag migrate``: copy a collection between Milvus deployments (resumable, verified)."""

from __future__ import annotations

import argparse
import json
import os
import sys

from reportrag.errors import InputError
from reportrag.settings import get_settings


def register(sub: argparse._SubParsersAction) -> None:
    m = sub.add_parser(
        "migrate",
        help="copy a collection (vectors, metadata, fingerprint) to another Milvus deployment",
        description=(
            "Copy every row of a collection to another Milvus (a Lite *.db path or a server "
            "URL). Re-running converges: only missing or different rows are written."
        ),
    )
    m.add_argument("--from", dest="source", required=True, metavar="URI", help="source Milvus")
    m.add_argument("--to", dest="target", required=True, metavar="URI", help="target Milvus")
    m.add_argument("--from-collection", metavar="NAME", help="default: REPORTRAG_COLLECTION")
    m.add_argument("--to-collection", metavar="NAME", help="default: the source collection name")
    m.add_argument(
        "--from-token-env",
        metavar="VAR",
        help="environment variable holding the source's token (user:password)",
    )
    m.add_argument("--to-token-env", metavar="VAR", help="same, for the target")
    m.add_argument("--batch", type=int, default=1000, metavar="N", help="rows per page (1000)")
    m.add_argument(
        "--sample", type=int, default=200, metavar="N", help="rows compared after copying (200)"
    )
    m.add_argument(
        "--delete-extra",
        action="store_true",
        help="delete rows the target holds that the source does not (default: report them)",
    )
    m.add_argument("--dry-run", action="store_true", help="compare and report; write nothing")
    m.add_argument("--json", action="store_true", help="print the report as one JSON object")
    m.add_argument("--no-progress", action="store_true", help="no progress bar")
    m.set_defaults(func=_migrate)


def _token(var: str | None) -> str | None:
    if not var:
        return None
    value = os.environ.get(var)
    if not value:
        raise InputError(f"environment variable {var} (the Milvus token) is not set")
    return value


def _migrate(args: argparse.Namespace) -> int:
    from reportrag.store.migrate import migrate
    from reportrag.wiring import index_config_from_settings

    settings = get_settings()
    source_collection = args.from_collection or settings.collection
    bar = None
    if not args.no_progress and sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(unit="rows", desc="migrate", file=sys.stderr)

    def on_batch(_number: int, rows: int) -> None:
        if bar is not None:
            bar.update(rows)

    try:
        report = migrate(
            args.source,
            args.target,
            source_collection=source_collection,
            target_collection=args.to_collection or source_collection,
            source_token=_token(args.from_token_env),
            target_token=_token(args.to_token_env),
            timeout=settings.milvus_timeout,
            index=index_config_from_settings(settings),
            batch=args.batch,
            dry_run=args.dry_run,
            delete_extra=args.delete_extra,
            sample=args.sample,
            on_batch=on_batch,
        )
    finally:
        if bar is not None:
            bar.close()
    out = report.to_dict()
    if args.json:
        print(json.dumps(out, ensure_ascii=False))
        return 0
    verb = "would copy" if args.dry_run else "copied"
    print(
        f"{verb} {out['source_collection']} ({out['source_kind']}, {out['source_rows']} rows) "
        f"-> {out['target_collection']} ({out['target_kind']}, {out['target_index']}, "
        f"bm25={'yes' if out['target_bm25'] else 'no'}"
        f"{', created' if out['created'] else ''}): {out['added']} added, "
        f"{out['updated']} updated, {out['unchanged']} unchanged in {out['seconds']:.1f} s"
    )
    if out["extra"]:
        action = f"{out['deleted']} deleted" if out["deleted"] else "kept (see --delete-extra)"
        print(
            f"{out['extra']} rows in the target are not in the source: {action}; "
            f"first: {', '.join(out['extra_ids'][:5])}"
        )
    if not args.dry_run:
        print(f"verified: {out['target_rows']} rows, {out['sampled']} sampled rows identical")
    return 0
