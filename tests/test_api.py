"""The HTTP API through the real app, the real model and Milvus Lite (whole corpus)."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from reportrag.api.app import create_app
from reportrag.api.runtime import Runtime

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parent.parent
DEV = REPO / "eval" / "dev_queries.jsonl"  # copy of ../shared/dev_eval/queries.jsonl
ADMIN_KEY = "test-admin-key-123"


@pytest.fixture(scope="module")
def client(backend_settings, embedder):
    from pydantic import SecretStr

    settings = backend_settings.model_copy(update={"api_key": SecretStr(ADMIN_KEY)})
    runtime = Runtime(settings, embedder=embedder)
    runtime.start()
    assert runtime.service is not None, runtime.store_error
    with TestClient(create_app(settings, runtime=runtime)) as c:
        c.bm25 = runtime.service.store.capabilities.bm25  # type: ignore[attr-defined]
        yield c


def _search(client: TestClient, **body) -> dict:
    r = client.post("/v1/search", json=body)
    assert r.status_code == 200, r.text
    return r.json()


def _error(r) -> dict:
    body = r.json()
    assert set(body) == {"error"} and {"code", "message", "details"} <= set(body["error"])
    assert "Traceback" not in r.text
    return body["error"]


def test_health_and_readiness(client) -> None:
    health = client.get("/healthz").json()
    assert health["status"] == "ok"
    assert health["store"]["supervised"] is False and health["store"]["state"] == "connected"
    r = client.get("/readyz")
    assert r.status_code == 200
    body = r.json()
    assert body["milvus"] == "ok" and body["capabilities"]["bm25"] is client.bm25
    assert ("hybrid" in body["modes"]) is client.bm25


def test_openapi_is_served(client) -> None:
    spec = client.get("/openapi.json").json()
    for path in (
        "/v1/search",
        "/v1/context",
        "/v1/documents",
        "/v1/chunks/{chunk_id}",
        "/v1/ingest",
        "/healthz",
        "/readyz",
    ):
        assert path in spec["paths"]
    assert client.get("/docs").status_code == 200


@pytest.mark.parametrize("lang", ["en", "zh", "de"])
def test_language_filter_returns_only_that_language(client, lang: str) -> None:
    body = _search(client, query="open source business models", top_k=10, filters={"lang": [lang]})
    assert len(body["hits"]) == 10
    assert {h["lang"] for h in body["hits"]} == {lang}


def test_doc_and_section_filters(client) -> None:
    doc = "oss-report-2023-commercialization-en"
    body = _search(client, query="licences", top_k=8, filters={"doc_id": [doc]})
    assert body["hits"] and {h["doc_id"] for h in body["hits"]} == {doc}
    sec = _search(client, query="security", top_k=8, filters={"doc_id": [doc], "section": "3."})
    assert sec["hits"] and all(h["section"].startswith("3.") for h in sec["hits"])
    none = _search(client, query="security", filters={"section": "no such section"})
    assert none["hits"] == []


def test_dense_mode_scores_are_cosines(client) -> None:
    body = _search(client, query="Stability AI Stable Diffusion", mode="dense", top_k=5)
    assert body["mode"] == "dense"
    scores = [h["score"] for h in body["hits"]]
    assert scores == sorted(scores, reverse=True)
    assert all(h["score"] == h["dense_score"] and 0 < h["dense_score"] <= 1 for h in body["hits"])


def test_min_score_cuts_off(client) -> None:
    body = _search(client, query="Stability AI", mode="dense", top_k=20, min_score=0.85)
    assert all(h["dense_score"] >= 0.85 for h in body["hits"])
    assert len(body["hits"]) < 20


def _rank(hits: list[dict], needle: str) -> int:
    for i, h in enumerate(hits, 1):
        if needle in h["text"]:
            return i
    return 99


@pytest.mark.parametrize(
    "query,lang,needle",
    [
        (
            "Which Alibaba Cloud model with 72 billion parameters topped the open LLM leaderboard?",
            "zh",
            "Qwen-72B",
        ),
        ("How many open-source projects shipped more than 100 versions in 2022?", "zh", "22,403"),
        ("Synopsys 的统计显示，有多大比例的代码库含有高危漏洞？", "en", "48% contain high-risk"),
    ],
)
def test_hybrid_finds_exact_names_and_numbers(client, query: str, lang: str, needle: str) -> None:
    if not client.bm25:  # Milvus 2.3.5: no BM25, so hybrid is a clear 400
        r = client.post("/v1/search", json={"query": query, "mode": "hybrid"})
        assert r.status_code == 400 and _error(r)["code"] == "unsupported"
        assert _search(client, query=query, mode="auto")["mode"] in ("dense", "crosslingual")
        return
    dense = _search(client, query=query, mode="dense", top_k=10, filters={"lang": [lang]})
    hybrid = _search(client, query=query, mode="hybrid", top_k=10, filters={"lang": [lang]})
    assert hybrid["mode"] == "hybrid"
    assert _rank(hybrid["hits"], needle) <= min(_rank(dense["hits"], needle), 2)
    assert any(h["keyword_score"] for h in hybrid["hits"])


def test_english_question_finds_the_chinese_passage(client) -> None:
    queries = [json.loads(x) for x in DEV.read_text(encoding="utf-8").splitlines() if x]
    en_zh = [q for q in queries if q["cat"] == "en>zh"]
    assert en_zh
    for q in en_zh:
        body = _search(client, query=q["q"], top_k=5, filters={"lang": ["zh"]})
        gold = q["gold"]["contains"][0].replace(" ", "")
        assert any(gold in h["text"].replace(" ", "") for h in body["hits"]), q["id"]


def _norm(s: str) -> str:
    return "".join(unicodedata.normalize("NFKC", s).split())


def test_context_fits_budget_and_citations_point_at_the_source(client, embedder) -> None:
    r = client.post(
        "/v1/context",
        json={
            "query": "How do open-source companies make money?",
            "max_tokens": 600,
            "top_k": 5,
            "neighbors": 1,
        },
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert 0 < body["tokens"] <= 600
    assert embedder.count_tokens(body["context"]) - embedder.count_tokens("") <= 600 + 5
    assert body["citations"]
    files = {}
    manifest = {d["doc_id"]: d for d in client.get("/v1/documents").json()["documents"]}
    assert manifest
    from reportrag.ingest.corpus import discover

    paths = {d.doc_id: Path(d.path) for d in discover(REPO / "corpus")}
    for cit in body["citations"]:
        assert f'<passage id="{cit["n"]}"' in body["context"]
        raw = files.setdefault(cit["doc_id"], paths[cit["doc_id"]].read_text(encoding="utf-8"))
        span = _norm(raw[cit["char_start"] : cit["char_end"]])
        first = client.get(f"/v1/chunks/{cit['chunk_ids'][0]}").json()["chunk"]["text"]
        assert _norm(first)[:40] in span


def test_context_merges_adjacent_chunks(client) -> None:
    r = client.post(
        "/v1/context",
        json={"query": "Stability AI", "max_tokens": 4000, "top_k": 8, "neighbors": 2},
    )
    body = r.json()
    seen: dict[str, list[tuple[int, int]]] = {}
    for cit in body["citations"]:
        seen.setdefault(cit["doc_id"], []).append((cit["char_start"], cit["char_end"]))
    for spans in seen.values():  # merged passages never overlap each other
        spans.sort()
        assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False))


def test_documents_and_chunks(client) -> None:
    docs = client.get("/v1/documents").json()["documents"]
    assert len(docs) == 5
    zh = next(d for d in docs if d["doc_id"] == "oss-report-2023-commercialization-zh")
    assert zh["langs"] == {"zh": zh["chunks"]}
    assert client.get(f"/v1/documents/{zh['doc_id']}").json()["chunks"] == zh["chunks"]
    assert _error(client.get("/v1/documents/nope"))["code"] == "not_found"
    hit = _search(client, query="Stability AI", top_k=1)["hits"][0]
    r = client.get(f"/v1/chunks/{hit['chunk_id']}", params={"neighbors": 2}).json()
    assert r["chunk"]["chunk_id"] == hit["chunk_id"]
    assert all(c["ordinal"] < hit["ordinal"] for c in r["before"])
    assert all(c["ordinal"] > hit["ordinal"] for c in r["after"])
    assert len(r["before"]) + len(r["after"]) >= 2
    assert client.get("/v1/chunks/nope:00001:abc").status_code == 404


@pytest.mark.parametrize(
    "body,status",
    [
        ({"query": ""}, 422),
        ({"query": "   "}, 422),
        ({"query": "x" * 100_000}, 413),
        ({"query": "x" * 5000}, 422),
        ({"query": "ok", "top_k": 0}, 422),
        ({"query": "ok", "top_k": 10_000}, 422),
        ({"query": "ok", "filters": {"colour": ["red"]}}, 422),
        ({"query": "ok", "filters": {"lang": ['en" or 1==1 or lang in ["']}}, 422),
        ({"query": "ok", "filters": {"doc_id": ["x') or (1==1"]}}, 422),
        ({"query": "ok", "filters": {"lang": "en"}}, 422),
        ({"query": 42}, 422),
        ({"query": "ok", "top_k": "5"}, 422),
        ({"query": "ok", "mode": "magic"}, 422),
        ({"query": "ok", "unknown": 1}, 422),
        ({"query": "ok", "filters": {"date_from": "2024-13-45"}}, 422),
    ],
)
def test_bad_search_input_is_a_4xx_with_the_error_shape(client, body: dict, status: int) -> None:
    r = client.post("/v1/search", json=body)
    assert r.status_code == status, r.text
    _error(r)


def test_section_filter_with_quotes_matches_nothing_and_does_not_widen(client) -> None:
    for value in ['2" or doc_id != "', "2' or 1==1 or '", "]) or true or ([", '\\" or true']:
        body = _search(client, query="open source", top_k=10, filters={"section": value})
        assert body["hits"] == [], value


def test_non_json_body(client) -> None:
    r = client.post(
        "/v1/search", content=b"not json{", headers={"content-type": "application/json"}
    )
    assert r.status_code == 422
    _error(r)


def test_admin_endpoints_need_the_key(client) -> None:
    r = client.post("/v1/ingest", json={"dry_run": True})
    assert r.status_code == 401 and _error(r)["code"] == "unauthorized"
    r = client.post("/v1/ingest", json={"dry_run": True}, headers={"X-API-Key": "wrong"})
    assert r.status_code == 401
    r = client.delete("/v1/documents/rise-of-open-source-llms", headers={"X-API-Key": "nope"})
    assert r.status_code == 401
    r = client.post("/v1/ingest", json={"dry_run": True}, headers={"X-API-Key": ADMIN_KEY})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["dry_run"] is True and body["documents"] == 5 and body["added"] == 0


def test_admin_disabled_without_a_key(lite_settings, embedder) -> None:
    runtime = Runtime(lite_settings, embedder=embedder)
    runtime.start()
    with TestClient(create_app(lite_settings, runtime=runtime)) as c:
        r = c.post("/v1/ingest", json={}, headers={"X-API-Key": "anything"})
        assert r.status_code == 403 and "disabled" in _error(r)["message"]


def test_start_builds_the_query_language_detector_before_the_first_request(
    lite_settings, embedder
) -> None:
    from reportrag.langid import detector as langid

    langid._lingua_detector.cache_clear()
    runtime = Runtime(lite_settings, embedder=embedder)
    runtime.start()
    assert runtime.service is not None
    # Built at start, so the first English query does not pay for it (~1 s).
    assert langid._lingua_detector.cache_info().currsize == 1
    hits_before = langid._lingua_detector.cache_info().hits
    assert runtime.service.search("open source contributors", top_k=1).query_lang == "en"
    info = langid._lingua_detector.cache_info()
    assert info.currsize == 1 and info.hits > hits_before  # the search used that one


def test_crosslingual_auto_pivots_through_the_alignment(client) -> None:
    body = _search(
        client,
        query="How many generative AI projects were on GitHub at the start of 2022?",
        top_k=5,
        filters={"lang": ["zh"]},
    )
    assert body["mode"] == "crosslingual" and body["query_lang"] == "en"
    assert all(h["lang"] == "zh" for h in body["hits"])
    assert any("pivot" in h["found_via"] for h in body["hits"])


def test_counterparts_on_hits_and_by_chunk(client) -> None:
    body = _search(
        client,
        query="Stability AI open-sourced Stable Diffusion",
        top_k=3,
        filters={"lang": ["en"], "doc_id": ["oss-report-2023-commercialization-en"]},
        with_counterparts=True,
    )
    with_cp = [h for h in body["hits"] if h["counterparts"]]
    assert with_cp, "the English edition's chunks should have Chinese counterparts"
    cp = with_cp[0]["counterparts"][0]
    assert cp["lang"] == "zh" and cp["text"] and 0.5 <= cp["confidence"] <= 1
    again = client.get(f"/v1/chunks/{with_cp[0]['chunk_id']}/counterparts").json()
    assert cp["chunk_id"] in [c["chunk_id"] for c in again["counterparts"]]
    back = client.get(f"/v1/chunks/{cp['chunk_id']}/counterparts").json()["counterparts"]
    assert with_cp[0]["chunk_id"] in [c["chunk_id"] for c in back]  # both directions


def test_interleave_keeps_every_language_in_the_top(client) -> None:
    body = _search(
        client,
        query="open source large models",
        top_k=6,
        filters={"lang": ["en", "zh", "de"]},
        mode="dense",
    )
    langs = [h["lang"] for h in body["hits"]]
    assert len(set(langs[:3])) == 3 and len(set(langs[3:])) == 3  # round-robin by language


def test_read_key_protects_read_endpoints_when_set(lite_settings, embedder) -> None:
    from pydantic import SecretStr

    settings = lite_settings.model_copy(update={"read_api_key": SecretStr("reader-key")})
    runtime = Runtime(settings, embedder=embedder)
    runtime.start()
    with TestClient(create_app(settings, runtime=runtime)) as c:
        body = {"query": "Stability AI", "top_k": 1}
        r = c.post("/v1/search", json=body)
        assert r.status_code == 401 and _error(r)["code"] == "unauthorized"
        assert c.get("/v1/documents", headers={"X-API-Key": "wrong"}).status_code == 401
        ok = c.post("/v1/search", json=body, headers={"X-API-Key": "reader-key"})
        assert ok.status_code == 200 and ok.json()["hits"]
        assert c.get("/healthz").status_code == 200  # health stays open for probes
