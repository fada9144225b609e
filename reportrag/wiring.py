"""Build the core services from settings; called only by entry points (CLI, API lifespan)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from reportrag.embedding import Embedder, TextEmbedder, load_embedder
from reportrag.settings import Settings

if TYPE_CHECKING:
    from reportrag.store import IndexConfig, MilvusStore

log = logging.getLogger(__name__)


def embedder_from_settings(settings: Settings, *, passages_in_child: bool = False) -> TextEmbedder:
    """The configured embedder (weights load lazily).

    ``passages_in_child`` (the serving process): a document engine of its own (torch, by
    default) runs in a child process started on first use and stopped when idle
    (REPORTRAG_EMBED_WORKER_IDLE_S; 0: in this process), so that searching never holds it.
    """
    emb = load_embedder(
        settings.model,
        models_dir=settings.models_dir,
        engine=settings.model_engine,
        device=settings.device,
        threads=settings.threads,
        batch_size=settings.embed_batch_size,
        precision=settings.precision,
        query_precision=settings.query_precision,
    )
    engine = emb.document_engine
    if passages_in_child and settings.embed_worker_idle_s > 0 and engine is not emb.query_engine:
        from reportrag.embedding.process_engine import ProcessEngine

        emb.document_engine = ProcessEngine(
            settings.without_secrets(), name=engine.name,
            precision=str(getattr(engine, "precision", "fp32")),
            idle_s=settings.embed_worker_idle_s,
        )
    return emb


def index_config_from_settings(settings: Settings) -> IndexConfig:
    """The vector index settings as the store's IndexConfig (ConfigError when inconsistent)."""
    from reportrag.store import IndexConfig

    return IndexConfig(
        kind=settings.index_kind,
        hnsw_m=settings.hnsw_m,
        hnsw_ef_construction=settings.hnsw_ef_construction,
        search_ef=settings.search_ef,
        ivf_nlist=settings.ivf_nlist,
        ivf_nprobe=settings.ivf_nprobe,
    )


def store_from_settings(settings: Settings, dim: int) -> MilvusStore:
    """The configured Milvus store (not yet connected)."""
    from reportrag.store import MilvusStore

    token = settings.milvus_token.get_secret_value() if settings.milvus_token else None
    address = None
    if settings.milvus_uri is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        address = settings.lite_address
        if address is None:
            # A running `reportrag serve` owns the Lite file: go through its Lite process.
            from reportrag.store.lite_process import running_address

            address = running_address(Path(settings.resolved_milvus_uri))
            if address is not None:
                log.info("Milvus Lite %s is served by a running process at %s: using it",
                         settings.resolved_milvus_uri, address)
    return MilvusStore(
        settings.resolved_milvus_uri,
        settings.collection,
        dim,
        token=token,
        timeout=settings.milvus_timeout,
        index=index_config_from_settings(settings),
        address=address,
    )


def open_collection(settings: Settings, embedder: Embedder) -> MilvusStore:
    """Connect to Milvus and open the existing, loaded collection for reading.

    Raises CollectionMissingError when it does not exist yet (with what creates it) and
    FingerprintMismatchError when it was built with another model.
    """
    from reportrag.errors import CollectionMissingError, ReportragError

    store = store_from_settings(settings, embedder.dim)
    try:
        store.connect()
        if not store.has_collection():
            raise CollectionMissingError(
                f"collection {settings.collection!r} does not exist yet: ingest first "
                "(`reportrag ingest`, or POST /v1/ingest on the API)",
                details={"collection": settings.collection},
            )
        store.ensure_collection(embedder.fingerprint())
    except ReportragError:
        store.close()
        raise
    return store
