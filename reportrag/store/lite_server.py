"""Entry point of the Milvus Lite child process: ``python -m reportrag.store.lite_server``.

    python -m reportrag.store.lite_server --data-dir data/milvus.db --port 19600

Runs Milvus Lite's own gRPC server (``milvus_lite.adapter.grpc.server.run_server``) on
127.0.0.1 in the foreground, as :class:`reportrag.store.lite_process.LiteProcess` starts it.
What it adds to ``milvus-lite server``: SIGTERM closes the database cleanly (the server stops
taking calls, finishes those in flight and releases the data directory's lock); SIGINT is
ignored, so a Ctrl-C in the terminal stops the parent, which then stops this process.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m reportrag.store.lite_server")
    ap.add_argument("--data-dir", required=True, help="the Milvus Lite database (a *.db path)")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--threads", type=int, default=16, help="gRPC worker threads")
    args = ap.parse_args(argv)
    if not 1 <= args.port <= 65535:
        print(f"lite_server: --port must be in 1..65535, not {args.port}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s milvus-lite[%(process)d] %(levelname)s %(message)s")
    try:  # jieba logs its dictionary loading at DEBUG on a handler of its own
        import jieba

        jieba.setLogLevel(logging.WARNING)
    except ImportError:
        pass
    # run_server closes the database on KeyboardInterrupt: let SIGTERM take that path.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from milvus_lite.adapter.grpc.server import run_server

    try:
        run_server(args.data_dir, host="127.0.0.1", port=args.port, max_workers=args.threads)
    except KeyboardInterrupt:  # a second SIGTERM while closing
        return 0
    except Exception as exc:  # noqa: BLE001 - one line for the parent to show
        print(f"lite_server: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
