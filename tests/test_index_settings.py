"""REPORTRAG_* index settings reach the store's IndexConfig (and bad ones fail early)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from reportrag.errors import ConfigError
from reportrag.settings import Settings
from reportrag.store import IndexConfig
from reportrag.wiring import index_config_from_settings, store_from_settings


def test_defaults_agree() -> None:
    assert index_config_from_settings(Settings(_env_file=None)) == IndexConfig()


def test_environment_reaches_the_index_config(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    env = {
        "REPORTRAG_INDEX_KIND": "IVF_SQ8",
        "REPORTRAG_HNSW_M": "32",
        "REPORTRAG_HNSW_EF_CONSTRUCTION": "400",
        "REPORTRAG_SEARCH_EF": "128",
        "REPORTRAG_IVF_NLIST": "1024",
        "REPORTRAG_IVF_NPROBE": "64",
        "REPORTRAG_DATA_DIR": str(tmp_path),
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    settings = Settings(_env_file=None)
    assert index_config_from_settings(settings) == IndexConfig(
        kind="IVF_SQ8", hnsw_m=32, hnsw_ef_construction=400, search_ef=128, ivf_nlist=1024,
        ivf_nprobe=64,
    )
    store = store_from_settings(settings, 384)
    assert store._index.kind == "IVF_SQ8" and store._index.ivf_nprobe == 64


@pytest.mark.parametrize(
    ("name", "value"),
    [("INDEX_KIND", "DISKANN"), ("HNSW_M", "1"), ("SEARCH_EF", "0"), ("IVF_NLIST", "70000"),
     ("HNSW_EF_CONSTRUCTION", "x")],
)
def test_bad_values_are_refused_by_the_settings(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(f"REPORTRAG_{name}", value)
    with pytest.raises(ValidationError):
        Settings(_env_file=None)


def test_inconsistent_ivf_settings_are_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPORTRAG_IVF_NLIST", "64")
    monkeypatch.setenv("REPORTRAG_IVF_NPROBE", "128")
    with pytest.raises(ConfigError, match="ivf_nprobe"):
        index_config_from_settings(Settings(_env_file=None))
