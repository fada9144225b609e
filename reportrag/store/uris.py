"""Milvus URIs: what the store accepts before it tries to connect."""

from __future__ import annotations

from urllib.parse import urlsplit

from reportrag.errors import ConfigError
from reportrag.store.errors import redact_uri


def check_uri(uri: str) -> None:
    """ConfigError unless ``uri`` is a Milvus Lite path (``*.db``) or a server URL."""
    if not isinstance(uri, str) or not uri.strip():
        raise ConfigError("Milvus URI is empty")
    if uri.endswith(".db") and "://" not in uri:
        return
    parts = urlsplit(uri)
    problem = ""
    if parts.scheme not in ("http", "https", "tcp", "unix"):
        problem = "expected http://host:port, https://, tcp://, unix: or a Milvus Lite *.db path"
    elif parts.scheme != "unix" and not parts.hostname:
        problem = "no host"
    else:
        try:
            parts.port  # noqa: B018 - raises on a port that is not a number in 0..65535
        except ValueError:
            problem = "the port is not a number in 0..65535"
    if problem:
        raise ConfigError(
            f"not a Milvus URI: {redact_uri(uri)!r} ({problem})", details={"uri": redact_uri(uri)}
        )
