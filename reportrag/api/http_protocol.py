"""uvicorn's h11 protocol with a time limit on reading a request head.

uvicorn closes a kept-alive connection that stays idle (``timeout_keep_alive``), but it has
no limit while a request head is being received: a client that opens a connection and sends
half a head, or nothing at all, holds it (a file descriptor, a slot) for as long as it
likes. A tester left 3,000 such connections open. Here every connection must deliver a
complete head within ``header_timeout`` seconds, counted from when the connection opens, or,
on a kept-alive connection, from the first byte of its next request (the keep-alive timeout
covers the idle time before that). Otherwise it gets a 408 in the API's error shape, when
part of a head arrived, and is closed.

The limit ends with the head: the body and the application's work are not timed here.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import h11

from reportrag.api.errors import REQUEST_TIMEOUT
from reportrag.api.nodelay import NoDelayH11Protocol
from reportrag.api.security import DEFAULT_HEADERS


def timeout_response(header_timeout: float) -> bytes:
    """The raw 408 answer: written straight to the socket, since no request was parsed."""
    body = json.dumps(
        {
            "error": {
                "code": REQUEST_TIMEOUT,
                "message": f"request head not received within {header_timeout:g} s",
                "details": {"timeout_s": header_timeout},
            }
        }
    ).encode()
    headers = {
        "content-type": "application/json",
        "content-length": str(len(body)),
        "connection": "close",
        **{k.lower(): v for k, v in DEFAULT_HEADERS.items()},
    }
    head = "HTTP/1.1 408 Request Timeout\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return head.encode("latin-1") + b"\r\n" + body


class GuardedH11Protocol(NoDelayH11Protocol):
    """The h11 protocol (Nagle off) that closes connections slow to send a request head."""

    def __init__(self, *args: Any, header_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = header_timeout
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: Any) -> None:  # asyncio.Transport
        super().connection_made(transport)
        self._arm()  # a connection that never sends anything is closed too

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._follow_head()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._follow_head()  # a pipelined next request may have arrived in part

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _waiting_for_head(self) -> bool:
        # IDLE: h11 has not parsed a request of this cycle yet; it moves on with the head.
        return self.conn.their_state is h11.IDLE

    def _follow_head(self) -> None:
        """Arm the timer while a head is partly received; disarm once it is complete."""
        if not self._waiting_for_head():
            self._disarm()
        elif self.conn.trailing_data[0] and self._head_timer is None:
            self._arm()

    def _arm(self) -> None:
        self._disarm()
        self._head_timer = self.loop.call_later(self.header_timeout, self._head_timed_out)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or not self._waiting_for_head():
            return
        if self.conn.trailing_data[0]:  # part of a head came: say why before closing
            self.transport.write(timeout_response(self.header_timeout))
        self.transport.close()
