"""Request ids, /metrics, JSON logs and the span tree of one search (issue #27).

The live checks (a real Prometheus scraping `reportrag serve`, two workers adding up) are in
tests/test_metrics_live.py.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from reportrag import tracing
from reportrag.api.app import create_app
from reportrag.api.observability import accept_request_id
from reportrag.api.runtime import Runtime
from reportrag.logs import JsonFormatter, log_handler
from reportrag.settings import Settings
from tests.test_deploy_prometheus import METRICS

READ_KEY = "read-key-for-metrics-5d1e"
SECRET_QUERY = "zebra-quokka-passphrase-771"


def _settings(**kw) -> Settings:
    return Settings(_env_file=None, **kw)


def _bare(**kw) -> TestClient:
    # No model, no Milvus: ids, metrics and auth act before a route needs either.
    settings = _settings(**kw)
    return TestClient(create_app(settings, runtime=Runtime(settings)))


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


# -- request ids ----------------------------------------------------------------------------

def test_a_sane_request_id_is_kept_and_returned() -> None:
    with _bare() as c:
        r = c.get("/healthz", headers={"X-Request-ID": "trace-42.a:b_c"})
        assert r.headers["x-request-id"] == "trace-42.a:b_c"
        fresh = c.get("/healthz").headers["x-request-id"]
        assert len(fresh) == 32 and int(fresh, 16) >= 0


@pytest.mark.parametrize("bad", ["x" * 129, "a b", "semi;colon", 'quo"te', "tab\there",
                                 "bell\x07", "", "é"])
def test_a_malformed_request_id_is_replaced_not_echoed(bad: str) -> None:
    assert accept_request_id(bad) != bad
    assert len(accept_request_id(bad)) == 32


def test_a_huge_request_id_is_replaced_and_the_error_body_carries_the_new_one() -> None:
    huge = "A" * 8000
    with _bare() as c:
        r = c.get("/v1/nowhere", headers={"X-Request-ID": huge})
        assert r.status_code == 404
        rid = r.headers["x-request-id"]
        assert rid != huge and huge not in r.text
        assert r.json()["error"]["request_id"] == rid


def test_control_characters_in_the_raw_header_are_not_echoed() -> None:
    # httpx refuses such a header value, so drive the ASGI app with the raw bytes.
    import asyncio

    app = create_app(_settings(), runtime=Runtime(_settings()))
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "GET", "scheme": "http", "path": "/nowhere", "raw_path": b"/nowhere",
             "query_string": b"", "root_path": "", "server": ("t", 80), "client": ("c", 1),
             "headers": [(b"x-request-id", b"evil\r\nSet-Cookie: x=1\x00")]}
    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    ids = [v for k, v in start["headers"] if k == b"x-request-id"]
    assert len(ids) == 1 and b"evil" not in ids[0] and len(ids[0]) == 32


# -- /metrics ---------------------------------------------------------------------------------

def test_metrics_need_the_read_key_when_one_is_set() -> None:
    with _bare(read_api_key=READ_KEY) as c:
        refused = c.get("/metrics")
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthorized"
        ok = c.get("/metrics", headers={"X-API-Key": READ_KEY})
        assert ok.status_code == 200
        assert ok.headers["content-type"].startswith("text/plain")
        assert "reportrag_build_info{" in ok.text
        # Prometheus sends the key as a bearer token (deploy/prometheus/prometheus.yml).
        bearer = c.get("/metrics", headers={"Authorization": f"Bearer {READ_KEY}"})
        assert bearer.status_code == 200
        wrong = c.get("/metrics", headers={"Authorization": "Bearer not-the-key"})
        assert wrong.status_code == 401
        basic = c.get("/metrics", headers={"Authorization": f"Basic {READ_KEY}"})
        assert basic.status_code == 401


def test_metrics_off_means_no_endpoint_and_nothing_recorded() -> None:
    with _bare(metrics=False) as c:
        before = _sample("reportrag_http_requests_total", route="/healthz", method="GET",
                         mode="", status="200")
        c.get("/healthz")
        assert c.get("/metrics").status_code == 404
        after = _sample("reportrag_http_requests_total", route="/healthz", method="GET",
                        mode="", status="200")
        assert after == before


def test_requests_are_counted_by_route_template_and_status() -> None:
    with _bare() as c:
        labels = {"route": "/v1/documents/{doc_id}", "method": "GET", "mode": ""}
        before = _sample("reportrag_http_requests_total", **labels, status="503")
        hist = _sample("reportrag_http_request_duration_seconds_count", **labels)
        for doc in ("a-secret-doc", "another-one", "third"):
            assert c.get(f"/v1/documents/{doc}").status_code == 503  # no Milvus here
        assert _sample("reportrag_http_requests_total", **labels, status="503") == before + 3
        assert _sample("reportrag_http_request_duration_seconds_count", **labels) == hist + 3
        unmatched = _sample("reportrag_http_requests_total", route="<unmatched>", method="GET",
                            mode="", status="404")
        c.get("/no/such/path/x1")
        assert _sample("reportrag_http_requests_total", route="<unmatched>", method="GET",
                       mode="", status="404") == unmatched + 1
        text = c.get("/metrics").text
        assert "a-secret-doc" not in text and "/no/such/path" not in text


def test_the_exported_families_are_the_ones_deploy_knows() -> None:
    with _bare() as c:
        text = c.get("/metrics").text
    families = {f.name for f in text_string_to_metric_families(text)
                if f.name.startswith("reportrag_") and not f.name.endswith("_created")}
    # The parser names counters without _total; deploy's list names the series.
    exported = {f"{n}_total" if f"{n}_total" in METRICS else n for n in families}
    assert exported == set(METRICS)


# -- logs --------------------------------------------------------------------------------------

@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    out = io.StringIO()
    handler = log_handler("json")
    handler.stream = out
    access = logging.getLogger("reportrag.access")
    old_level = access.level
    access.addHandler(handler)
    access.setLevel(logging.INFO)
    try:
        yield out
    finally:
        access.removeHandler(handler)
        access.setLevel(old_level)


def test_the_json_access_line_has_the_request_fields_and_no_query(json_log: io.StringIO,
                                                                   ) -> None:
    with _bare() as c:
        r = c.post("/v1/search", json={"query": SECRET_QUERY, "top_k": 0},
                   headers={"X-Request-ID": "req-json-1"})
        assert r.status_code == 503  # no Milvus here: the query is never run
    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    line = next(x for x in lines if x.get("request_id") == "req-json-1")
    assert line["logger"] == "reportrag.access" and line["level"] == "INFO"
    assert line["route"] == "/v1/search" and line["method"] == "POST"
    assert line["status"] == 503 and line["duration_ms"] >= 0 and line["time"]
    assert SECRET_QUERY not in json_log.getvalue()


def test_the_json_format_writes_one_object_per_line_with_the_exception() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record = logging.LogRecord("x.y", logging.ERROR, __file__, 1, "failed: %s",
                                   ("why\nnot",), sys.exc_info())
    text = JsonFormatter().format(record)
    assert "\n" not in text
    obj = json.loads(text)
    assert obj["message"] == "failed: why\nnot" and obj["logger"] == "x.y"
    assert obj["level"] == "ERROR" and "ValueError: boom" in obj["exception"]
    assert obj["request_id"] is None


def test_the_text_format_of_the_command_line_is_unchanged_outside_requests() -> None:
    out = io.StringIO()
    handler = log_handler("text")
    handler.stream = out
    log = logging.getLogger("reportrag.test-text")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning("plain %s", "line")
    finally:
        log.removeHandler(handler)
    assert out.getvalue() == "WARNING reportrag.test-text: plain line\n"


# -- the span tree of one search (real model, Milvus Lite) ----------------------------------

@pytest.fixture
def spans() -> Iterator[object]:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    tracing.set_provider(None)
    provider.shutdown()


@pytest.mark.slow
def test_one_hybrid_search_is_one_span_tree(lite_settings, embedder, spans) -> None:
    provider, exporter = spans
    runtime = Runtime(lite_settings, embedder=embedder)
    app = create_app(lite_settings, runtime=runtime, tracer_provider=provider)
    with TestClient(app) as c:
        exporter.clear()
        r = c.post("/v1/search", json={"query": SECRET_QUERY + " open source funding",
                                        "mode": "hybrid", "top_k": 3})
        assert r.status_code == 200, r.text
    hits = len(r.json()["hits"])
    found = exporter.get_finished_spans()
    by_id = {s.context.span_id: s for s in found}
    names = [s.name for s in found]
    root = next(s for s in found if s.parent is None)
    assert root.name == "POST /v1/search"
    assert {s.context.trace_id for s in found} == {root.context.trace_id}

    def ancestors(s) -> list[str]:
        out = []
        while s.parent is not None:
            s = by_id[s.parent.span_id]
            out.append(s.name)
        return out

    search = next(s for s in found if s.name == "reportrag.search")
    assert search.attributes["mode"] == "hybrid" and search.attributes["hits"] == hits
    for name in ("reportrag.encode_query", "milvus.search_dense", "milvus.search_text",
                 "reportrag.fusion", "reportrag.read_chunks"):
        assert name in names, names
        span = next(s for s in found if s.name == name)
        # The Milvus calls run on the search's thread pool and still hang under the search.
        assert "reportrag.search" in ancestors(span), (name, ancestors(span))
    for s in found:
        for value in (s.attributes or {}).values():
            assert "zebra-quokka" not in str(value), (s.name, value)


@pytest.mark.slow
def test_stage_and_milvus_timings_are_recorded(lite_settings, embedder) -> None:
    runtime = Runtime(lite_settings, embedder=embedder)
    stage = "reportrag_stage_duration_seconds_count"
    call = "reportrag_milvus_request_duration_seconds_count"
    with TestClient(create_app(lite_settings, runtime=runtime)) as c:
        before = {"encode": _sample(stage, stage="encode_query"),
                  "render": _sample(stage, stage="context_render"),
                  "dense": _sample(call, op="search_dense"),
                  "hits": _sample("reportrag_search_hits_count", mode="dense"),
                  "ok": _sample("reportrag_http_requests_total", route="/v1/context",
                                method="POST", mode="dense", status="200")}
        r = c.post("/v1/context", json={"query": "Who funds open source?", "mode": "dense"})
        assert r.status_code == 200, r.text
        assert _sample(stage, stage="encode_query") == before["encode"] + 1
        assert _sample(stage, stage="context_render") == before["render"] + 1
        assert _sample(call, op="search_dense") >= before["dense"] + 1
        assert _sample("reportrag_search_hits_count", mode="dense") == before["hits"] + 1
        assert _sample("reportrag_http_requests_total", route="/v1/context", method="POST",
                       mode="dense", status="200") == before["ok"] + 1
        assert _sample("reportrag_milvus_up") == 1
        info = c.get("/metrics").text
        assert 'reportrag_build_info{' in info and 'store="lite"' in info


# -- bad settings and flags -------------------------------------------------------------------

def test_a_bad_log_format_is_one_clear_error(monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    from reportrag.api.cli import main

    monkeypatch.setenv("REPORTRAG_LOG_FORMAT", "xml; rm -rf /")
    assert main(["model", "info"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["reportrag: error: setting REPORTRAG_LOG_FORMAT: Input should be 'text' or "
                   "'json'"]
    monkeypatch.delenv("REPORTRAG_LOG_FORMAT")
    with pytest.raises(SystemExit) as exited:
        main(["--log-format", "xml", "model", "info"])
    assert exited.value.code == 2
    assert "invalid choice: 'xml'" in capsys.readouterr().err


def test_a_bad_metrics_setting_is_refused() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        _settings(metrics="sometimes")
