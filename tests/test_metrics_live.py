"""A real Prometheus scrapes a live `reportrag serve --workers 2` (issue #27).

The server runs two worker processes over a copy of the ingested Lite data, with a read key
that Prometheus sends as a bearer token. Prometheus (Debian's package, installed by
scripts/prometheus-setup.sh) loads deploy/prometheus/alerts.yml and is asked, through its
HTTP API, the request-rate and p99 expressions the dashboard and the alerts use.
"""

from __future__ import annotations

import math
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.servers import ApiServer, copy_lite, free_port, prometheus_binary

REPO = Path(__file__).resolve().parent.parent
RULES = REPO / "deploy" / "prometheus" / "alerts.yml"
READ_KEY = "live-read-key-3a9c51"
AUTH = {"X-API-Key": READ_KEY}
QUERIES = ["Who funds open source projects?", "开源项目的资金来自哪里？",
           "Wie viele Entwickler arbeiten an Open Source?", "license compliance"]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def two_workers(lite_settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    work = tmp_path_factory.mktemp("metrics-live")
    data = copy_lite(lite_settings.data_dir, work / "data")
    server = ApiServer(work, {
        "REPORTRAG_DATA_DIR": str(data),
        "REPORTRAG_CORPUS_DIR": str(lite_settings.corpus_dir),
        "REPORTRAG_MODEL": lite_settings.model,
        "REPORTRAG_READ_API_KEY": READ_KEY,
    }, args=("--workers", "2")).start(timeout=400)
    try:
        server.wait_ready(timeout=300)
        yield server
    finally:
        server.stop()


def _requests_by_route(server: ApiServer) -> dict[str, float]:
    r = httpx.get(f"{server.url}/metrics", headers=AUTH, timeout=30)
    assert r.status_code == 200, r.text
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(r.text):
        if family.name != "reportrag_http_requests":
            continue
        for sample in family.samples:
            if sample.name.endswith("_total"):
                route = sample.labels["route"]
                out[route] = out.get(route, 0.0) + sample.value
    return out


def test_with_two_workers_the_scraped_counters_add_up(two_workers: ApiServer) -> None:
    before = _requests_by_route(two_workers)
    pids: set[str] = set()
    health = searches = 0
    # New connections until both workers answered (each request opens its own).
    while len(pids) < 2 and health < 200:
        pids.add(httpx.get(f"{two_workers.url}/healthz", timeout=30).headers["x-worker-pid"])
        health += 1
    assert len(pids) == 2, f"only one worker answered {health} requests"
    for i in range(24):
        r = httpx.post(f"{two_workers.url}/v1/search", headers=AUTH, timeout=60,
                       json={"query": QUERIES[i % len(QUERIES)], "top_k": 3})
        assert r.status_code == 200, r.text
        searches += 1
    for _ in range(3):  # any worker may answer a scrape: each sees every worker's counts
        after = _requests_by_route(two_workers)
        assert after.get("/v1/search", 0) - before.get("/v1/search", 0) == searches
        assert after.get("/healthz", 0) - before.get("/healthz", 0) == health


def _rules() -> dict[str, str]:
    groups = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    return {r.get("record") or r["alert"]: r["expr"] for g in groups for r in g["rules"]}


def _ask(prom: str, expr: str) -> list[dict]:
    r = httpx.get(f"{prom}/api/v1/query", params={"query": expr}, timeout=10)
    body = r.json()
    assert r.status_code == 200 and body["status"] == "success", body
    return body["data"]["result"]


def test_a_real_prometheus_scrapes_it_and_answers_the_dashboard_queries(
        two_workers: ApiServer, tmp_path: Path) -> None:
    exe = prometheus_binary("prometheus")
    port = two_workers.url.rsplit(":", 1)[1]
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES)],
        "scrape_configs": [{
            "job_name": "reportrag",
            "metrics_path": "/metrics",
            "authorization": {"credentials": READ_KEY},  # Bearer, as deploy/ documents
            "static_configs": [{"targets": [f"127.0.0.1:{port}"]}],
        }],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    web = free_port()
    prom = f"http://127.0.0.1:{web}"
    log = (tmp_path / "prometheus.log").open("wb")
    proc = subprocess.Popen(
        [exe, f"--config.file={tmp_path / 'prometheus.yml'}",
         f"--storage.tsdb.path={tmp_path / 'tsdb'}", f"--web.listen-address=127.0.0.1:{web}"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{prom}/-/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, \
                (tmp_path / "prometheus.log").read_text(errors="replace")[-3000:]
            time.sleep(0.5)
        # A burst of searches and contexts while Prometheus scrapes every second.
        for i in range(30):
            path = "/v1/context" if i % 5 == 0 else "/v1/search"
            r = httpx.post(f"{two_workers.url}{path}", headers=AUTH, timeout=60,
                           json={"query": QUERIES[i % len(QUERIES)], "mode": "hybrid"})
            assert r.status_code == 200, r.text
            time.sleep(0.1)
        rules = _rules()
        rate_expr = rules["reportrag:http_requests:rate1m"]
        p99_expr = rules["reportrag:search_latency_seconds:p99_5m"]
        deadline = time.monotonic() + 90
        while True:
            # Traffic goes on while we wait: on a busy machine the first scrape can come after
            # the burst, and rate() of a counter that no longer moves stays 0.
            for path in ("/v1/search", "/v1/context"):
                r = httpx.post(f"{two_workers.url}{path}", headers=AUTH, timeout=60,
                               json={"query": QUERIES[0], "mode": "hybrid"})
                assert r.status_code == 200, r.text
            targets = httpx.get(f"{prom}/api/v1/targets", timeout=10).json()
            health = [t["health"] for t in targets["data"]["activeTargets"]]
            rate = {s["metric"].get("route"): float(s["value"][1])
                    for s in _ask(prom, rate_expr)}
            p99 = [float(s["value"][1]) for s in _ask(prom, p99_expr)
                   if s["metric"].get("mode") == "hybrid"]
            recorded = _ask(prom, "reportrag:search_latency_seconds:p99_5m")
            # rate() needs two scrapes that saw a route's counter: wait for both routes.
            if (rate.get("/v1/search", 0) > 0 and rate.get("/v1/context", 0) > 0 and p99
                    and not math.isnan(p99[0]) and recorded):
                break
            assert time.monotonic() < deadline, (health, rate, p99, recorded)
            time.sleep(2)
        assert health == ["up"]
        assert rate["/v1/search"] > 0 and rate.get("/v1/context", 0) > 0
        assert 0 < p99[0] < 60
        # The scrape itself carried the key: the target is up, and /metrics is counted.
        assert rate.get("/metrics", 0) > 0
        up = _ask(prom, "max(reportrag_milvus_up)")
        assert up and float(up[0]["value"][1]) == 1
        firing = [a for a in httpx.get(f"{prom}/api/v1/alerts", timeout=10).json()
                  ["data"]["alerts"] if a["state"] == "firing"]
        assert firing == []
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
