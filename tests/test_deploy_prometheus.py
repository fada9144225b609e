"""The monitoring artifacts under deploy/: the Prometheus config, alert and recording rules and
their unit tests (checked with promtool, scripts/prometheus-setup.sh installs it), and the
Grafana dashboard, whose queries may name only the metrics the API exports at GET /metrics.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.servers import prometheus_binary

REPO = Path(__file__).resolve().parent.parent
DEPLOY = REPO / "deploy"
PROMETHEUS = DEPLOY / "prometheus"
DASHBOARD = DEPLOY / "grafana" / "reportrag-dashboard.json"

# Every metric the API exports, by type. A histogram is queried as _bucket, _sum or _count.
METRICS = {
    "reportrag_http_requests_total": "counter",
    "reportrag_http_request_duration_seconds": "histogram",
    "reportrag_http_requests_in_flight": "gauge",
    "reportrag_stage_duration_seconds": "histogram",
    "reportrag_milvus_request_duration_seconds": "histogram",
    "reportrag_milvus_errors_total": "counter",
    "reportrag_milvus_reconnects_total": "counter",
    "reportrag_milvus_up": "gauge",
    "reportrag_search_hits": "histogram",
    "reportrag_search_empty_total": "counter",
    "reportrag_ingest_runs_total": "counter",
    "reportrag_ingest_running": "gauge",
    "reportrag_ingest_documents_total": "counter",
    "reportrag_ingest_documents_pending": "gauge",
    "reportrag_ingest_chunks_embedded_total": "counter",
    "reportrag_ingest_embed_seconds_total": "counter",
    "reportrag_ingest_last_progress_timestamp_seconds": "gauge",
    "reportrag_mcp_tool_calls_total": "counter",
    "reportrag_build_info": "gauge",
}
SERIES = {
    f"{name}{suffix}"
    for name, kind in METRICS.items()
    for suffix in (("_bucket", "_sum", "_count") if kind == "histogram" else ("",))
}
# A metric name (reportrag_...) or a recording rule's (reportrag:...).
NAME = re.compile(r"\breportrag[_:][A-Za-z0-9_:]*")


def _base(series: str) -> str:
    return re.sub(r"_(bucket|sum|count)$", "", series) if series not in METRICS else series


@pytest.fixture(scope="module")
def promtool() -> str:
    return prometheus_binary("promtool")


def _run(promtool: str, *args: str) -> str:
    done = subprocess.run(
        [promtool, *args], cwd=REPO, capture_output=True, text=True, timeout=120, check=False
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    return output


@pytest.fixture(scope="module")
def rules() -> dict:
    return yaml.safe_load((PROMETHEUS / "alerts.yml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def recorded(rules: dict) -> set[str]:
    return {r["record"] for g in rules["groups"] for r in g["rules"] if "record" in r}


@pytest.fixture(scope="module")
def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def _exprs(dashboard: dict) -> list[str]:
    panels = [*dashboard["panels"]]
    panels += [p for row in dashboard["panels"] for p in row.get("panels", [])]
    return [t["expr"] for p in panels for t in p.get("targets", [])]


def test_promtool_checks_the_config_and_its_rule_files(promtool: str) -> None:
    output = _run(promtool, "check", "config", "deploy/prometheus/prometheus.yml")
    assert "1 rule files found" in output


def test_promtool_checks_the_rules(promtool: str) -> None:
    _run(promtool, "check", "rules", "deploy/prometheus/alerts.yml")


def test_alert_rule_unit_tests_pass(promtool: str) -> None:
    _run(promtool, "test", "rules", "deploy/prometheus/alerts_test.yml")


def test_dashboard_queries_are_valid_promql(promtool: str, dashboard: dict, tmp_path: Path) -> None:
    # promtool parses a rule's expression: each query becomes a recording rule.
    group = {"name": "dashboard", "rules": [
        {"record": f"dashboard:query{i}", "expr": expr} for i, expr in enumerate(_exprs(dashboard))
    ]}
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(yaml.safe_dump({"groups": [group]}), encoding="utf-8")
    _run(promtool, "check", "rules", str(path))


def test_compose_prometheus_is_the_promtool_version(promtool: str) -> None:
    version = re.search(r"version (\d+\.\d+\.\d+)", _run(promtool, "--version"))
    monitoring = yaml.safe_load((DEPLOY / "docker-compose.monitoring.yml").read_text("utf-8"))
    assert version and monitoring["services"]["prometheus"]["image"] == (
        f"prom/prometheus:v{version.group(1)}"
    )


def test_prometheus_config_scrapes_the_api(rules: dict) -> None:
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text(encoding="utf-8"))
    assert config["rule_files"] == ["alerts.yml"]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    api = jobs["reportrag"]
    assert api["metrics_path"] == "/metrics" and api["scrape_interval"] == "15s"
    assert api["static_configs"][0]["targets"] == ["api:8000"]  # the compose service
    assert jobs["milvus"]["static_configs"][0]["targets"] == ["milvus:9091"]


def test_alerts_are_labelled_and_explained(rules: dict) -> None:
    groups = {g["name"]: g["rules"] for g in rules["groups"]}
    alerts = {r["alert"]: r for r in groups["reportrag"]}
    assert set(alerts) == {
        "ReportragSearchP99OverBudget", "Reportrag5xxRate", "ReportragMilvusUnavailable",
        "ReportragIngestionStalled",
    }
    for name, rule in alerts.items():
        assert rule["labels"]["severity"] in {"warning", "critical"}, name
        assert {"summary", "description"} <= set(rule["annotations"]), name
        assert "for" in rule, name
    assert all("record" in r for r in groups["reportrag-recording"])


def test_rule_expressions_name_only_exported_series(rules: dict, recorded: set[str]) -> None:
    for rule in (r for g in rules["groups"] for r in g["rules"]):
        names = set(NAME.findall(rule["expr"]))
        assert names, rule
        assert names <= SERIES | recorded, f"{sorted(names - SERIES - recorded)} in {rule}"


@pytest.mark.parametrize("name", ["alerts.yml", "alerts_test.yml"])
def test_rule_files_name_only_exported_metrics(name: str, recorded: set[str]) -> None:
    # The whole file: annotations too (which may name a histogram) and, in alerts_test.yml,
    # the synthetic input series, so that no test feeds a series the API does not export.
    names = set(NAME.findall((PROMETHEUS / name).read_text(encoding="utf-8")))
    allowed = SERIES | set(METRICS) | recorded
    assert names, name
    assert names <= allowed, sorted(names - allowed)


def test_dashboard_queries_name_only_exported_metrics(
    dashboard: dict, recorded: set[str]
) -> None:
    exprs = _exprs(dashboard)
    assert exprs
    for expr in exprs:
        names = set(NAME.findall(expr))
        assert names, f"names no reportrag metric: {expr}"
        assert names <= SERIES | recorded, f"{sorted(names - SERIES - recorded)} in {expr}"


def test_dashboard_shows_every_metric(dashboard: dict, rules: dict) -> None:
    recording = {
        r["record"]: r["expr"] for g in rules["groups"] for r in g["rules"] if "record" in r
    }
    names = {n for expr in _exprs(dashboard) for n in NAME.findall(expr)}
    names |= {n for r in names & set(recording) for n in NAME.findall(recording[r])}
    shown = {_base(n) for n in names if n in SERIES}
    assert shown == set(METRICS), sorted(set(METRICS) - shown)


def test_dashboard_uses_the_datasource_variable(dashboard: dict) -> None:
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert 36 <= dashboard["schemaVersion"] <= 41
    panels = dashboard["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    for panel in panels:
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
            assert panel["targets"], panel["title"]


def test_compose_monitoring_profile() -> None:
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text(encoding="utf-8"))
    assert compose["include"] == ["docker-compose.monitoring.yml"]
    monitoring = yaml.safe_load((DEPLOY / "docker-compose.monitoring.yml").read_text("utf-8"))
    services = monitoring["services"]
    assert set(services) == {"prometheus", "grafana"}
    assert not set(services) & set(compose["services"])
    for name, service in services.items():
        assert service["profiles"] == ["monitoring"], name  # not started by default
        for volume in service["volumes"]:
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), volume
            else:
                assert source in monitoring["volumes"], volume
    assert "--config.file=/etc/prometheus/prometheus.yml" in services["prometheus"]["command"]
    provider = yaml.safe_load(
        (DEPLOY / "grafana/provisioning/dashboards/reportrag.yml").read_text(encoding="utf-8")
    )
    mounted = [v for v in services["grafana"]["volumes"] if v.startswith("./grafana/reportrag")]
    assert mounted and mounted[0].split(":")[1].startswith(
        provider["providers"][0]["options"]["path"] + "/"
    )
