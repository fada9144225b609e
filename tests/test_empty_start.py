"""`reportrag serve` started on an empty data directory (no collection yet), as a real process.

Searches answer 503 `not_ready` "… does not exist yet: ingest first" until something
ingests; the admin ingestion creates the collection itself, and a collection that another
process (`reportrag ingest`) creates is picked up without a restart.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.servers import REPO, ApiServer

pytestmark = pytest.mark.slow
DOC = "002_e3e1792454d159ff.txt"  # 10 chunks: "The rise of open source LLMs"
KEY = "empty-start-admin-key"
QUERY = {"query": "Which browser did the Mozilla open source project develop?", "top_k": 3}


@pytest.fixture
def env(tmp_path: Path, model_path: str) -> dict[str, str]:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(REPO / "corpus" / DOC, corpus / DOC)
    return {
        "REPORTRAG_DATA_DIR": str(tmp_path / "data"),  # does not exist yet
        "REPORTRAG_CORPUS_DIR": str(corpus),
        "REPORTRAG_MODEL": model_path,
        "REPORTRAG_THREADS": "1",
        "REPORTRAG_MILVUS_TIMEOUT": "30",
        "REPORTRAG_API_KEY": KEY,
    }


@pytest.fixture
def served(tmp_path: Path, env: dict[str, str]):
    server = ApiServer(tmp_path, env).start()
    try:
        yield server
    finally:
        server.stop()


def _assert_no_collection_yet(url: str) -> None:
    r = httpx.post(f"{url}/v1/search", json=QUERY, timeout=60)
    assert r.status_code == 503, r.text
    err = r.json()["error"]
    assert err["code"] == "not_ready", err
    assert "does not exist yet: ingest first" in err["message"]
    r = httpx.get(f"{url}/readyz", timeout=60)
    assert r.status_code == 503
    assert "does not exist yet" in r.json()["error"]["details"]["milvus"]


def _assert_searchable(url: str) -> None:
    r = httpx.post(f"{url}/v1/search", json=QUERY, timeout=60)
    assert r.status_code == 200, r.text
    hits = r.json()["hits"]
    assert hits and hits[0]["doc_id"] == DOC.removesuffix(".txt")
    assert httpx.get(f"{url}/readyz", timeout=60).status_code == 200


def test_admin_ingestion_into_an_empty_data_dir_creates_the_collection(served: ApiServer) -> None:
    _assert_no_collection_yet(served.url)
    r = httpx.post(f"{served.url}/v1/ingest", json={}, headers={"X-API-Key": KEY}, timeout=300)
    assert r.status_code == 200, r.text
    summary = r.json()
    assert summary["documents"] == 1 and summary["chunks"] == summary["added"] == 10, summary
    _assert_searchable(served.url)


def test_a_collection_the_cli_creates_after_serve_started_is_picked_up(
    served: ApiServer, env: dict[str, str], tmp_path: Path
) -> None:
    _assert_no_collection_yet(served.url)
    # `reportrag ingest` in a process of its own, through serve's Milvus Lite process.
    cli = subprocess.run(
        [sys.executable, "-m", "reportrag.api.cli", "ingest"], cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", **env},
        capture_output=True, text=True, timeout=600,
    )
    assert cli.returncode == 0, cli.stderr[-3000:]
    assert "10 added" in cli.stdout + cli.stderr
    _assert_searchable(served.url)
    assert served.proc is not None and served.proc.poll() is None  # the same server
    # The first admin ingestion after that (it once failed: "MilvusStore is not connected").
    r = httpx.post(f"{served.url}/v1/ingest", json={"full": True}, headers={"X-API-Key": KEY},
                   timeout=300)
    assert r.status_code == 200, r.text
    assert r.json()["unchanged"] == 10 and r.json()["added"] == 0
    _assert_searchable(served.url)
