"""What reportrag measures, as Prometheus metrics: the one place that names them.

The metrics are created on first use, not at import: ``reportrag serve --workers N`` sets
``PROMETHEUS_MULTIPROC_DIR`` before its workers start, and prometheus-client picks its
storage (memory, or files in that folder that /metrics adds up) when it is first imported.
Labels come from fixed sets (route templates, modes, Milvus operations, outcomes): never a
query, an id or a key. docs/operations.md explains each metric.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prometheus_client import Counter, Gauge, Histogram

# Seconds. Searches take milliseconds to a few hundred; ingestion stages up to minutes.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.25,
                   0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
HITS_BUCKETS = (0, 1, 2, 3, 5, 10, 20, 50, 100)

_enabled = True


def enabled() -> bool:
    """Whether metrics are recorded (REPORTRAG_METRICS; on by default)."""
    return _enabled


def set_enabled(on: bool) -> None:
    """Turn recording on or off for this process (the app does it from its settings)."""
    global _enabled
    _enabled = on


@dataclass(frozen=True)
class Metrics:
    http_requests: Counter
    http_duration: Histogram
    http_in_flight: Gauge
    stage_duration: Histogram
    milvus_duration: Histogram
    milvus_errors: Counter
    milvus_reconnects: Counter
    milvus_up: Gauge
    search_hits: Histogram
    search_empty: Counter
    ingest_runs: Counter
    ingest_running: Gauge
    ingest_documents: Counter
    ingest_pending: Gauge
    ingest_chunks: Counter
    ingest_embed_seconds: Counter
    ingest_progress_time: Gauge
    mcp_tool_calls: Counter


@cache
def metrics() -> Metrics:
    """The metric objects of this process (created once, in the default registry)."""
    from prometheus_client import Counter, Gauge, Histogram

    return Metrics(
        http_requests=Counter(
            "reportrag_http_requests", "HTTP requests answered",
            ["route", "method", "mode", "status"]),
        http_duration=Histogram(
            "reportrag_http_request_duration_seconds",
            "Time from the request's first byte to the response's last",
            ["route", "method", "mode"], buckets=LATENCY_BUCKETS),
        http_in_flight=Gauge(
            "reportrag_http_requests_in_flight", "HTTP requests being answered",
            multiprocess_mode="livesum"),
        stage_duration=Histogram(
            "reportrag_stage_duration_seconds",
            "Time in one stage of a search (encode_query, fusion, read_chunks, context_render)",
            ["stage"], buckets=LATENCY_BUCKETS),
        milvus_duration=Histogram(
            "reportrag_milvus_request_duration_seconds", "Time of one Milvus call, by operation",
            ["op"], buckets=LATENCY_BUCKETS),
        milvus_errors=Counter(
            "reportrag_milvus_errors", "Milvus calls that failed, by kind "
            "(unavailable, timeout, error)", ["op", "kind"]),
        milvus_reconnects=Counter(
            "reportrag_milvus_reconnects", "Connections to Milvus opened after the first"),
        milvus_up=Gauge(
            "reportrag_milvus_up", "1 while the API holds a working Milvus connection, else 0",
            multiprocess_mode="livemin"),
        search_hits=Histogram(
            "reportrag_search_hits", "Results returned per search", ["mode"],
            buckets=HITS_BUCKETS),
        search_empty=Counter(
            "reportrag_search_empty", "Searches that returned no result", ["mode"]),
        ingest_runs=Counter(
            "reportrag_ingest_runs", "Ingestion runs ended, by outcome (ok, failed, cancelled)",
            ["outcome"]),
        ingest_running=Gauge(
            "reportrag_ingest_running", "1 while an ingestion runs in this process",
            multiprocess_mode="livemax"),
        ingest_documents=Counter(
            "reportrag_ingest_documents", "Documents an ingestion finished (done) or skipped "
            "as unchanged (skipped)", ["outcome"]),
        ingest_pending=Gauge(
            "reportrag_ingest_documents_pending",
            "Documents of the running ingestion not finished yet",
            multiprocess_mode="livemax"),
        ingest_chunks=Counter(
            "reportrag_ingest_chunks_embedded", "Chunks embedded by ingestion"),
        ingest_embed_seconds=Counter(
            "reportrag_ingest_embed_seconds", "Seconds ingestion spent embedding"),
        ingest_progress_time=Gauge(
            "reportrag_ingest_last_progress_timestamp_seconds",
            "Unix time of the running ingestion's last progress (a document or a batch)",
            multiprocess_mode="max"),
        mcp_tool_calls=Counter(
            "reportrag_mcp_tool_calls", "MCP tool calls answered, by tool and outcome "
            "(ok, error: the caller's mistake or a store failure)", ["tool", "outcome"]),
    )
