"""uvicorn's HTTP protocol with Nagle's algorithm off on every connection.

asyncio turns TCP_NODELAY on only for sockets whose ``proto`` is IPPROTO_TCP. uvicorn's
multi-worker mode binds its listening socket with ``socket.socket(family)`` (``proto`` 0),
so connections accepted by its workers keep Nagle on: a small response written in two parts
then waits for the client's delayed ACK: back-to-back requests on one connection take several
times longer on ``--workers 2`` than on one worker, whose socket asyncio creates itself
(docs/benchmarks-history.md#the-http-rounds-newest-first).
"""

from __future__ import annotations

import contextlib
import socket
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol


def set_nodelay(transport: Any) -> bool:
    """Turn Nagle off on the transport's TCP socket; whether it is now off."""
    sock = transport.get_extra_info("socket")
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return False
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return bool(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))


class NoDelayH11Protocol(H11Protocol):
    """The h11 protocol, with TCP_NODELAY set when a connection is made."""

    def connection_made(self, transport: Any) -> None:  # asyncio.Transport
        set_nodelay(transport)
        super().connection_made(transport)
