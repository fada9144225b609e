"""The deployment examples under deploy/: nothing here runs Docker or Kubernetes (neither exists
on this machine), so these check what can be checked without them: the files parse, pin the
versions Milvus v2.3.5 shipped with, agree with each other and with the settings they set.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml

from reportrag.settings import Settings

REPO = Path(__file__).resolve().parent.parent
DEPLOY = REPO / "deploy"
MILVUS_IMAGE = "milvusdb/milvus:v2.3.5"
# What Milvus v2.3.5's own standalone docker-compose.yml pinned.
ETCD_IMAGE = "quay.io/coreos/etcd:v3.5.5"
MINIO_IMAGE = "minio/minio:RELEASE.2023-03-20T20-16-18Z"
# Top-level keys of the milvus-helm chart 4.1.x values.yaml that the example may set.
HELM_KEYS = {
    "cluster", "image", "service", "log", "proxy", "queryNode", "dataNode", "indexNode",
    "rootCoordinator", "queryCoordinator", "dataCoordinator", "indexCoordinator",
    "mixCoordinator", "standalone", "extraConfigFiles", "etcd", "minio", "pulsar", "kafka",
    "externalS3", "externalEtcd", "externalPulsar", "externalKafka", "metrics", "attu",
}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def helm() -> dict:
    text = (DEPLOY / "helm" / "milvus-distributed-values.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def test_compose_pins_the_milvus_2_3_5_stack(compose: dict) -> None:
    services = compose["services"]
    assert set(services) == {"etcd", "minio", "milvus", "api"}
    assert services["milvus"]["image"] == MILVUS_IMAGE
    assert services["etcd"]["image"] == ETCD_IMAGE
    assert services["minio"]["image"] == MINIO_IMAGE
    assert services["milvus"]["command"] == ["milvus", "run", "standalone"]
    env = services["milvus"]["environment"]
    assert env["ETCD_ENDPOINTS"] == "etcd:2379" and env["MINIO_ADDRESS"] == "minio:9000"
    assert set(services["milvus"]["depends_on"]) == {"etcd", "minio"}


def test_compose_api_points_at_the_milvus_service(compose: dict) -> None:
    api = compose["services"]["api"]
    env = api["environment"]
    assert env["REPORTRAG_MILVUS_URI"] == "http://milvus:19530"
    assert "19530:19530" in compose["services"]["milvus"]["ports"]
    assert api["depends_on"]["milvus"]["condition"] == "service_healthy"
    assert api["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}
    assert api["command"][:2] == ["reportrag", "serve"] and "--workers" in api["command"]


def test_compose_settings_are_real_and_valid(compose: dict, monkeypatch) -> None:
    env = compose["services"]["api"]["environment"]
    fields = {f"REPORTRAG_{name.upper()}" for name in Settings.model_fields}
    unknown = {k for k in env if k.startswith("REPORTRAG_")} - fields
    assert not unknown, f"not settings: {unknown}"
    for key, value in env.items():
        monkeypatch.setenv(key, str(value))
    settings = Settings(_env_file=None)  # every value passes the settings' own validation
    assert settings.milvus_uri == "http://milvus:19530" and settings.index_kind == "HNSW"


def test_compose_named_volumes_are_declared(compose: dict) -> None:
    used = {
        v.split(":")[0]
        for s in compose["services"].values()
        for v in s.get("volumes", [])
        if not v.startswith((".", "/"))
    }
    assert used and used == set(compose["volumes"])


def test_dockerfile_copies_every_package_and_uses_the_lock() -> None:
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    includes = project["tool"]["setuptools"]["packages"]["find"]["include"]
    for package in sorted({p.split(".")[0].rstrip("*") for p in includes}):
        assert re.search(rf"^COPY {package} \./{package}$", text, re.M), package
    assert "pip install -c requirements.lock ." in text
    torch_pin = next(d for d in project["project"]["dependencies"] if d.startswith("torch"))
    setup = (REPO / "scripts" / "setup.sh").read_text(encoding="utf-8")
    pinned = re.search(r'"torch==([\d.]+)"', setup)
    assert pinned and f'"torch=={pinned.group(1)}"' in text, "same torch as scripts/setup.sh"
    assert torch_pin.startswith("torch>=")
    assert re.search(r"^FROM python:3\.11", text, re.M)  # requires-python >=3.11,<3.13
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text(encoding="utf-8")
    for package in sorted({p.split(".")[0].rstrip("*") for p in includes}):
        assert f"!{package}/**" in ignore


def test_helm_values_are_a_2_3_5_cluster(helm: dict, compose: dict) -> None:
    assert set(helm) <= HELM_KEYS, set(helm) - HELM_KEYS
    assert helm["cluster"]["enabled"] is True
    image = helm["image"]["all"]
    assert f"{image['repository']}:{image['tag']}" == compose["services"]["milvus"]["image"]
    query = helm["queryNode"]
    assert query["replicas"] >= 2
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(query["resources"][kind])
    assert _gib(query["resources"]["requests"]["memory"]) <= _gib(
        query["resources"]["limits"]["memory"]
    )
    user = yaml.safe_load(helm["extraConfigFiles"]["user.yaml"])
    assert user["dataCoord"]["segment"]["maxSize"] >= 512


def test_helm_values_enable_one_of_each_dependency(helm: dict) -> None:
    assert helm["etcd"]["enabled"] != helm["externalEtcd"]["enabled"]
    assert helm["minio"]["enabled"] != helm["externalS3"]["enabled"]
    queues = [helm[k]["enabled"] for k in ("pulsar", "kafka", "externalPulsar", "externalKafka")]
    assert queues.count(True) == 1
    if helm["etcd"]["enabled"]:
        assert helm["etcd"]["replicaCount"] % 2 == 1  # a quorum
    if helm["minio"]["enabled"]:
        assert helm["minio"]["mode"] == "distributed"


def test_deployment_doc_names_the_same_versions() -> None:
    doc = (REPO / "docs" / "deployment.md").read_text(encoding="utf-8")
    for needle in ("v2.3.5", "v3.5.5", "RELEASE.2023-03-20T20-16-18Z", "4.1.36",
                   "deploy/docker-compose.yml", "deploy/helm/milvus-distributed-values.yaml"):
        assert needle in doc, needle


def _gib(value: str) -> float:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(Mi|Gi)", value)
    assert m, value
    return float(m.group(1)) / (1024 if m.group(2) == "Mi" else 1)
