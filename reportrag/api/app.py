"""The FastAPI application: routers, error shape, limits, CORS, security headers, lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI

from reportrag import __version__
from reportrag.api import errors, jobs, observability, security, tracing
from reportrag.api.cors import JsonCORSMiddleware
from reportrag.api.integrations import dify, openai_vs
from reportrag.api.integrations.common import publish_store_id
from reportrag.api.limits import BodyLimit, publish_query_limit
from reportrag.api.links import publish_links
from reportrag.api.routes import admin, documents, health, page, search, uploads
from reportrag.api.runtime import Runtime
from reportrag.settings import Settings, get_settings

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

logger = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, *, runtime: Runtime | None = None,
               tracer_provider: TracerProvider | None = None) -> FastAPI:
    """Build the app; the model and Milvus connect in the lifespan (or use ``runtime``).

    Traces go to ``tracer_provider``, else to what the ``OTEL_*`` variables configure
    (reportrag/api/tracing.py); with neither, tracing is off.
    """
    provider = tracer_provider or tracing.provider_from_env()
    owned = tracer_provider is None and provider is not None

    mcp_endpoint = None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if runtime is None:
            rt = Runtime(settings or get_settings())
            rt.start()
            app.state.runtime = rt
        else:
            app.state.runtime = runtime
        async with AsyncExitStack() as stack:
            if mcp_endpoint is not None:
                await stack.enter_async_context(mcp_endpoint.running())
            runner = jobs.start_runner(app.state.runtime)
            app.state.jobs = runner
            stack.callback(runner.stop)
            yield
        if runtime is None:
            app.state.runtime.close()
        if owned and provider is not None:
            provider.shutdown()  # sends the spans still queued

    app = FastAPI(
        title="reportrag",
        version=__version__,
        lifespan=lifespan,
        description="Multilingual retrieval (English, Chinese, German) over reports, on Milvus.",
        # /docs is served by api.security with a Content-Security-Policy of its own; ReDoc
        # and the OAuth2 redirect page are off (more third-party origins, no OAuth2 here).
        docs_url=None,
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
    )
    cfg = settings or (runtime.settings if runtime else get_settings())
    app.add_middleware(
        BodyLimit, max_bytes=cfg.max_body_bytes, upload_bytes=cfg.max_upload_bytes
    )
    publish_query_limit(app, cfg.max_query_chars,
                        ("SearchIn", "ContextIn", "RetrievalIn", "VectorStoreSearchIn"))
    publish_links(app)
    if cfg.cors_origins:
        app.add_middleware(
            JsonCORSMiddleware,
            allow_origins=cfg.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type", "X-API-Key", "X-Request-ID"],
            expose_headers=["X-Request-ID"],
        )
    errors.install(app)
    for module in (health, search, documents, admin, uploads, page):
        app.include_router(module.router)
    # Other services' retrieval contracts, each with its own shapes (reportrag/api/integrations/).
    app.include_router(dify.router)
    app.include_router(openai_vs.router)
    publish_store_id(app, cfg.collection)
    if cfg.mcp:  # the MCP tools at /mcp (reportrag/api/mcp.py)
        from reportrag.api import mcp

        mcp_endpoint = mcp.mount(app, cfg.cors_origins)
    if provider is not None:  # first: it needs Starlette's own stack, unwrapped
        tracing.instrument(app, provider)
    security.install(app)
    observability.install(app, metrics=cfg.metrics)  # outermost: wraps the security headers
    return app
