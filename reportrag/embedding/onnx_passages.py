"""Passages through ONNX Runtime: the int8 export of the query encoder, batched for ingestion.

``REPORTRAG_PRECISION=int8`` embeds passages with the same quantized export the queries use
(:func:`reportrag.embedding.onnx_engine.quantized_model`: dynamic int8, MatMul weights per
output channel). Its vectors are close to the float ones (cosine >= 0.98 on the corpus,
docs/embedding.md) but not the same, so the collection records the precision
(``passage_precision`` in its fingerprint) and refuses writes at the other one.

Like sentence-transformers, the passages are ordered by token count and cut into batches,
each padded to its own longest text, not to the longest of the whole call; the vectors come
back in the caller's order. The engine runs on every core unless threads are set (the query
encoder's one thread is for one short text at a time).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from reportrag.embedding.onnx_engine import OnnxEngine

AUTO_BATCH = 8  # passages per run when not set: as the torch engine on a CPU


class OnnxPassageEngine(OnnxEngine):
    """The ONNX Runtime engine for passages: length-sorted batches, all cores by default."""

    def __init__(self, model_dir: Path, *, threads: int = 0, batch_size: int = 0,
                 precision: str = "int8") -> None:
        super().__init__(model_dir, threads=threads or (os.cpu_count() or 1),
                         precision=precision)
        self.batch_size = batch_size or AUTO_BATCH

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed already-prefixed texts; (n, dim) float32, L2-normalised, in input order."""
        if len(texts) <= self.batch_size:
            return super().encode(texts)
        self.load()
        lengths = [len(ids) for ids in self._token_ids(texts)]
        order = sorted(range(len(texts)), key=lengths.__getitem__)
        parts: list[np.ndarray] = []
        for start in range(0, len(order), self.batch_size):
            parts.append(super().encode([texts[i] for i in order[start:start + self.batch_size]]))
        out = np.empty((len(texts), parts[0].shape[1]), dtype=np.float32)
        out[order] = np.concatenate(parts)
        return out
