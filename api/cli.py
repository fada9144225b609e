"""``reportrag`` command line: parse, call one library function, print; errors become one line.

Exit codes: 0 ok, 1 unexpected, 2 bad input or settings, 3 model, 4 Milvus, 5 not found,
6 conflict, 130 interrupted.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from reportrag.errors import ReportragError
from reportrag.logs import quiet_jieba

_COMMAND_MODULES = ("model", "ingest", "search", "serve", "evaluate", "migrate")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (each command module registers its subcommands)."""
    import importlib

    parser = argparse.ArgumentParser(
        prog="reportrag", description="Multilingual retrieval over reports, on Milvus."
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in _COMMAND_MODULES:
        importlib.import_module(f"api.commands.{name}").register(sub)
    return parser


def configure_logging(verbose: int) -> None:
    """Logging for the CLI and for every API worker process: WARNING, -v INFO, -vv DEBUG."""
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
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
    configure_logging(args.verbose)
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
