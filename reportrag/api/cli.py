"""``reportrag`` command line: parse, call one library function, print; errors become one line.

Exit codes: 0 ok, 1 unexpected, 2 bad input or settings, 3 model, 4 Milvus, 5 not found,
6 conflict, 130 interrupted.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from reportrag.errors import ReportragError
from reportrag.logs import log_handler, quiet_jieba

LOG_FORMATS = ("text", "json")

_COMMAND_MODULES = (
    "model", "ingest", "add", "search", "serve", "mcp", "evaluate", "migrate"
)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (each command module registers its subcommands)."""
    import importlib

    parser = argparse.ArgumentParser(
        prog="reportrag", description="Multilingual retrieval over reports, on Milvus."
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    parser.add_argument(
        "--log-format", choices=LOG_FORMATS, default=None,
        help="text (default) or json: one object per line (REPORTRAG_LOG_FORMAT)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in _COMMAND_MODULES:
        importlib.import_module(f"reportrag.api.commands.{name}").register(sub)
    return parser


def log_format(given: str | None = None) -> str:
    """The log format in force: ``--log-format``, else REPORTRAG_LOG_FORMAT, else text."""
    fmt = (given or os.environ.get("REPORTRAG_LOG_FORMAT") or "text").strip().lower()
    return fmt if fmt in LOG_FORMATS else "text"


def configure_logging(verbose: int, fmt: str = "text", *, server_level: str | None = None,
                      ) -> None:
    """Logging for the CLI and for every API worker process: WARNING, -v INFO, -vv DEBUG.

    ``fmt``: ``text`` (one human line) or ``json`` (one object per line); either way a line
    written while a request runs carries its id. ``server_level`` (serve's --log-level) is
    the level of uvicorn's lines and of the access log (reportrag/api/observability.py).
    """
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    root = logging.getLogger()
    ours = [h for h in root.handlers if getattr(h, "_reportrag", False)]
    if len(ours) == len(root.handlers):  # like basicConfig: leave a host's handlers alone
        for old in ours:
            root.removeHandler(old)
        handler = log_handler(fmt)
        handler._reportrag = True  # type: ignore[attr-defined]
        root.addHandler(handler)
        root.setLevel(level)
    if server_level is not None:
        server = logging.getLevelName(server_level.upper())
        server = server if isinstance(server, int) else logging.INFO
        for name in ("uvicorn", "uvicorn.error", "reportrag.access"):
            logging.getLogger(name).setLevel(min(server, level) if verbose else server)
    # Third-party chatter would drown the one line we promise on errors.
    for noisy in (
        "transformers",
        "sentence_transformers",
        "httpx",
        "milvus_lite",
        "pymilvus",
        "jieba",
        "urllib3",
        "filelock",
    ):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
    # Milvus Lite logs a traceback when it cannot open its database; we say why in one line.
    logging.getLogger("milvus_lite").setLevel(logging.CRITICAL if verbose == 0 else level)
    quiet_jieba(logging.DEBUG if verbose >= 2 else logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``reportrag`` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.verbose, log_format(args.log_format))
    try:
        return int(args.func(args) or 0)
    except ReportragError as exc:
        print(f"reportrag: error: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "settings"
        print(
            f"reportrag: error: setting REPORTRAG_{where.upper()}: {first['msg']}", file=sys.stderr
        )
        return 2
    except KeyboardInterrupt:
        print("reportrag: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
