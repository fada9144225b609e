"""API keys (from settings or a file, never logged) and CORS (off unless configured)."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr, ValidationError

from reportrag.api.app import create_app
from reportrag.api.runtime import Runtime
from reportrag.errors import ConfigError
from reportrag.settings import Settings

REPO = Path(__file__).resolve().parent.parent
KEY = "k3y-from-a-file-9f2e71"
WRONG = "wr0ng-key-guess-41c8d0"


def _settings(**kw) -> Settings:
    return Settings(_env_file=None, **kw)


def _bare_client(settings: Settings) -> TestClient:
    # No model, no Milvus: auth and CORS act before a route needs either.
    return TestClient(create_app(settings, runtime=Runtime(settings)))


def _error(r) -> dict:
    body = r.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details", "request_id"}
    return body["error"]


def test_admin_key_from_a_file_is_read_stripped_and_rotates(tmp_path: Path) -> None:
    key_file = tmp_path / "admin.key"
    key_file.write_text(f"  {KEY}\n", encoding="utf-8")
    settings = _settings(api_key_file=key_file)
    assert settings.admin_key() == KEY
    with _bare_client(settings) as c:
        assert c.post("/v1/ingest", json={}, headers={"X-API-Key": WRONG}).status_code == 401
        # the right key passes auth (then 503: this bare app has no model or Milvus)
        assert c.post("/v1/ingest", json={}, headers={"X-API-Key": KEY}).status_code == 503
        key_file.write_text("rotated-key-77\n", encoding="utf-8")  # no restart needed
        assert c.post("/v1/ingest", json={}, headers={"X-API-Key": KEY}).status_code == 401
        rotated = c.post("/v1/ingest", json={}, headers={"X-API-Key": "rotated-key-77"})
        assert rotated.status_code == 503


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda p: p / "missing.key", "No such file or directory"),
        (lambda p: p, "Is a directory"),
        (lambda p: (p / "empty.key").write_text("\n \n") and p / "empty.key", "is empty"),
        (lambda p: (p / "bin.key").write_bytes(b"\xff\xfe\x00k") and p / "bin.key", "cannot read"),
    ],
)
def test_an_unusable_key_file_is_a_clear_config_error(tmp_path: Path, make, message) -> None:
    path = make(tmp_path)
    with pytest.raises(ValidationError) as err:
        _settings(api_key_file=path)
    assert message in str(err.value) and str(path) in str(err.value)


def test_serve_refuses_to_start_with_a_missing_key_file(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "reportrag.api.cli", "serve", "--port", "9"],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO),
             "REPORTRAG_API_KEY_FILE": str(tmp_path / "nope.key")},
        capture_output=True, text=True, timeout=120,
    )
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert lines[0].startswith("reportrag: error: setting REPORTRAG_API_KEY_FILE:")
    assert "nope.key" in lines[0] and "No such file" in lines[0]


def test_a_key_file_removed_later_gives_a_config_error_not_a_crash(tmp_path: Path) -> None:
    key_file = tmp_path / "admin.key"
    key_file.write_text(KEY)
    settings = _settings(api_key_file=key_file)
    key_file.unlink()
    with pytest.raises(ConfigError, match="cannot read the API key file"):
        settings.admin_key()
    with _bare_client(settings) as c:
        r = c.post("/v1/ingest", json={}, headers={"X-API-Key": KEY})
    assert r.status_code == 500 and _error(r)["code"] == "config_error"
    assert KEY not in r.text


def test_keys_are_not_in_repr_or_dumps(tmp_path: Path) -> None:
    key_file = tmp_path / "admin.key"
    key_file.write_text(KEY)
    for s in (
        _settings(api_key=SecretStr(KEY), read_api_key=SecretStr(WRONG)),
        _settings(api_key_file=key_file, milvus_token=SecretStr(KEY)),
    ):
        for text in (repr(s), str(s), s.model_dump_json(), repr(s.model_dump()), repr(Runtime(s))):
            assert KEY not in text and WRONG not in text


def test_cors_is_off_by_default() -> None:
    with _bare_client(_settings()) as c:
        pre = c.options("/v1/search", headers={"Origin": "https://evil.example",
                                               "Access-Control-Request-Method": "POST"})
        get = c.get("/healthz", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in pre.headers
    assert "access-control-allow-origin" not in get.headers and get.status_code == 200


def test_cors_allows_exactly_the_configured_origins(monkeypatch) -> None:
    monkeypatch.setenv("REPORTRAG_CORS_ORIGINS", "https://app.example, http://localhost:5173")
    settings = Settings(_env_file=None)
    assert settings.cors_origins == ["https://app.example", "http://localhost:5173"]
    with _bare_client(settings) as c:
        ok = c.options("/v1/search", headers={
            "Origin": "https://app.example", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, x-api-key"})
        other = c.options("/v1/search", headers={
            "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
        get = c.get("/healthz", headers={"Origin": "http://localhost:5173"})
        too_big = c.post("/v1/search", content=b"x" * 70_000, headers={
            "Origin": "https://app.example", "content-type": "application/json"})
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == "https://app.example"
    assert "x-api-key" in ok.headers["access-control-allow-headers"].lower()
    assert other.status_code == 400 and "access-control-allow-origin" not in other.headers
    assert get.headers["access-control-allow-origin"] == "http://localhost:5173"
    # errors carry the CORS header too, so a browser client can read them
    assert too_big.status_code == 413
    assert too_big.headers["access-control-allow-origin"] == "https://app.example"


@pytest.mark.parametrize("value", ["https://app.example/", "app.example", '["ftp:/x"]'])
def test_a_malformed_cors_origin_is_a_config_error(monkeypatch, value: str) -> None:
    monkeypatch.setenv("REPORTRAG_CORS_ORIGINS", value)
    with pytest.raises(ValidationError, match="is not an origin"):
        Settings(_env_file=None)


@pytest.mark.slow
def test_keys_never_reach_logs_or_error_bodies(lite_settings, embedder, caplog) -> None:
    settings = lite_settings.model_copy(
        update={"api_key": SecretStr(KEY), "read_api_key": SecretStr("reader-" + KEY)}
    )
    runtime = Runtime(settings, embedder=embedder)
    runtime.start()
    bodies = []
    caplog.set_level(logging.DEBUG)  # every logger, every level
    with TestClient(create_app(settings, runtime=runtime)) as c:
        for key in (WRONG, KEY, "reader-" + KEY, None):
            headers = {"X-API-Key": key} if key else {}
            for r in (
                c.post("/v1/ingest", json={"dry_run": True}, headers=headers),
                c.post("/v1/search", json={"query": "Stability AI", "top_k": 1}, headers=headers),
                c.post("/v1/search", json={"query": "", "api_key": key}, headers=headers),
                c.get("/v1/documents/nope", headers=headers),
            ):
                bodies.append((key, r.status_code, r.text))
    statuses = [(k, s) for k, s, _ in bodies]
    reader = "reader-" + KEY
    assert (KEY, 200) in statuses and (WRONG, 401) in statuses
    assert (reader, 200) in statuses and (reader, 401) in statuses  # reads yes, admin no
    logged = caplog.text + "".join(r.getMessage() + repr(r.args) for r in caplog.records)
    assert caplog.records, "expected some log records to search"
    for secret in (KEY, WRONG, "reader-" + KEY):
        assert secret not in logged
        assert all(secret not in text for _, _, text in bodies)
    assert KEY not in repr(runtime) and KEY not in repr(settings)
