"""Uploads through the real app, model and Milvus Lite: upload → job → search with pages,
idempotent re-uploads, replacement without stale chunks, a queue that fills, hostile files,
and ``reportrag add``."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from reportrag.api.app import create_app
from reportrag.api.cli import main as cli_main
from reportrag.api.ingesting import ingest_from_settings
from reportrag.api.runtime import Runtime
from reportrag.ingest.jobs import JobStore
from reportrag.settings import Settings
from reportrag.wiring import store_from_settings
from tests import pdfs
from tests.test_formats import need_ocr

pytestmark = pytest.mark.slow
KEY = "upload-admin-key"
ADMIN = {"X-API-Key": KEY}
FORMATS = Path(__file__).parent / "data" / "formats"
EN_QUESTION = "Into which three layers is the technical architecture of LLMs divided?"
EN_ANSWER = "divided into three main layers"
ZH_QUESTION = "全球 AI 市场规模的年复合增长率是多少?"
ZH_ANSWER = "年复合增长率达 23%"
MAX_UPLOAD = 1024 * 1024


def _settings(tmp_path: Path, embedder, **kw) -> Settings:
    corpus = tmp_path / "corpus"
    corpus.mkdir(exist_ok=True)
    (corpus / "guide.md").write_text(
        "# Community guide\n\nMaintainers review pull requests every week and answer "
        "questions about licences in the forum.\n", encoding="utf-8",
    )
    return Settings(
        _env_file=None, data_dir=tmp_path / "data", corpus_dir=corpus,
        model=str(embedder.spec.path), threads=2, milvus_timeout=30, api_key=SecretStr(KEY),
        max_upload_bytes=MAX_UPLOAD, **kw,
    )


@pytest.fixture()
def app(tmp_path: Path, embedder) -> Iterator[tuple[TestClient, Settings]]:
    settings = _settings(tmp_path, embedder)
    store = store_from_settings(settings, embedder.dim)
    store.connect()
    ingest_from_settings(settings, embedder=embedder, store=store)
    store.close()
    runtime = Runtime(settings, embedder=embedder)
    runtime.start()
    with TestClient(create_app(settings, runtime=runtime)) as client:
        yield client, settings


def _upload(client: TestClient, name: str, data: bytes | None = None, *,
            metadata: dict | None = None, doc_id: str | None = None):
    data = (FORMATS / name).read_bytes() if data is None else data
    form = {"metadata": json.dumps(metadata)} if metadata is not None else {}
    url = "/v1/documents" if doc_id is None else f"/v1/documents/{doc_id}"
    send = client.post if doc_id is None else client.put
    return send(url, files={"file": (name, data)}, data=form, headers=ADMIN)


def _wait(client: TestClient, job_id: str, timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"/v1/jobs/{job_id}", headers=ADMIN).json()
        if job["state"] in ("done", "failed"):
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.2)


def _search(client: TestClient, query: str, doc_id: str, **kw) -> list[dict]:
    body = {"query": query, "top_k": 3, "filters": {"doc_id": [doc_id]}, **kw}
    r = client.post("/v1/search", json=body)
    assert r.status_code == 200, r.text
    return r.json()["hits"]


def _chunks(client: TestClient, doc_id: str) -> int:
    docs = {d["doc_id"]: d for d in client.get("/v1/documents").json()["documents"]}
    return docs[doc_id]["chunks"] if doc_id in docs else 0


@pytest.mark.parametrize(
    ("name", "pages"), [("report-excerpt.pdf", True), ("report-excerpt.docx", True),
                        ("report-excerpt.html", False), ("report-excerpt-scan.pdf", True)],
)
def test_an_upload_is_found_through_its_job_and_cites_its_page(app, name: str, pages: bool) -> None:
    if "scan" in name:  # no text layer: read by OCR in the job
        need_ocr()
    client, _ = app
    meta = {"doc_id": "excerpt", "kind": "report",
            "metadata": {"year": 2023, "team": "legal", "public": True, "tags": ["llm", "oss"]}}
    r = _upload(client, name, metadata=meta)
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["doc_id"] == "excerpt" and body["unchanged"] is False
    assert r.headers["location"] == f"/v1/jobs/{body['job_id']}"
    job = _wait(client, body["job_id"])
    assert job["state"] == "done", job
    assert job["attempts"] == 1 and job["error"] is None
    assert job["progress"]["embedded"] == job["result"]["chunks"] > 0
    assert set(job["timings"]) >= {"parsing_s", "embedding_s", "writing_s", "total_s"}
    assert client.get("/v1/jobs", headers=ADMIN).json()["jobs"][0]["job_id"] == body["job_id"]

    hits = _search(client, EN_QUESTION, "excerpt")
    assert EN_ANSWER in hits[0]["text"]
    assert hits[0]["page"] == (3 if pages else None)
    assert hits[0]["metadata"] == meta["metadata"] and hits[0]["kind"] == "report"
    zh = _search(client, ZH_QUESTION, "excerpt", mode="dense")
    assert ZH_ANSWER in zh[0]["text"] and zh[0]["lang"] == "zh"
    assert zh[0]["page"] == (2 if pages else None)
    r = client.post("/v1/context", json={"query": EN_QUESTION, "top_k": 1,
                                         "filters": {"doc_id": ["excerpt"]}})
    citation = r.json()["citations"][0]
    assert citation["page"] == (3 if pages else None)
    assert (' page="3"' in r.json()["context"]) is pages
    chunk = client.get(f"/v1/chunks/{hits[0]['chunk_id']}").json()["chunk"]
    assert chunk["page"] == hits[0]["page"] and chunk["metadata"] == meta["metadata"]


def test_the_same_bytes_again_change_nothing_and_a_replacement_leaves_no_stale_chunk(app) -> None:
    client, settings = app
    first = _upload(client, "report-excerpt.pdf", metadata={"doc_id": "rep"})
    assert _wait(client, first.json()["job_id"])["state"] == "done"
    count = _chunks(client, "rep")
    again = _upload(client, "report-excerpt.pdf", metadata={"doc_id": "rep"})
    assert again.status_code == 200, again.text
    assert again.json() == {"doc_id": "rep", "job_id": None, "unchanged": True, "state": "done"}
    assert len(JobStore(settings.data_dir).all()) == 1 and _chunks(client, "rep") == count
    # POST under a taken id with other bytes: refused, nothing replaced
    other = _upload(client, "report-excerpt.docx", metadata={"doc_id": "rep"})
    assert other.status_code == 409 and "with PUT" in other.json()["error"]["message"]
    # PUT replaces: the new text is found, the old one is gone, every chunk is the new one's
    text = b"# Replaced\n\nThe steering committee now meets on the first Monday of each month.\n"
    put = _upload(client, "replaced.md", text, doc_id="rep")
    assert put.status_code == 202, put.text
    job = _wait(client, put.json()["job_id"])
    assert job["state"] == "done" and job["action"] == "replace", job
    assert _chunks(client, "rep") == 1
    hits = _search(client, "When does the steering committee meet?", "rep")
    assert [h["text"] for h in hits] == [text.decode().strip().removeprefix("# ")]
    assert not _search(client, EN_QUESTION, "rep", mode="dense")[1:]


def test_twenty_uploads_in_a_row_queue_and_all_finish(app) -> None:
    client, _ = app
    jobs = []
    for i in range(20):
        text = f"# Note {i}\n\nMeeting note number {i} records decision {i * 7} of the board.\n"
        r = _upload(client, f"note-{i:02d}.md", text.encode())
        assert r.status_code == 202, r.text
        jobs.append(r.json()["job_id"])
    for job_id in jobs:
        assert _wait(client, job_id)["state"] == "done"
    docs = {d["doc_id"] for d in client.get("/v1/documents").json()["documents"]}
    assert {f"note-{i:02d}" for i in range(20)} <= docs


def test_a_full_queue_answers_429_and_stores_nothing(tmp_path: Path, embedder) -> None:
    settings = _settings(tmp_path, embedder, job_queue=2)
    runtime = Runtime(settings, embedder=embedder)
    runtime.start()
    with TestClient(create_app(settings, runtime=runtime)) as client:
        client.app.state.jobs.stop()  # nothing runs: the queue only fills
        for i in range(2):
            assert _upload(client, f"a{i}.md", b"# A\n\nSome text.\n").status_code == 202
        r = _upload(client, "a2.md", b"# A\n\nSome text.\n")
        assert r.status_code == 429, r.text
        assert r.json()["error"]["code"] == "queue_full" and int(r.headers["retry-after"]) > 0
        assert not (settings.data_dir / "uploads" / "a2").exists()
        queued = client.get("/v1/jobs", headers=ADMIN, params={"state": "queued"}).json()
        assert len(queued["jobs"]) == 2


def _docx_bomb() -> bytes:
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("word/document.xml", b"\0" * (64 * 2**20))
    return buf.getvalue()


HOSTILE = [
    ("empty.pdf", b"", {}, 422, "invalid_input"),
    ("program.exe", b"MZ\x90\x00", {}, 415, "unsupported_media_type"),
    ("big.txt", b"a" * (MAX_UPLOAD + 1), {}, 413, "too_large"),
    ("huge.txt", b"a" * (MAX_UPLOAD + 400_000), {}, 413, "payload_too_large"),
    ("bomb.docx", None, {}, 422, "bad_document"),
    ("loop.pdf", pdfs.self_referencing_pdf(), {}, 422, "bad_document"),
    ("locked.pdf", pdfs.encrypted_pdf(), {}, 422, "bad_document"),
    ("../escape.md", b"# x\n\ntext\n", {}, 422, "invalid_input"),
    ("a" * 300 + ".md", b"# x\n\ntext\n", {}, 422, "invalid_input"),
    ("nested.md", b"# x\n\ntext\n", {"metadata": {"owner": {"name": "x"}}}, 422, "invalid_input"),
    ("bad-date.md", b"# x\n\ntext\n", {"date": "yesterday"}, 422, "invalid_input"),
    ("key.md", b"# x\n\ntext\n", {"metadata": {"no spaces": 1}}, 422, "invalid_input"),
    ("guide.md", b"# x\n\ntext\n", {}, 409, "conflict"),  # the corpus folder's document
]


@pytest.mark.parametrize(("name", "data", "meta", "status", "code"), HOSTILE,
                         ids=[h[0][:20] for h in HOSTILE])
def test_hostile_uploads_get_a_4xx_and_lose_nothing(app, name, data, meta, status, code) -> None:
    client, settings = app
    before = client.get("/v1/documents").json()
    r = _upload(client, name, _docx_bomb() if data is None else data, metadata=meta)
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code
    assert client.get("/v1/documents").json() == before
    assert not JobStore(settings.data_dir).all()
    assert _search(client, "Who reviews pull requests?", "guide")[0]["doc_id"] == "guide"


def test_a_pdf_without_text_is_refused_or_read_by_ocr(app, monkeypatch) -> None:
    client, settings = app
    blank = pdfs.drawing_only_pdf()  # no text layer, and nothing an OCR could read
    monkeypatch.setattr("reportrag.ingest.ocr.available", lambda: False)
    r = _upload(client, "blank.pdf", blank)
    assert r.status_code == 422 and r.json()["error"]["code"] == "no_text_layer"
    assert "Tesseract" in r.json()["error"]["message"]
    assert not JobStore(settings.data_dir).all()
    monkeypatch.undo()
    need_ocr()
    r = _upload(client, "blank.pdf", blank)  # accepted: its job runs the OCR
    assert r.status_code == 202, r.text
    job = _wait(client, r.json()["job_id"])
    assert job["state"] == "failed" and job["error"]["code"] == "no_text_layer"
    assert "OCR found no text" in job["error"]["message"]


def test_raw_hostile_requests(app) -> None:
    client, _ = app
    for filename in ('a\x00b.md', "a\nb.md"):  # a NUL or a newline inside the name
        body = (b"--X\r\nContent-Disposition: form-data; name=\"file\"; filename=\""
                + filename.encode() + b"\"\r\n\r\n# x\n\ntext\n\r\n--X--\r\n")
        r = client.post("/v1/documents", content=body, headers={
            **ADMIN, "Content-Type": "multipart/form-data; boundary=X"})
        assert r.status_code in (400, 422), r.text
        assert "error" in r.json()
    r = client.post("/v1/documents", data={"metadata": "{}"}, headers=ADMIN)  # no file
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request"
    r = _upload(client, "x.md", b"# x\n\ntext\n")
    assert r.status_code == 202
    r = client.post("/v1/documents", files={"file": ("y.md", b"# y\n\nt\n")},
                    data={"metadata": "{not json"}, headers=ADMIN)
    assert r.status_code == 422 and "not valid JSON" in r.json()["error"]["message"]
    r = client.post("/v1/documents", files={"file": ("y.md", b"# y\n\nt\n")})  # no key
    assert r.status_code == 401
    assert client.get("/v1/jobs/does-not-exist", headers=ADMIN).status_code == 422
    assert client.get("/v1/jobs/0000", headers=ADMIN).status_code == 404


def test_delete_removes_the_chunks_and_the_original(app) -> None:
    client, settings = app
    r = _upload(client, "report-excerpt.html", metadata={"doc_id": "gone"})
    assert _wait(client, r.json()["job_id"])["state"] == "done"
    original = settings.data_dir / "uploads" / "gone"
    kept = (original / "original.html").read_bytes()
    assert kept == (FORMATS / "report-excerpt.html").read_bytes()
    r = client.delete("/v1/documents/gone", headers=ADMIN)
    assert r.status_code == 200 and r.json()["upload_removed"] is True and r.json()["deleted"] > 0
    assert not original.exists() and _chunks(client, "gone") == 0
    assert client.delete("/v1/documents/gone", headers=ADMIN).status_code == 404


def test_reportrag_add_stores_and_ingests_and_a_rebuild_reads_it_again(
    tmp_path: Path, embedder, monkeypatch, capsys
) -> None:
    settings = _settings(tmp_path, embedder)
    for key, value in {"DATA_DIR": settings.data_dir, "CORPUS_DIR": settings.corpus_dir,
                       "MODEL": settings.model, "THREADS": 2}.items():
        monkeypatch.setenv(f"REPORTRAG_{key}", str(value))
    pdf = FORMATS / "report-excerpt.pdf"
    assert cli_main(["add", str(pdf), "--doc-id", "rep", "--meta", "year=2023",
                     "--meta", "team=legal", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.splitlines()[0])
    assert out["doc_id"] == "rep" and out["added"] == out["chunks"] > 0
    assert cli_main(["add", str(pdf), "--doc-id", "rep", "--meta", "year=2024"]) == 6
    assert "reportrag add --replace" in capsys.readouterr().err
    assert cli_main(["add", str(tmp_path / "missing.pdf")]) == 2
    assert cli_main(["ingest", "--rebuild", "--json", "--no-progress"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert {d["doc_id"] for d in summary["per_document"]} == {"guide", "rep"}
    assert cli_main(["search", EN_QUESTION, "--doc", "rep", "--top-k", "1"]) == 0
    assert "rep  p. 3" in capsys.readouterr().out
    where = '{"key": "team", "op": "eq", "value": "legal"}'
    assert cli_main(["search", EN_QUESTION, "--where", where, "--json"]) == 0
    assert {h["doc_id"] for h in json.loads(capsys.readouterr().out)["hits"]} == {"rep"}
    assert cli_main(["search", EN_QUESTION, "--where", '{"key": "nope", "op": "exists"}']) == 2
    assert "unknown metadata key 'nope'" in capsys.readouterr().err


def test_metadata_filters_and_facets_over_http(app) -> None:
    client, _ = app
    docs = {
        "contract-a": ({"department": "legal", "year": 2023, "tags": ["nda"], "signed": True},
                       "The supplier keeps every customer record confidential for five years."),
        "contract-b": ({"department": "legal", "year": 2021, "tags": ["sla"], "signed": False},
                       "The supplier answers every support ticket within one business day."),
        "memo-c": ({"department": "finance", "year": 2024, "tags": ["nda", "budget"]},
                   "The supplier invoice for the support contract is due in March."),
    }
    for doc_id, (meta, text) in docs.items():
        r = _upload(client, f"{doc_id}.md", f"# {doc_id}\n\n{text}\n".encode(),
                    metadata={"doc_id": doc_id, "metadata": meta})
        assert _wait(client, r.json()["job_id"])["state"] == "done"

    def found(flt: dict, **extra) -> set[str]:
        r = client.post("/v1/search", json={"query": "What does the supplier do?", "top_k": 10,
                                            "filters": {"metadata": flt}, **extra})
        assert r.status_code == 200, r.text
        return {h["doc_id"] for h in r.json()["hits"]}

    legal = {"key": "department", "op": "eq", "value": "legal"}
    assert found(legal) == {"contract-a", "contract-b"}
    assert found({"and": [{"key": "department", "op": "eq", "value": "legal"},
                          {"key": "year", "op": "gte", "value": 2022}]}) == {"contract-a"}
    assert found({"key": "tags", "op": "contains", "value": "nda"}) == {"contract-a", "memo-c"}
    assert found({"not": {"key": "signed", "op": "exists"}}) == {"memo-c", "guide"}
    assert found({"key": "year", "op": "in", "value": [2021, 2024]},
                 mode="hybrid") == {"contract-b", "memo-c"}
    r = client.post("/v1/context", json={"query": "supplier", "filters": {"metadata": {
        "key": "department", "op": "eq", "value": "finance"}}})
    assert {c["doc_id"] for c in r.json()["citations"]} == {"memo-c"}

    recent = {"metadata": {"key": "year", "op": "gte", "value": 2022}}
    r = client.post("/v1/search", json={"query": "supplier", "filters": recent,
                                        "facets": ["department", "lang", "tags"]})
    facets = r.json()["facets"]
    assert facets["counts"]["department"] == [{"value": "finance", "count": 1},
                                              {"value": "legal", "count": 1}]
    assert {"value": "nda", "count": 2} in facets["counts"]["tags"]
    assert facets["passages"] == 2 and facets["truncated"] is False

    for bad, says in [
        ({"key": "owner", "op": "eq", "value": "x"}, "unknown metadata key"),
        ({"key": "year", "op": "eq", "value": "2023"}, "is a number"),
        ({"key": "department", "op": "gt", "value": "a"}, "does not apply"),
        ({"key": "department", "op": "eq", "value": 'legal" or 1==1 or "'}, None),
        ({"key": "department", "op": "in", "value": ["x"] * 1000}, "1 to 100"),
    ]:
        r = client.post("/v1/search", json={"query": "supplier", "filters": {"metadata": bad}})
        if says is None:  # an injection attempt is a value like any other: it matches nothing
            assert r.status_code == 200 and r.json()["hits"] == []
            continue
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] == "bad_filter" and says in r.json()["error"]["message"]
    bomb: dict = {"key": "year", "op": "exists"}
    for _ in range(200):
        bomb = {"not": bomb}
    r = client.post("/v1/search", json={"query": "supplier", "filters": {"metadata": bomb}})
    assert r.status_code in (400, 422) and "error" in r.json()
    r = client.post("/v1/search", json={"query": "supplier", "facets": ["nope"]})
    assert r.status_code == 422 and "unknown facet" in r.json()["error"]["message"]
    # a document that retypes a key is refused by its job, and the others keep theirs
    r = _upload(client, "memo-d.md", b"# memo-d\n\nA note.\n",
                metadata={"doc_id": "memo-d", "metadata": {"year": "last year"}})
    job = _wait(client, r.json()["job_id"])
    assert job["state"] == "failed" and "metadata.year is a string" in job["error"]["message"]
