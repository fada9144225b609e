"""Passages embedded in a child process (issue #26, embedding/process_engine.py): the same
vectors as in-process embedding, a child that dies mid-call fails that call only, an idle child
exits, and a live ``reportrag serve`` whose upload jobs never load torch into the API process."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from reportrag.errors import ModelError
from reportrag.settings import Settings
from reportrag.wiring import embedder_from_settings

pytestmark = pytest.mark.slow
CORPUS = Path(__file__).resolve().parent.parent / "corpus"
KEY = "embed-worker-admin-key"
TORCH_LIBRARY = "libtorch_cpu.so"


def _paragraphs(n: int) -> list[str]:
    paras = [p.strip() for f in sorted(CORPUS.glob("00*.txt"))  # one paragraph a line
             for p in f.read_text(encoding="utf-8").splitlines() if 80 < len(p.strip()) < 400]
    return paras[:n]


def _child_embedder(embedder, tmp_path: Path, idle_s: float = 60.0):
    settings = Settings(_env_file=None, data_dir=tmp_path, model=str(embedder.spec.path),
                        threads=2, embed_worker_idle_s=idle_s)
    emb = embedder_from_settings(settings, passages_in_child=True)
    assert "child process" in emb.engines()["documents"]
    return emb


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1].startswith("Z")  # a zombie is gone too
    except FileNotFoundError:
        return True


def _wait_for(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_the_child_embeds_the_same_vectors_as_this_process(embedder, tmp_path: Path) -> None:
    texts = _paragraphs(8)
    assert len(texts) == 8
    emb = _child_embedder(embedder, tmp_path)
    try:
        child = emb.embed_documents(texts)
        assert emb.document_engine.pid not in (None, os.getpid())
        assert emb.precisions()["documents"] == embedder.precisions()["documents"]
    finally:
        emb.document_engine.close()
    here = embedder.embed_documents(texts)
    assert child.dtype == here.dtype == np.float32 and child.shape == here.shape
    assert np.array_equal(child, here)


def test_a_child_killed_mid_call_fails_that_call_and_the_next_starts_another(
    embedder, tmp_path: Path
) -> None:
    emb = _child_embedder(embedder, tmp_path)
    engine = emb.document_engine
    try:
        engine.load()
        first = engine.pid
        assert first is not None
        failed: list[BaseException] = []

        def embed_many() -> None:
            try:
                emb.embed_documents(_paragraphs(400) * 4)
            except ModelError as exc:
                failed.append(exc)

        worker = threading.Thread(target=embed_many)
        worker.start()
        time.sleep(1.0)  # the call is under way in the child
        os.kill(first, signal.SIGKILL)
        worker.join(timeout=60)
        assert not worker.is_alive()
        assert len(failed) == 1
        message = str(failed[0])
        assert f"passage-embedding process (pid {first}) was killed by signal 9" in message
        assert "the next call starts a new one" in message
        again = emb.embed_documents(_paragraphs(2))
        assert again.shape == (2, emb.dim) and engine.pid not in (None, first)
    finally:
        engine.close()
    assert engine.pid is None


def test_an_idle_child_exits_and_the_next_call_starts_another(embedder, tmp_path: Path) -> None:
    emb = _child_embedder(embedder, tmp_path, idle_s=1.0)
    engine = emb.document_engine
    try:
        first = emb.embed_documents(_paragraphs(1))
        pid = engine.pid
        assert pid is not None and not _gone(pid)
        _wait_for(lambda: _gone(pid), 30, "the idle child to exit")
        assert engine.pid is None
        second = emb.embed_documents(_paragraphs(1))
        assert engine.pid not in (None, pid)
        assert np.array_equal(first, second)
    finally:
        engine.close()


# -- a live `reportrag serve` ------------------------------------------------------------------


def _children(pid: int, module: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().split(") ")[1].split()[1])
            cmdline = (entry / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid and module.encode() in cmdline:
            found.append(int(entry.name))
    return found


def _maps_torch(pid: int) -> bool:
    return TORCH_LIBRARY in Path(f"/proc/{pid}/maps").read_text()


def _upload(url: str, name: str, text: str) -> str:
    r = httpx.post(f"{url}/v1/documents", files={"file": (name, text.encode())},
                   data={"metadata": f'{{"doc_id": "{name.split(".")[0]}"}}'},
                   headers={"X-API-Key": KEY}, timeout=60)
    assert r.status_code == 202, r.text
    return str(r.json()["job_id"])


def _job(url: str, job_id: str) -> dict:
    return dict(httpx.get(f"{url}/v1/jobs/{job_id}", headers={"X-API-Key": KEY},
                          timeout=30).json())


def _finished(url: str, job_id: str, timeout: float = 300) -> dict:
    return _wait_for(lambda: (lambda j: j if j["state"] in ("done", "failed") else None)(
        _job(url, job_id)), timeout, f"job {job_id}")


def _long_text(paragraphs: int) -> str:
    words = "river market budget survey harbour ledger orchard signal census tariff".split()
    return "\n\n".join(
        f"Section {i}. " + " ".join(f"{words[(i * 7 + j) % 10]}{i % 13} item {j} of part {i}."
                                     for j in range(40))
        for i in range(paragraphs)
    )


def test_serving_embeds_uploads_in_a_child_and_never_loads_torch(
    lite_settings, tmp_path: Path
) -> None:
    from tests.servers import live_api

    module = "reportrag.embedding.worker"
    env = {"REPORTRAG_API_KEY": KEY, "REPORTRAG_EMBED_WORKER_IDLE_S": "3",
           "REPORTRAG_THREADS": "2", "REPORTRAG_INGEST_BATCH": "32"}
    with live_api(lite_settings, tmp_path, env) as server:
        assert not _maps_torch(server.pid)
        job = _finished(server.url, _upload(server.url, "lighthouse.txt",
                        "The lighthouse keeper logs every passing ship in a green ledger."))
        assert job["state"] == "done" and job["result"]["chunks"] >= 1, job
        hits = httpx.post(f"{server.url}/v1/search", timeout=60, json={
            "query": "who logs passing ships?", "top_k": 1,
            "filters": {"doc_id": ["lighthouse"]}}).json()["hits"]
        assert hits and "green ledger" in hits[0]["text"]
        assert not _maps_torch(server.pid), "the API process loaded torch"
        # The child that embedded it exits once idle.
        _wait_for(lambda: not _children(server.pid, module), 60, "the idle child to exit")

        # A child killed mid-job fails that job with a clear error ...
        long_job = _upload(server.url, "ledger.txt", _long_text(80))  # 4+ model calls
        child = _wait_for(lambda: _children(server.pid, module), 120, "a child")[0]
        _wait_for(lambda: _job(server.url, long_job)["progress"].get("embedded", 0) > 0, 300,
                  "the first model call")  # the child is up and at the second
        os.kill(child, signal.SIGKILL)
        failed = _finished(server.url, long_job)
        assert failed["state"] == "failed", failed
        # (ingest_incomplete: it stopped after writing the chunks of its first model call)
        assert failed["error"]["code"] in ("model_error", "ingest_incomplete")
        assert "passage-embedding process" in failed["error"]["message"]
        assert "killed by signal 9 while embedding" in failed["error"]["message"]
        # ... and the next job gets a new child and succeeds.
        job = _finished(server.url, _upload(server.url, "orchard.txt",
                        "The orchard cooperative sells cider apples to three villages."))
        assert job["state"] == "done", job
        assert not _maps_torch(server.pid)
