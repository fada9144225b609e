"""Shared fixtures: the real model is built/loaded once per session and shared read-only."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "corpus"


def pytest_configure(config: pytest.Config) -> None:
    # No model hub here (and none in CI): resolution must fall through to the local build.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def models_dir() -> Path:
    """A model cache shared by the test session (and by later local runs)."""
    path = Path(os.environ.get("REPORTRAG_TEST_MODELS_DIR", REPO / ".cache" / "test-models"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def model_path(models_dir: Path) -> str:
    """The default model's directory (built on first use), for servers that load it themselves."""
    from reportrag.embedding.resolve import resolve_model

    return str(resolve_model("intfloat/multilingual-e5-small", models_dir).path)


@pytest.fixture(scope="session")
def embedder(models_dir: Path):
    """The default embedder (torch for documents, ONNX Runtime int8 for queries), warm."""
    from reportrag.embedding import load_embedder

    emb = load_embedder("intfloat/multilingual-e5-small", models_dir=models_dir, threads=2)
    emb.warm_up()
    return emb


@pytest.fixture(scope="session")
def corpus_texts() -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(CORPUS.glob("00*.txt"))}


def _ingested(settings, embedder):
    from reportrag.ingest.corpus import discover
    from reportrag.ingest.pipeline import run_ingest
    from reportrag.langid import LanguageDetector
    from reportrag.wiring import store_from_settings

    store = store_from_settings(settings, embedder.dim)
    store.connect()
    store.ensure_collection(embedder.fingerprint())
    docs = discover(CORPUS)
    run_ingest(
        docs, embedder=embedder, store=store, detector=LanguageDetector(),
        chunk_tokens=settings.chunk_tokens, overlap_tokens=settings.chunk_overlap_tokens,
        progress=False, prune_doc_ids=True,
    )
    store.close()
    return settings


@pytest.fixture(scope="session")
def lite_settings(tmp_path_factory: pytest.TempPathFactory, embedder, models_dir: Path):
    """Settings of a Milvus Lite collection holding the whole corpus, ingested once."""
    from reportrag.settings import Settings

    settings = Settings(
        _env_file=None, data_dir=tmp_path_factory.mktemp("lite-data"), corpus_dir=CORPUS,
        model=str(embedder.spec.path), threads=2,
        milvus_timeout=30,  # Milvus Lite runs in-process: a busy CI box must not time it out
    )
    return _ingested(settings, embedder)


@pytest.fixture(scope="session")
def server_settings(tmp_path_factory: pytest.TempPathFactory, embedder):
    """The same corpus in a collection on the real Milvus server (skipped without one)."""
    import uuid

    from reportrag.settings import Settings

    uri = os.environ.get("REPORTRAG_TEST_MILVUS_URI")
    if not uri:
        pytest.skip("REPORTRAG_TEST_MILVUS_URI not set (scripts/test.sh starts a server)")
    settings = Settings(
        _env_file=None, data_dir=tmp_path_factory.mktemp("server-data"), corpus_dir=CORPUS,
        model=str(embedder.spec.path), threads=2, milvus_uri=uri, milvus_timeout=30,
        collection=f"t_api_{uuid.uuid4().hex[:8]}",
    )
    return _ingested(settings, embedder)


@pytest.fixture(
    scope="session", params=["lite", pytest.param("server", marks=pytest.mark.integration)]
)
def backend_settings(request: pytest.FixtureRequest):
    """The corpus on each backend: Milvus Lite, then the real Milvus server."""
    return request.getfixturevalue(f"{request.param}_settings")


LIVE_ADMIN_KEY = "contract-admin-key-8c2f"
LIVE_HEADER_TIMEOUT = 2.0
LATIN_1_FILE = "latin-1-bericht.txt"  # a German text saved as Latin-1, not UTF-8


@pytest.fixture(scope="session")
def live_server(lite_settings, tmp_path_factory: pytest.TempPathFactory):
    """`reportrag serve` (real model, a copy of the ingested corpus) for tests that only read,
    or whose writes fail: an admin key, a short request-head timeout, and a corpus folder
    with one file in Latin-1 beside the real ones."""
    import shutil

    from tests.servers import live_api

    work = tmp_path_factory.mktemp("live-server")
    corpus = work / "corpus"
    shutil.copytree(CORPUS, corpus)
    (corpus / LATIN_1_FILE).write_bytes(
        "Der Bär läuft über die Brücke. Größere Modelle brauchen mehr Grafikkarten.".encode(
            "latin-1"
        )
    )
    env = {
        "REPORTRAG_CORPUS_DIR": str(corpus),
        "REPORTRAG_API_KEY": LIVE_ADMIN_KEY,
        "REPORTRAG_HEADER_TIMEOUT": str(LIVE_HEADER_TIMEOUT),
    }
    with live_api(lite_settings, work, env) as server:
        yield server
