"""Milvus Lite served from a child process (``reportrag serve``'s default), against real Lite."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from reportrag.errors import ConfigError, StoreError
from reportrag.settings import Settings
from reportrag.store.core import _lite_locked
from reportrag.store.lite_process import LiteProcess
from reportrag.store.milvus import MilvusStore
from reportrag.wiring import store_from_settings

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def db_copy(lite_settings, tmp_path: Path) -> Path:
    """A copy of the session's ingested Lite database (this process may hold the original)."""
    db = tmp_path / "data" / "milvus.db"
    shutil.copytree(lite_settings.data_dir / "milvus.db", db,
                    ignore=shutil.ignore_patterns("LOCK"))
    return db


def _store(settings: Settings, db: Path, address: str, embedder) -> MilvusStore:
    s = settings.model_copy(update={"data_dir": db.parent, "lite_address": address})
    store = store_from_settings(s, embedder.dim)
    store.connect()
    store.ensure_collection(embedder.fingerprint())
    return store


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


@pytest.mark.slow
def test_the_child_serves_the_same_collection_and_stop_releases_the_lock(
    lite_settings, db_copy: Path, embedder
) -> None:
    vec = embedder.embed_query("How many A100 GPUs does ChatGPT need?")
    with LiteProcess(db_copy) as lite:
        assert lite.pid is not None and _alive(lite.pid)
        assert _lite_locked(db_copy)  # the child holds the database
        store = _store(lite_settings, db_copy, lite.address, embedder)
        caps = store.capabilities
        assert (caps.kind, caps.bm25, caps.analyzer) == ("lite", True, "jieba")
        remote = [(h.chunk_id, round(h.score, 5)) for h in store.rank_dense(
            vec, _filters(), 5)]
        keyword = store.rank_text("ChatGPT A100", _filters(), 3)
        count = store.count()
        store.close()
        pid = lite.pid
    assert not _alive(pid)
    assert not _lite_locked(db_copy)  # closed cleanly: the file opens in this process again
    local = MilvusStore(str(db_copy), lite_settings.collection, embedder.dim, timeout=30)
    local.connect()
    try:
        local.ensure_collection(embedder.fingerprint())
        assert local.count() == count > 0
        assert [(h.chunk_id, round(h.score, 5)) for h in local.rank_dense(
            vec, _filters(), 5)] == remote
        assert keyword and all(h.score > 0 for h in keyword)
    finally:
        local.close()
        from milvus_lite.server_manager import server_manager_instance

        server_manager_instance.release_server(str(db_copy))


def _filters():
    from reportrag.types import Filters

    return Filters()


@pytest.mark.slow
def test_a_killed_child_is_started_again_and_the_store_reconnects(
    lite_settings, db_copy: Path, embedder
) -> None:
    with LiteProcess(db_copy) as lite:
        first = lite.pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        deadline = time.monotonic() + 120
        while (lite.restarts == 0 or lite.pid == first) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert lite.restarts == 1 and lite.pid != first and _alive(lite.pid)
        store = _store(lite_settings, db_copy, lite.address, embedder)
        try:
            assert store.count() > 0
        finally:
            store.close()


@pytest.mark.slow
def test_a_second_process_on_the_same_database_fails_with_a_clear_error(db_copy: Path) -> None:
    with LiteProcess(db_copy):
        other = LiteProcess(db_copy)
        with pytest.raises(StoreError) as err:
            other.start()
        assert "open in another process" in err.value.message
        assert str(db_copy) in err.value.message
        assert other.pid is None


@pytest.mark.slow
def test_the_child_exits_when_its_parent_dies(db_copy: Path, tmp_path: Path) -> None:
    # A parent that starts the child and dies without stopping it (as on SIGKILL or a crash).
    script = (
        "import os, sys; from pathlib import Path;"
        "from reportrag.store.lite_process import LiteProcess;"
        f"lite = LiteProcess(Path({str(db_copy)!r})); lite.start();"
        "print(lite.pid, flush=True); os._exit(0)"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True,
                         text=True, timeout=180, check=True)
    child = int(out.stdout.strip())
    deadline = time.monotonic() + 30
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _alive(child), "orphaned Milvus Lite process"
    deadline = time.monotonic() + 30
    while _lite_locked(db_copy) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _lite_locked(db_copy)


def test_an_address_needs_a_lite_database_and_a_url() -> None:
    with pytest.raises(ConfigError, match="Milvus Lite"):
        MilvusStore("http://milvus:19530", "c", 8, address="http://127.0.0.1:1234")
    with pytest.raises(ConfigError):
        MilvusStore("/tmp/x.db", "c", 8, address="not a uri")
    for bad in ("ftp://127.0.0.1:1", "127.0.0.1:19530", "http://127.0.0.1", "http://h:1/x;rm"):
        with pytest.raises(ValueError, match="lite_address"):
            Settings(_env_file=None, lite_address=bad)
    assert Settings(_env_file=None, lite_address="http://127.0.0.1:19600").lite_address


@pytest.mark.parametrize("flags", [["--port", "70000"], ["--port", "-1"], ["--threads", "0"]])
def test_the_child_entry_point_refuses_bad_flags(flags: list[str]) -> None:
    out = subprocess.run([sys.executable, "-m", "reportrag.store.lite_server", "--data-dir",
                          "/nonexistent/x.db", *flags], cwd=REPO, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 2 and flags[0] in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_a_port_another_process_listens_on_is_never_taken_for_ours(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        lite = LiteProcess(tmp_path / "milvus.db", port=port, start_timeout=60)
        with pytest.raises(StoreError, match="did not start"):
            lite.start()
        assert lite.pid is None


@pytest.mark.slow
def test_other_commands_reach_the_database_through_the_running_process(
    lite_settings, db_copy: Path, embedder, monkeypatch, capsys
) -> None:
    from reportrag.api.cli import main as cli_main
    from reportrag.settings import get_settings
    from reportrag.store.lite_process import address_file, running_address

    assert running_address(db_copy) is None
    with LiteProcess(db_copy) as lite:
        assert address_file(db_copy).exists()
        assert running_address(db_copy) == lite.address
        # What `reportrag search` / `ingest` build, with nothing but the data directory set:
        s = lite_settings.model_copy(update={"data_dir": db_copy.parent, "lite_address": None})
        store = store_from_settings(s, embedder.dim)
        assert store._address == lite.address
        monkeypatch.setenv("REPORTRAG_DATA_DIR", str(db_copy.parent))
        monkeypatch.setenv("REPORTRAG_MODEL", lite_settings.model)
        for name in ("REPORTRAG_MILVUS_URI", "REPORTRAG_LITE_ADDRESS"):
            monkeypatch.delenv(name, raising=False)
        get_settings.cache_clear()
        try:
            code = cli_main(["search", "How many A100 GPUs does ChatGPT need?", "--top-k", "2",
                             "--json"])
        finally:
            get_settings.cache_clear()
        out = capsys.readouterr().out
        assert code == 0 and "oss-report-2023" in out, out[-500:]
        assert _lite_locked(db_copy)  # still the child's: the command did not open the file
    assert not address_file(db_copy).exists()
    assert running_address(db_copy) is None


def test_a_stale_or_foreign_address_file_is_ignored(tmp_path: Path) -> None:
    import json

    from reportrag.store.lite_process import address_file, running_address

    db = tmp_path / "milvus.db"
    db.mkdir()
    path = address_file(db)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    for content in (
        json.dumps({"address": "http://127.0.0.1:1", "pid": dead.pid, "db": str(db)}),
        # a live pid that is not a Lite server
        json.dumps({"address": "http://127.0.0.1:1", "pid": os.getpid(), "db": str(db)}),
        "not json", "", json.dumps({"pid": "x"}), json.dumps([1, 2]),
    ):
        path.write_text(content, encoding="utf-8")
        assert running_address(db) is None, content
