"""A `reportrag serve` killed (SIGKILL) in the middle of an upload's job: after a restart the
job runs again and the collection holds exactly what an uninterrupted run writes."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from reportrag.ingest.plan import prepare_document
from reportrag.langid import LanguageDetector
from reportrag.store import MilvusStore
from reportrag.types import DocumentMeta
from tests.conftest import CORPUS
from tests.servers import ApiServer, copy_lite

pytestmark = pytest.mark.slow
KEY = "restart-admin-key"
ADMIN = {"X-API-Key": KEY}
EDITION = CORPUS / "000_a4d6d44b88908d33.txt"  # the English report: ~100 chunks


def _job(server: ApiServer, job_id: str) -> dict:
    return httpx.get(f"{server.url}/v1/jobs/{job_id}", headers=ADMIN, timeout=30).json()


def test_a_job_killed_mid_embedding_converges_after_a_restart(
    lite_settings, embedder, tmp_path: Path
) -> None:
    data = copy_lite(lite_settings.data_dir, tmp_path / "data")
    env = {
        "REPORTRAG_DATA_DIR": str(data),
        "REPORTRAG_CORPUS_DIR": str(lite_settings.corpus_dir),
        "REPORTRAG_MODEL": lite_settings.model,
        "REPORTRAG_API_KEY": KEY,
        "REPORTRAG_INGEST_BATCH": "8",  # many small batches: the kill lands between them
    }
    server = ApiServer(tmp_path, env).start()
    try:
        server.wait_ready()
        r = httpx.post(
            f"{server.url}/v1/documents", headers=ADMIN, timeout=120,
            files={"file": ("edition.txt", EDITION.read_bytes())},
            data={"metadata": json.dumps({"doc_id": "edition", "lang": "en"})},
        )
        assert r.status_code == 202, r.text
        job_id = r.json()["job_id"]
        deadline = time.monotonic() + 300
        while True:  # some batches embedded and written hidden, not all of them
            job = _job(server, job_id)
            if job["state"] == "embedding" and job["progress"].get("embedded", 0) >= 24:
                break
            assert job["state"] in ("queued", "parsing", "embedding"), job
            assert time.monotonic() < deadline, job
            time.sleep(0.05)
        os.killpg(server.pid, signal.SIGKILL)
        server.proc.wait(timeout=30)
    finally:
        server.stop()
    interrupted = json.loads((data / "jobs" / f"{job_id}.json").read_text())
    assert interrupted["state"] == "embedding" and interrupted["attempts"] == 1
    time.sleep(1.0)  # the killed Lite child (it dies with its parent) lets go of the database

    again = ApiServer(tmp_path, env).start()
    try:
        again.wait_ready()
        deadline = time.monotonic() + 600
        while (job := _job(again, job_id))["state"] not in ("done", "failed"):
            assert time.monotonic() < deadline, job
            time.sleep(0.5)
        assert job["state"] == "done" and job["attempts"] == 2, job
        docs = httpx.get(f"{again.url}/v1/documents/edition", timeout=30).json()
    finally:
        again.stop()

    # What an uninterrupted run writes: the same chunk ids, no row left hidden.
    meta = DocumentMeta(doc_id="edition", path=str(data / "uploads" / "edition" / "original.txt"),
                        title="", lang="en")
    _, expected = prepare_document(
        meta, embedder=embedder, detector=LanguageDetector(),
        chunk_tokens=lite_settings.chunk_tokens, overlap_tokens=lite_settings.chunk_overlap_tokens,
    )
    assert docs["chunks"] == len(expected)
    store = MilvusStore(str(data / "milvus.db"), lite_settings.collection, embedder.dim)
    store.connect()
    try:
        store.ensure_collection(embedder.fingerprint())  # opens and loads it
        stored = store.doc_index("edition")  # every row of the document, hidden ones too
        visible = {c.chunk_id for c in store.chunks_of("edition")}
    finally:
        store.close()
    assert set(stored) == visible == {c.chunk_id for c in expected}
