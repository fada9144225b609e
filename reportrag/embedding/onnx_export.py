"""The ONNX files of a model directory: the fp32 export and the int8 query encoder.

The export runs on first use (``torch.onnx.export``, ~10 s) into ``<model dir>/onnx/model.onnx``
next to a record of the weights it came from; a missing, stale or unreadable export is made
again. The int8 version (dynamic int8, per output channel, MatMul weights only) is made from
it once, with its weights in ``FILE.data`` (mapped by onnxruntime) and its token-embedding
table in ``FILE.tokens.npy`` (read row by row, :mod:`reportrag.embedding.token_table`).
:mod:`reportrag.embedding.onnx_engine` runs them.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
from pathlib import Path

from reportrag.children import child_env, module_command
from reportrag.embedding.token_table import split_token_table, table_file
from reportrag.errors import ModelError

logger = logging.getLogger(__name__)

EXPORT_DIR = "onnx"
EXPORT_FILE = "model.onnx"
EXPORT_META = "export.json"
# 2: attention exported from the model's plain ("eager") form: matrix products and a softmax.
# Version 1 came from PyTorch's scaled-dot-product attention, whose export also masks NaNs
# out of every layer's softmax (IsNaN and Where over the batch x heads x tokens x tokens
# scores) and carries more shape arithmetic: passages ran 1.2x (fp32) and 1.45x (int8)
# slower through onnxruntime (docs/embedding.md).
EXPORT_VERSION = 2
INT8_FILE = "model.int8.onnx"
INT8_META = "int8.json"
INT8_7BIT_FILE = "model.int8-7bit.onnx"  # reduce_range: for x86 CPUs without VNNI
INT8_7BIT_META = "int8-7bit.json"
# x86 flags of int8 dot-product instructions that add u8 × s8 products without saturating
VNNI_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "amx_int8"})
# 2: the weights sit beside the graph in FILE.data, which onnxruntime maps instead of copying.
# 3: the token-embedding table sits in FILE.tokens.npy, read row by row (token_table.py): a
# serving process does not grow with the vocabulary its queries use.
INT8_VERSION = 3
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
        data, table = have.get("data_size"), have.get("table_size")
        return (
            target.is_file()
            and have.get("weights") == want
            and have.get("onnx_size") == target.stat().st_size
            and (data is None or data == data_file(target).stat().st_size)
            and (table is None or table == table_file(target).stat().st_size)
        )
    except (OSError, ValueError, AttributeError):
        return False


def _record(target: Path, meta: Path, want: dict[str, object]) -> None:
    record: dict[str, object] = {"weights": want, "onnx_size": target.stat().st_size}
    for key, path in (("data_size", data_file(target)), ("table_size", table_file(target))):
        if path.is_file():
            record[key] = path.stat().st_size
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
    target, meta, want = _int8_target(source, reduce_range)
    if not fresh and _up_to_date(target, meta, want):
        return target
    quantize(source, target, reduce_range=reduce_range)
    _record(target, meta, want)
    return target


def _int8_target(source: Path, reduce_range: bool) -> tuple[Path, Path, dict[str, object]]:
    """(int8 file, its record, what the record must say) for the export ``source``."""
    name, record = int8_files(reduce_range)
    st = source.stat()
    want: dict[str, object] = {
        "version": INT8_VERSION, "source_size": st.st_size, "source_mtime_ns": st.st_mtime_ns
    }
    return source.parent / name, source.parent / record, want


def current_file(model_dir: Path, precision: str) -> Path | None:
    """The up-to-date file of ``precision`` (``fp32``: the export, ``int8``: its quantized
    version for this CPU), or None when it has to be made first. Reads records only."""
    out_dir = model_dir / EXPORT_DIR
    source = out_dir / EXPORT_FILE
    try:
        if not _up_to_date(source, out_dir / EXPORT_META, _weights_id(model_dir)):
            return None
        if precision == "fp32":
            return source
        target, meta, want = _int8_target(source, int8_reduce_range())
    except OSError:
        return None
    return target if _up_to_date(target, meta, want) else None


def model_file(model_dir: Path, precision: str, *, fresh: bool = False) -> Path:
    """The file the ONNX engine runs for ``precision``; when it is missing, stale or
    ``fresh`` is asked for, made first **in a child process**
    (``python -m reportrag.embedding.make_onnx``): the export needs torch and quantizing
    holds the whole fp32 graph, and a serving process should hold neither afterwards."""
    if not fresh:
        found = current_file(model_dir, precision)
        if found is not None:
            return found
    cmd = module_command("reportrag.embedding.make_onnx", str(model_dir),
                         "--precision", precision, *(["--fresh"] if fresh else []))
    logger.info("making the %s ONNX model of %s in a child process (once)", precision,
                model_dir.name)
    done = subprocess.run(cmd, check=False, capture_output=True, text=True, env=child_env())
    for line in done.stderr.splitlines():
        logger.info("onnx_export: %s", line)
    found = current_file(model_dir, precision)
    if done.returncode or found is None:
        why = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise ModelError(f"making the {precision} ONNX model of {model_dir.name} failed "
                         f"(exit {done.returncode}): {why}")
    return found


def quantize(source: Path, target: Path, *, reduce_range: bool, split_table: bool = True) -> None:
    """Write the int8 query encoder of the exported ``source`` at ``target`` (dynamic
    quantization; with ``split_table`` its token-embedding table in a file of its own, read
    row by row: token_table.py)."""
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
        _save_with_external_data(tmp, target, split_table=split_table)
    except Exception as exc:  # the quantizer raises many types; none is ours to handle
        raise ModelError(f"int8 quantization of {source} failed: {exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    logger.info("quantized %s in %.1fs", target.name, time.monotonic() - started)


def _save_with_external_data(source: Path, target: Path, *, split_table: bool = False) -> None:
    """``source`` saved as ``target`` (the graph) and ``target``.data (every weight of 1 KB
    or more). Same weights, same results; onnxruntime maps the .data file into memory.
    ``split_table``: the token-embedding table goes to ``target``.tokens.npy instead
    (:mod:`reportrag.embedding.token_table`). Written under temporary names, then moved:
    tables first, graph last."""
    import onnx

    model = onnx.load(str(source))
    work = target.parent / f".{target.name}.{os.getpid()}.dir"
    work.mkdir(exist_ok=True)
    try:
        if split_table:
            split_token_table(model, work / table_file(target).name)
            os.replace(work / table_file(target).name, table_file(target))
        else:
            table_file(target).unlink(missing_ok=True)
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

    started = time.monotonic()
    logger.info("exporting %s to ONNX (once, ~15 s)", model_dir.name)
    out_dir.mkdir(parents=True, exist_ok=True)
    final = out_dir / EXPORT_FILE
    export_encoder(model_dir, final)
    _record(final, out_dir / EXPORT_META, record)
    logger.info("exported %s to ONNX in %.1fs", model_dir.name, time.monotonic() - started)


def export_encoder(model_dir: Path, target: Path, *, attention: str = "eager") -> None:
    """Export the model's encoder (last hidden state) to ``target``, written to a temporary
    file and renamed. ``attention``: the transformers implementation it is traced from;
    ``eager`` is what the engines run (EXPORT_VERSION), ``sdpa`` version 1's, for
    ``bench/onnx_attention.py``."""
    try:
        import torch
        from transformers import AutoModel
    except ImportError as exc:
        raise ModelError(f"exporting to ONNX needs torch and transformers: {exc}") from exc

    model = AutoModel.from_pretrained(str(model_dir), local_files_only=True,
                                      attn_implementation=attention).eval()

    class Encoder(torch.nn.Module):
        """The BertModel's last hidden state, with positional inputs for the exporter."""

        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.inner(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    ids = torch.tensor([[0, 10, 20, 2]], dtype=torch.long)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
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
    os.replace(tmp, target)  # atomic: a killed export leaves no half file behind
