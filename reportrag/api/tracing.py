"""OpenTelemetry tracing of the API, off unless the standard ``OTEL_*`` variables ask for it.

Tracing starts when an exporter is configured: ``OTEL_TRACES_EXPORTER`` (``otlp`` or
``console``; ``none`` turns it off) or an OTLP endpoint (``OTEL_EXPORTER_OTLP_ENDPOINT`` /
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``, sent over HTTP/protobuf); ``OTEL_SDK_DISABLED=true``
wins over both. The service is named by ``OTEL_SERVICE_NAME`` (default ``reportrag``), and
the SDK reads the other standard variables (headers, sampler, batch sizes) itself.

A request's span comes from the FastAPI instrumentation (health probes and /metrics are
left out); below it reportrag/tracing.py's spans: the search, the query encoding, each Milvus
call, fusion, context rendering. Attributes are modes, counts and operation names, never a
query, a passage or a header.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from reportrag import tracing

if TYPE_CHECKING:
    from fastapi import FastAPI
    from opentelemetry.sdk.trace import TracerProvider

log = logging.getLogger(__name__)

EXCLUDED_URLS = "healthz,readyz,metrics"
EXPORTERS = ("otlp", "console")


def wanted_exporter(env: Mapping[str, str]) -> str | None:
    """The exporter the environment asks for (otlp, console), or None: tracing stays off."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    names = [n.strip().lower() for n in env.get("OTEL_TRACES_EXPORTER", "").split(",")]
    names = [n for n in names if n]
    if "none" in names:
        return None
    for name in names:
        if name not in EXPORTERS:
            log.warning("OTEL_TRACES_EXPORTER=%s is not supported (%s): tracing off",
                        name, ", ".join(EXPORTERS))
            return None
    if names:
        return names[0]
    if env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return "otlp"
    return None


def provider_from_env(env: Mapping[str, str] | None = None) -> TracerProvider | None:
    """A tracer provider exporting as the environment says, or None when tracing is off."""
    env = os.environ if env is None else env
    exporter_name = wanted_exporter(env)
    if exporter_name is None:
        return None
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        ConsoleSpanExporter,
        SpanExporter,
    )

    if exporter_name == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        # endpoint, headers, timeout: from OTEL_EXPORTER_OTLP_*
        exporter: SpanExporter = OTLPSpanExporter()
    else:
        exporter = ConsoleSpanExporter()
    name = env.get("OTEL_SERVICE_NAME") or "reportrag"
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: name}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    log.info("tracing: exporting spans (%s) as service %s", exporter_name, name)
    return provider


def instrument(app: FastAPI, provider: TracerProvider) -> None:
    """Trace ``app``'s requests with ``provider``, and reportrag's stages under them."""
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    tracing.set_provider(provider)
    FastAPIInstrumentor.instrument_app(app, tracer_provider=provider,
                                       excluded_urls=EXCLUDED_URLS)
