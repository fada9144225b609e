"""``reportrag mcp``: the MCP tools over stdin/stdout, for a client that starts the server
itself (Claude Desktop, Cursor, the MCP SDK's stdio client). Logs go to stderr."""

from __future__ import annotations

import argparse

from reportrag.settings import get_settings


def register(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser(
        "mcp", help="serve the MCP tools over stdio (a running server has them at /mcp)",
        description="Serve reportrag's MCP tools (search, context, get_chunk, counterparts, "
        "list_documents) over stdin/stdout. It opens the data dir itself: for a data dir "
        "that `reportrag serve` already uses, connect the client to its /mcp instead.")
    s.set_defaults(func=_mcp)


def _mcp(_args: argparse.Namespace) -> int:
    from reportrag.api.mcp import run_stdio

    run_stdio(get_settings())
    return 0
