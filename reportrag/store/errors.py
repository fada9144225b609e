"""Translate pymilvus / gRPC failures into reportrag's exception tree."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import grpc
from pymilvus.exceptions import ConnectError, MilvusException, MilvusUnavailableException

from reportrag import telemetry
from reportrag.errors import StoreError, StoreUnavailableError

_UNAVAILABLE_CODES = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}
_CONNECT_FAILED = 2  # pymilvus Status.CONNECT_FAILED


def redact_uri(uri: str) -> str:
    """``uri`` without a password, safe for messages and logs."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    netloc = f"{parts.username}:***@{host}" if parts.username else host
    return urlunsplit(parts._replace(netloc=netloc))


def is_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) means the server did not answer."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, (MilvusUnavailableException, ConnectError, grpc.FutureTimeoutError)):
            return True
        if isinstance(cur, grpc.RpcError) and hasattr(cur, "code"):
            if cur.code() in _UNAVAILABLE_CODES:
                return True
        if isinstance(cur, MilvusException):
            if cur.code in _UNAVAILABLE_CODES or cur.code == _CONNECT_FAILED:
                return True
        cur = cur.__cause__ or cur.__context__
    return False


def describe(exc: BaseException | None) -> str:
    """A one-line reason from a pymilvus / gRPC exception."""
    if exc is None:
        return "unknown error"
    if isinstance(exc, grpc.RpcError) and hasattr(exc, "details"):
        return str(exc.details() or exc.code())
    if isinstance(exc, MilvusException):
        return exc.message or type(exc).__name__
    return str(exc) or type(exc).__name__


def error_kind(exc: BaseException) -> str:
    """How a Milvus call failed, for the error counter: timeout, unavailable or error."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, grpc.FutureTimeoutError):
            return "timeout"
        if isinstance(cur, grpc.RpcError) and hasattr(cur, "code"):
            if cur.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                return "timeout"
        if isinstance(cur, MilvusException) and cur.code == grpc.StatusCode.DEADLINE_EXCEEDED:
            return "timeout"
        cur = cur.__cause__ or cur.__context__
    return "unavailable" if is_unavailable(exc) else "error"


@contextmanager
def translated(op: str, uri: str, collection: str, *, metric: str | None = None,
               ) -> Iterator[None]:
    """Run a block of Milvus calls; failures leave as StoreError / StoreUnavailableError.

    The block is timed and counted under ``metric`` (default ``op``): reportrag/telemetry.py.
    """
    label = metric or op
    try:
        with telemetry.milvus_call(label):
            yield
    except (MilvusException, grpc.RpcError) as exc:
        telemetry.milvus_error(label, error_kind(exc))
        where = redact_uri(uri)
        details = {"op": op, "uri": where, "collection": collection}
        if isinstance(exc, MilvusException):
            details["code"] = str(exc.code)
        if is_unavailable(exc):
            raise StoreUnavailableError(
                f"Milvus at {where} is unavailable ({op}): {describe(exc)}", details=details
            ) from exc
        raise StoreError(f"Milvus {op} failed: {describe(exc)}", details=details) from exc
