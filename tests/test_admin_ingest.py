"""Admin ingestion through the real app, model and Milvus Lite: what the corpus is, doc ids,
cancelling, and a failure after the write (issue #22 items 1, 2, 4, 6, 7)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from bench.parse import giant_code, giant_table, invisible_mix, long_list, nested_divs, one_line
from reportrag.api.app import create_app
from reportrag.api.ingesting import ingest_from_settings
from reportrag.api.runtime import Runtime
from reportrag.errors import StoreError
from reportrag.ingest.cancel import request_cancel
from reportrag.ingest.pipeline import ingest_lock
from reportrag.settings import Settings
from reportrag.store import MilvusStore
from reportrag.wiring import store_from_settings

pytestmark = pytest.mark.slow
KEY = "admin-key-for-tests"
ADMIN = {"X-API-Key": KEY}
PRIVATE = "The quarterly salary of Jane Roe is 12345 thalers."
TOPICS = ["licences", "funding rounds", "maintainers", "security audits", "foundations",
          "governance", "release cycles", "documentation"]


def _essay(subject: str, paragraphs: int = 4) -> str:
    return "\n\n".join(
        f"{subject}: part {p}. " + " ".join(
            f"Open source {t} matter to {subject.lower()} in year {2000 + p * 7 + i}."
            for i, t in enumerate(TOPICS)
        )
        for p in range(paragraphs)
    ) + "\n"


@pytest.fixture()
def setup(tmp_path: Path, embedder) -> Iterator[tuple[TestClient, Settings, Path]]:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "guide.md").write_text("# Guide\n\n" + _essay("Community guide"), encoding="utf-8")
    (corpus / "README.md").write_text("This folder holds the guides.\n", encoding="utf-8")
    private = tmp_path / "private.txt"
    private.write_text(PRIVATE + "\n", encoding="utf-8")
    (corpus / "x.txt").symlink_to(private)  # a link out of the corpus folder
    settings = Settings(
        _env_file=None, data_dir=tmp_path / "data", corpus_dir=corpus,
        model=str(embedder.spec.path), threads=2, milvus_timeout=30,
        chunk_tokens=64, chunk_overlap_tokens=8, ingest_batch=4, api_key=SecretStr(KEY),
    )
    store = store_from_settings(settings, embedder.dim)
    store.connect()
    first = ingest_from_settings(settings, embedder=embedder, store=store)  # the CLI's path
    store.close()
    assert [r["file"] for r in first.refused] == ["x.txt"]
    runtime = Runtime(settings, embedder=embedder)
    runtime.start()
    assert runtime.service is not None, runtime.store_error
    with TestClient(create_app(settings, runtime=runtime)) as client:
        yield client, settings, corpus


def _docs(client: TestClient) -> dict[str, dict]:
    r = client.get("/v1/documents")
    assert r.status_code == 200, r.text
    return {d["doc_id"]: d for d in r.json()["documents"]}


def _texts(client: TestClient, query: str) -> list[str]:
    r = client.post("/v1/search", json={"query": query, "top_k": 10, "mode": "dense"})
    assert r.status_code == 200, r.text
    return [h["text"] for h in r.json()["hits"]]


def test_a_symlink_out_of_the_corpus_is_never_served(setup) -> None:
    client, _, _ = setup
    assert not any("Jane Roe" in t for t in _texts(client, "salary of Jane Roe"))
    r = client.post("/v1/ingest", json={}, headers=ADMIN)
    assert r.status_code == 200, r.text
    assert r.json()["refused"] == [
        {"file": "x.txt", "reason": "a symbolic link to a file outside the corpus folder"}
    ]
    assert set(_docs(client)) == {"guide"}
    r = client.post("/v1/ingest", json={"paths": ["x.txt"]}, headers=ADMIN)
    assert r.status_code == 422 and "corpus folder" in r.json()["error"]["message"]
    assert not any("Jane Roe" in t for t in _texts(client, "salary of Jane Roe"))


def test_chinese_file_names_are_two_documents_and_never_replace_each_other(setup) -> None:
    client, _, corpus = setup
    (corpus / "商业化.txt").write_text("开源软件的商业化路径包括托管服务。\n", encoding="utf-8")
    (corpus / "开源报告.txt").write_text("这份开源年度报告统计了贡献者的数量。\n", encoding="utf-8")
    r = client.post("/v1/ingest", json={}, headers=ADMIN)
    assert r.status_code == 200, r.text
    assert {"shang-ye-hua", "kai-yuan-bao-gao", "guide"} <= set(_docs(client))
    (corpus / "商业化.txt").write_text("开源软件的商业化路径包括云服务。\n", encoding="utf-8")
    r = client.post("/v1/ingest", json={"paths": ["商业化.txt"]}, headers=ADMIN)
    assert r.status_code == 200, r.text
    assert [d["doc_id"] for d in r.json()["per_document"]] == ["shang-ye-hua"]
    docs = _docs(client)
    assert docs["kai-yuan-bao-gao"]["chunks"] == 1  # the other file's document is untouched


@pytest.mark.parametrize("name", ["manifest.toml", "README.md"])
def test_the_manifest_and_readme_are_never_documents(setup, name: str) -> None:
    client, _, corpus = setup
    if name == "manifest.toml":
        (corpus / name).write_text("# no entries\n", encoding="utf-8")
    r = client.post("/v1/ingest", json={"paths": [name]}, headers=ADMIN)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "bad_document"
    assert set(_docs(client)) == {"guide"}


def test_cancel_answers_404_when_idle_and_202_while_an_ingestion_runs(setup) -> None:
    client, settings, _ = setup
    r = client.delete("/v1/ingest", headers=ADMIN)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    with ingest_lock(settings.data_dir):  # what a running ingestion holds
        r = client.delete("/v1/ingest", headers=ADMIN)
        assert r.status_code == 202 and r.json() == {"cancelling": True}
    assert client.delete("/v1/ingest").status_code in (401, 403)  # admin only


def test_a_cancelled_ingestion_leaves_no_part_of_a_document_visible(setup, embedder,
                                                                      monkeypatch) -> None:
    client, settings, corpus = setup
    (corpus / "long.md").write_text("# Long\n\n" + _essay("Foundation report", 12),
                                    encoding="utf-8")
    real, calls = embedder.embed_documents, []

    def embed_documents(texts, **kw):
        calls.append(len(texts))
        if len(calls) == 2:  # the first batch of long.md is stored (hidden) by now
            assert request_cancel(settings.data_dir)
        return real(texts, **kw)

    monkeypatch.setattr(embedder, "embed_documents", embed_documents)
    r = client.post("/v1/ingest", json={}, headers=ADMIN)
    assert r.status_code == 409, r.text
    assert r.json()["error"]["code"] == "cancelled"
    runtime = client.app.state.runtime
    assert runtime.store.doc_index("long") == {}  # its hidden rows were removed
    assert "long" not in _docs(client)
    monkeypatch.setattr(embedder, "embed_documents", real)
    r = client.post("/v1/ingest", json={}, headers=ADMIN)  # the next run finishes it
    assert r.status_code == 200, r.text
    stored = runtime.store.doc_index("long")
    assert stored and len(runtime.store.chunks_of("long")) == len(stored)


def test_a_failure_after_the_write_says_so_and_the_retry_finishes(setup, monkeypatch) -> None:
    client, _, corpus = setup
    (corpus / "more.md").write_text("# More\n\n" + _essay("Security notes", 2), encoding="utf-8")
    real = MilvusStore.consolidate

    def disk_full(self) -> int:
        raise StoreError("Milvus said: No space left on device")

    # The admin ingestion opens a connection of its own: fail every store's last step.
    monkeypatch.setattr(MilvusStore, "consolidate", disk_full)
    r = client.post("/v1/ingest", json={}, headers=ADMIN)
    assert r.status_code == 500, r.text
    err = r.json()["error"]
    assert err["code"] == "ingest_incomplete" and "Retry-After" not in r.headers
    assert err["details"]["written"] is True and "No space left" in err["details"]["reason"]
    assert "more" in _docs(client)  # written and published before the failure
    monkeypatch.setattr(MilvusStore, "consolidate", real)
    r = client.post("/v1/ingest", json={}, headers=ADMIN)
    assert r.status_code == 200, r.text
    assert r.json()["consolidated"] > 0  # the step that failed is done by the retry


HOSTILE = {
    "truncated.md": "# Title\n\n```python\ndef f():\n    return [",
    "unclosed.html": "<html><body><div><p>Text <b>bold <table><tr><td>cell",
    "nested.md": nested_divs(100_000),
    "one-line.md": one_line(10_000_000),  # over the chunk budget: refused before chunking
    "list.md": long_list(10_000),
    "invisible.md": invisible_mix(200),
    "table.md": giant_table(4_000),
    "code.md": giant_code(4_000),
}


def test_hostile_documents_get_a_clear_answer_and_lose_nothing(setup) -> None:
    client, _, corpus = setup
    before = _docs(client)["guide"]
    answers = {}
    for name, text in HOSTILE.items():
        (corpus / name).write_text(text, encoding="utf-8")
        r = client.post("/v1/ingest", json={"paths": [name]}, headers=ADMIN)
        answers[name] = r.status_code
        assert r.status_code in (200, 422), (name, r.text[:500])
        if r.status_code == 422:
            err = r.json()["error"]
            assert err["code"] == "bad_document" and name in err["message"], err
        # The service keeps serving, and what was stored before is untouched.
        assert any("Community guide" in t for t in _texts(client, "open source licences"))
        assert _docs(client)["guide"] == before
        (corpus / name).unlink()
    assert answers["one-line.md"] == 422  # 10 MB of prose: ~20,000 chunks, over 5,000
    assert answers["truncated.md"] == answers["list.md"] == answers["code.md"] == 200
