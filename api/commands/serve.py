"""``reportrag serve``: the HTTP API under uvicorn."""

from __future__ import annotations

import argparse
import sys

from reportrag.settings import get_settings


def register(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("serve", help="serve the HTTP API (and the search page)")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes (needs a Milvus server; Milvus Lite is single-process)",
    )
    s.add_argument("--log-level", default="info")
    s.set_defaults(func=_serve)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    settings = get_settings()
    workers = args.workers
    if workers < 1:
        from reportrag.errors import InputError

        raise InputError("--workers must be at least 1")
    if workers > 1 and settings.milvus_uri is None:
        print(
            "reportrag: Milvus Lite is a single-process engine: serving with 1 worker "
            "(set REPORTRAG_MILVUS_URI to a Milvus server to use --workers)",
            file=sys.stderr,
        )
        workers = 1
    if workers == 1:
        from api.app import create_app

        uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level=args.log_level)
    else:
        uvicorn.run(
            "api.app:create_app",
            factory=True,
            host=args.host,
            port=args.port,
            workers=workers,
            log_level=args.log_level,
        )
    return 0
