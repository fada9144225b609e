"""The seam between the code that does the work and what observes it (metrics, traces).

Search, store and ingestion call these; they record Prometheus metrics (reportrag/metrics.py,
when on) and open OpenTelemetry spans (reportrag/tracing.py, when on). Nothing here knows
about HTTP: the API's request metrics live in reportrag/api/observability.py.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from reportrag import metrics as m
from reportrag import tracing

if TYPE_CHECKING:
    from opentelemetry.trace import Span

__all__ = ["ingest_finished", "ingest_progress", "ingest_started", "milvus_call",
           "milvus_error", "milvus_state", "search_done", "stage"]


@contextmanager
def stage(name: str, **attributes: str | int | float | bool) -> Iterator[Span | None]:
    """Time one stage of a request (``reportrag_stage_duration_seconds``) in its own span."""
    start = time.perf_counter()
    try:
        with tracing.span(f"reportrag.{name}", **attributes) as current:
            yield current
    finally:
        if m.enabled():
            m.metrics().stage_duration.labels(name).observe(time.perf_counter() - start)


@contextmanager
def milvus_call(op: str) -> Iterator[None]:
    """Time one Milvus call (``reportrag_milvus_request_duration_seconds``), in a span."""
    start = time.perf_counter()
    try:
        with tracing.span(f"milvus.{op}", **{"db.system": "milvus", "db.operation": op}):
            yield
    finally:
        if m.enabled():
            m.metrics().milvus_duration.labels(op).observe(time.perf_counter() - start)


def milvus_error(op: str, kind: str) -> None:
    """Count a failed Milvus call: ``kind`` is unavailable, timeout or error."""
    if m.enabled():
        m.metrics().milvus_errors.labels(op, kind).inc()


def milvus_state(up: bool, *, reconnect: bool = False) -> None:
    """The API's connection to Milvus went up (``reconnect``: not the first) or down."""
    if m.enabled():
        mm = m.metrics()
        mm.milvus_up.set(1 if up else 0)
        if reconnect:
            mm.milvus_reconnects.inc()


def search_done(mode: str, hits: int) -> None:
    """One search answered ``hits`` results in ``mode``."""
    if m.enabled():
        mm = m.metrics()
        mm.search_hits.labels(mode).observe(hits)
        if hits == 0:
            mm.search_empty.labels(mode).inc()


def mcp_tool_call(tool: str, outcome: str) -> None:
    """One MCP tool call answered (``tool`` is one of ours; ``outcome`` ok or error)."""
    if m.enabled():
        m.metrics().mcp_tool_calls.labels(tool, outcome).inc()


def ingest_started(documents: int) -> None:
    if m.enabled():
        mm = m.metrics()
        mm.ingest_running.set(1)
        mm.ingest_pending.set(documents)
        mm.ingest_progress_time.set(time.time())


def ingest_progress(*, done: int = 0, skipped: int = 0, chunks: int = 0,
                    embed_seconds: float = 0.0) -> None:
    """Documents finished or skipped, chunks embedded (and the seconds it took)."""
    if not m.enabled():
        return
    mm = m.metrics()
    if done:
        mm.ingest_documents.labels("done").inc(done)
    if skipped:
        mm.ingest_documents.labels("skipped").inc(skipped)
    if done or skipped:
        mm.ingest_pending.dec(done + skipped)
    if chunks:
        mm.ingest_chunks.inc(chunks)
        mm.ingest_embed_seconds.inc(embed_seconds)
    mm.ingest_progress_time.set(time.time())


def ingest_finished(outcome: str) -> None:
    """The ingestion ended: ok, failed or cancelled."""
    if m.enabled():
        mm = m.metrics()
        mm.ingest_runs.labels(outcome).inc()
        mm.ingest_running.set(0)
        mm.ingest_pending.set(0)
