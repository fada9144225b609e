"""``reportrag serve``: the HTTP API under uvicorn, in one or several worker processes."""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reportrag.settings import Settings, get_settings

if TYPE_CHECKING:  # fastapi loads only when a server starts
    from fastapi import FastAPI

# How the CLI's -v count reaches worker processes (they start from scratch, not from main()).
_VERBOSITY_ENV = "_REPORTRAG_WORKER_VERBOSITY"
_SERVER_LEVEL_ENV = "_REPORTRAG_WORKER_LOG_LEVEL"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
WORKER_HEALTHCHECK_S = 60


def register(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("serve", help="serve the HTTP API (and the search page)")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes, each with its own model and Milvus connection (with Milvus "
        "Lite only when it runs in its own process, REPORTRAG_LITE_PROCESS, the default)",
    )
    s.add_argument("--log-level", default="info")
    s.add_argument("--log-format", choices=("text", "json"), default=argparse.SUPPRESS,
                   help="text (default) or json: one object per line (REPORTRAG_LOG_FORMAT)")
    s.set_defaults(func=_serve)


def worker_app() -> FastAPI:
    """The app of one worker process: logging as the CLI asked, settings from the environment."""
    from reportrag.api.app import create_app
    from reportrag.api.cli import configure_logging, log_format

    configure_logging(int(os.environ.get(_VERBOSITY_ENV, "0") or 0), log_format(),
                      server_level=os.environ.get(_SERVER_LEVEL_ENV, "info"))
    return create_app()  # reads REPORTRAG_* (and .env) in this process, in its lifespan


def _serve(args: argparse.Namespace) -> int:
    from reportrag.errors import InputError

    settings = get_settings()  # validated here, so a bad setting fails before any worker starts
    workers = args.workers
    if workers < 1:
        raise InputError("--workers must be at least 1")
    if not 1 <= args.port <= 65535:
        raise InputError("--port must be in 1..65535")
    embedded = settings.milvus_uri is None and settings.lite_address is None
    if not embedded or not settings.lite_process:
        if workers > 1 and embedded:
            print(
                "reportrag: Milvus Lite in the API process allows one process: serving with "
                "1 worker (leave REPORTRAG_LITE_PROCESS on, or set REPORTRAG_MILVUS_URI to a "
                "Milvus server, to use --workers)",
                file=sys.stderr,
            )
            workers = 1
        return _run(args, settings, workers)
    # The embedded database runs in a child process; the workers reach it by address.
    from reportrag.store.lite_process import LiteProcess

    lite = LiteProcess(settings.data_dir / "milvus.db")
    # uvicorn shuts down gracefully on SIGTERM and then raises it again; with the default
    # action the process would die there, before the Lite process is stopped and its address
    # file removed. Turned into SystemExit, the `finally` below runs.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        address = lite.start()
        os.environ["REPORTRAG_LITE_ADDRESS"] = address  # for worker processes
        return _run(args, settings.model_copy(update={"lite_address": address}), workers)
    finally:
        lite.stop()


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def http_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's connection settings: the keep-alive timeout and the protocol with the head
    timeout (a partial of a module-level class, so it pickles into worker processes)."""
    from reportrag.api.http_protocol import GuardedH11Protocol

    return {
        "http": functools.partial(GuardedH11Protocol, header_timeout=settings.header_timeout),
        "timeout_keep_alive": settings.keepalive_timeout,
    }


def log_options(args: argparse.Namespace) -> dict[str, Any]:
    """Our logging for uvicorn's lines too (request ids, the JSON format), and our access
    line (reportrag/api/observability.py) in place of uvicorn's."""
    from reportrag.api.cli import configure_logging, log_format

    configure_logging(getattr(args, "verbose", 0), log_format(getattr(args, "log_format", None)),
                      server_level=args.log_level)
    return {"log_level": args.log_level, "log_config": None, "access_log": False}


@contextlib.contextmanager
def metrics_dir(settings: Settings, workers: int) -> Iterator[None]:
    """With several workers, a folder where each keeps its metrics for /metrics to add up
    (prometheus-client's multiprocess mode): PROMETHEUS_MULTIPROC_DIR, or a fresh one."""
    if workers == 1 or not settings.metrics:
        yield
        return
    given = os.environ.get(MULTIPROC_ENV)
    if given:
        folder = Path(given)
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.db"):  # a previous server's counts
            stale.unlink()
        yield
        return
    folder = Path(tempfile.mkdtemp(prefix="reportrag-metrics-"))
    os.environ[MULTIPROC_ENV] = str(folder)
    try:
        yield
    finally:
        os.environ.pop(MULTIPROC_ENV, None)
        shutil.rmtree(folder, ignore_errors=True)


def _run(args: argparse.Namespace, settings: Settings, workers: int) -> int:
    import uvicorn

    logs = log_options(args)
    if workers == 1:
        from reportrag.api.app import create_app

        uvicorn.run(create_app(settings), host=args.host, port=args.port, **logs,
                    **http_options(settings))
        return 0
    # Each worker is a fresh process that imports this module and calls worker_app(): it
    # loads its own model and opens its own Milvus connection, reading the same environment.
    os.environ[_VERBOSITY_ENV] = str(getattr(args, "verbose", 0))
    os.environ[_SERVER_LEVEL_ENV] = args.log_level
    if getattr(args, "log_format", None):
        os.environ["REPORTRAG_LOG_FORMAT"] = args.log_format
    with metrics_dir(settings, workers):
        _run_workers(args, settings, workers, logs)
    return 0


def _run_workers(args: argparse.Namespace, settings: Settings, workers: int,
                 logs: dict[str, Any]) -> None:
    import uvicorn

    uvicorn.run(
        "reportrag.api.commands.serve:worker_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=workers,
        **logs,
        # The protocol also turns Nagle off: workers' sockets would keep it on (api/nodelay.py).
        **http_options(settings),
        # uvicorn replaces a worker that misses a 5 s health ping; a worker busy loading its
        # model on a loaded 2-core machine can miss it, and a second load doubles its memory.
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_S,
    )
