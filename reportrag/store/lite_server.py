"""Entry point of the Milvus Lite child process: ``python -m reportrag.store.lite_server``.

    python -m reportrag.store.lite_server --data-dir data/milvus.db [--port 0]

Opens the Milvus Lite database and serves it with Milvus Lite's own gRPC servicer on
127.0.0.1, as :class:`reportrag.store.lite_process.LiteProcess` starts it. Once it accepts
calls it prints one line, ``READY 127.0.0.1:<port>`` (``--port 0``: a port the kernel picks,
so no other process can hold it). The port is bound without SO_REUSEPORT, which gRPC turns on
by default: a port another server holds fails the start instead of being shared with it.
SIGTERM stops it cleanly (calls in flight finish, then the database is closed and its lock
released); SIGINT is ignored, so a Ctrl-C in the terminal stops the parent, which then stops
this process.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import grpc
    from milvus_lite import MilvusLite

_MAX_MESSAGE = 256 * 1024 * 1024  # what Milvus itself accepts
STOP_GRACE_S = 5.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m reportrag.store.lite_server")
    ap.add_argument("--data-dir", required=True, help="the Milvus Lite database (a *.db path)")
    ap.add_argument("--port", type=int, default=0, help="0: any free port")
    ap.add_argument("--threads", type=int, default=16, help="gRPC worker threads")
    args = ap.parse_args(argv)
    if not 0 <= args.port <= 65535 or args.threads < 1:
        print(f"lite_server: --port must be in 0..65535 and --threads >= 1, not {args.port} "
              f"and {args.threads}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s milvus-lite[%(process)d] %(levelname)s %(message)s")
    stop = threading.Event()
    # Handlers only set a flag: nothing is interrupted half-way (an exception raised into
    # whatever the main thread was doing could leave a lock or the database half-closed).
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        server, db, port = _serve(args.data_dir, args.port, args.threads)
    except Exception as exc:
        print(f"lite_server: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    try:
        print(f"READY 127.0.0.1:{port}", flush=True)
    except BrokenPipeError:  # the parent is gone already
        stop.set()
    while not stop.wait(1.0):
        pass
    server.stop(grace=STOP_GRACE_S).wait()
    db.close()
    return 0


def _serve(data_dir: str, port: int, threads: int) -> tuple[grpc.Server, MilvusLite, int]:
    import grpc
    from milvus_lite import MilvusLite
    from milvus_lite.adapter.grpc.servicer import MilvusServicer
    from pymilvus.grpc_gen import milvus_pb2_grpc

    from reportrag.logs import quiet_jieba

    quiet_jieba()
    db = MilvusLite(data_dir)
    try:
        server = grpc.server(
            ThreadPoolExecutor(max_workers=threads, thread_name_prefix="lite-grpc"),
            options=[("grpc.max_receive_message_length", _MAX_MESSAGE),
                     ("grpc.max_send_message_length", _MAX_MESSAGE),
                     ("grpc.so_reuseport", 0)],
        )
        milvus_pb2_grpc.add_MilvusServiceServicer_to_server(MilvusServicer(db), server)
        try:
            bound = server.add_insecure_port(f"127.0.0.1:{port}")
        except RuntimeError as exc:  # grpcio raises on a port it cannot bind
            raise OSError(f"cannot listen on 127.0.0.1:{port}: {exc}") from exc
        if not bound:
            raise OSError(f"cannot listen on 127.0.0.1:{port}")
        server.start()
    except BaseException:
        db.close()
        raise
    return server, db, bound


if __name__ == "__main__":
    sys.exit(main())
