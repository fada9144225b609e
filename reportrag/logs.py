"""Logging helpers shared by the command line, the API workers and the Milvus Lite process."""

from __future__ import annotations

import json
import logging
from contextvars import ContextVar
from datetime import UTC, datetime


def quiet_jieba(level: int = logging.WARNING) -> None:
    """Set jieba's log level (Milvus Lite's Chinese analyzer).

    jieba logs its dictionary loading at DEBUG on a stderr handler of its own, so the root
    logger's level does not silence it. Nothing happens when jieba is not installed.
    """
    try:
        import jieba
    except ImportError:
        return
    jieba.setLogLevel(level)


# -- request ids and the log formats ------------------------------------------------------

# The id of the HTTP request being answered ("" outside a request): api/observability.py sets
# it, every log line and error body carries it.
request_id: ContextVar[str] = ContextVar("reportrag_request_id", default="")

# Attributes a log call may pass as ``extra`` that the JSON format writes as fields.
_JSON_EXTRAS = ("route", "method", "status", "duration_ms", "mode")


class RequestIdFilter(logging.Filter):
    """Give every record its ``request_id`` ("" outside a request) and ``request_tag``
    (" [ID]", or "" outside a request: the text format of the CLI stays as it was)."""

    def filter(self, record: logging.LogRecord) -> bool:
        rid = getattr(record, "request_id", None) or request_id.get()
        record.request_id = rid
        record.request_tag = f" [{rid}]" if rid else ""
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id and, on access
    lines, route, method, status, duration_ms (and mode); an exception as one string."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or request_id.get() or None,
        }
        for key in _JSON_EXTRAS:
            value = getattr(record, key, None)
            if value is not None:
                out[key] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


TEXT_FORMAT = "%(levelname)s %(name)s%(request_tag)s: %(message)s"


def log_handler(fmt: str) -> logging.Handler:
    """A stderr handler in ``fmt`` (text or json) that stamps records with the request id."""
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    return handler
