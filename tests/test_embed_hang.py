"""A passage-embedding child that hangs is killed and the call fails with a clear error
(embedding/process_engine.py's watchdog), through a stand-in child (tests/hanging_worker.py)
that speaks the worker's protocol: fast, no model."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from reportrag.embedding.process_engine import ProcessEngine
from reportrag.errors import ModelError


def _engine(**settings: object) -> ProcessEngine:
    return ProcessEngine(dict(settings), name="fake", precision="fp32", idle_s=60.0,
                         call_timeout_s=1.0, per_passage_s=0.0, start_timeout_s=2.0,
                         module="tests.hanging_worker")


def _gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.split(") ")[1].startswith("Z")


def test_a_call_the_child_never_answers_fails_and_the_next_call_starts_another() -> None:
    engine = _engine()
    try:
        assert engine.encode(["a", "b"]).shape == (2, 4)
        first = engine.pid
        assert first is not None
        started = time.monotonic()
        with pytest.raises(ModelError, match=r"gave no answer for 1s and was killed while "
                                             r"embedding 1 passages") as caught:
            engine.encode(["hang"])
        assert time.monotonic() - started < 10
        assert caught.value.details["pid"] == first and _gone(first)
        assert engine.encode(["c"]).shape == (1, 4)  # a new child answers
        assert engine.pid not in (None, first)
    finally:
        engine.close()


def test_a_child_that_never_starts_is_killed_with_a_clear_error() -> None:
    engine = _engine(hang_at_start=True)
    try:
        with pytest.raises(ModelError, match=r"gave no answer for 2s and was killed while "
                                             r"loading the model"):
            engine.encode(["a"])
        assert engine.pid is None
    finally:
        engine.close()


def test_the_child_gets_the_settings_without_any_secret(tmp_path: Path) -> None:
    from pydantic import SecretStr

    from reportrag.settings import Settings

    key_file = tmp_path / "admin.key"
    key_file.write_text("k" * 32)
    key_file.chmod(0o600)
    settings = Settings(_env_file=None, data_dir=tmp_path, api_key=SecretStr("a" * 32),
                        read_api_key=SecretStr("r" * 32), milvus_token=SecretStr("t"),
                        api_key_file=key_file)
    sent = settings.without_secrets()
    assert {"api_key", "read_api_key", "milvus_token", "api_key_file"} <= Settings.secret_fields()
    assert not Settings.secret_fields() & set(sent)
    assert not any(isinstance(v, str) and v.startswith(("aaaa", "rrrr")) for v in sent.values())
    assert Settings.model_validate(sent).data_dir == tmp_path  # the child can rebuild them
