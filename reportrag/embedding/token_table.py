"""The query encoder's token-embedding table, read row by row from a file instead of mapped.

The embedding table is most of a small encoder's weights (250k pieces × 384 floats: 384 MB
for multilingual-e5-small), and a query reads a few dozen of its rows. Inside the ONNX graph
the table is a weight that onnxruntime maps from the ``.data`` file, so every row a query
touches stays resident in the serving process, and the process grows with the vocabulary its
queries have used (+100 MB in five minutes of evaluation queries, docs/benchmarks.md#memory).

:func:`split_token_table` takes the lookup out of the graph: the table goes to a ``.npy``
file and the graph gets the looked-up rows as an input (``token_embeddings``).
:class:`TokenTable` reads those rows with ``pread``: they pass through the kernel's page
cache, which is shared and reclaimable, and the process holds only the rows of the current
call. The rows are the same float32 values the graph held, so the vectors do not change.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from reportrag.errors import ModelError

if TYPE_CHECKING:
    import onnx

TOKEN_EMBEDDINGS = "token_embeddings"  # the graph input that replaces the lookup
IDS_INPUT = "input_ids"


def table_file(target: Path) -> Path:
    """Where the graph ``target`` keeps its token-embedding table, once split out."""
    return target.with_name(target.name + ".tokens.npy")


def split_token_table(model: onnx.ModelProto, out: Path) -> None:
    """Move the lookup of ``input_ids`` in the embedding table out of ``model`` (in place).

    The table is written to ``out`` (a ``.npy`` file, float32 rows); the lookup's consumers
    read the new graph input ``token_embeddings`` ([batch, tokens, dim] float32) instead.
    Raises :class:`ModelError` when the graph has no such lookup.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    lookup = next(
        (n for n in graph.node
         if n.op_type == "Gather" and len(n.input) == 2 and n.input[1] == IDS_INPUT
         and n.input[0] in inits and len(inits[n.input[0]].dims) == 2),
        None,
    )
    if lookup is None:
        raise ModelError("the ONNX graph has no embedding lookup of input_ids to split out")
    table = numpy_helper.to_array(inits[lookup.input[0]])  # the model is loaded whole
    if table.dtype != np.float32:
        raise ModelError(f"the embedding table is {table.dtype}, not float32")
    np.save(out, np.ascontiguousarray(table), allow_pickle=False)
    looked_up = lookup.output[0]
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name == looked_up:
                node.input[i] = TOKEN_EMBEDDINGS
    graph.node.remove(lookup)
    graph.initializer.remove(inits[lookup.input[0]])
    graph.input.append(helper.make_tensor_value_info(
        TOKEN_EMBEDDINGS, TensorProto.FLOAT, ["batch", "tokens", int(table.shape[1])]))
    onnx.checker.check_model(model)


class TokenTable:
    """Rows of a ``.npy`` float32 table read with ``pread`` (thread-safe, no mapping)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except OSError as exc:
            raise ModelError(f"cannot open the token table {path}: {exc}") from exc
        try:
            try:
                with os.fdopen(os.dup(fd), "rb") as fh:
                    fmt = np.lib.format
                    major, _ = fmt.read_magic(fh)
                    read_header = (fmt.read_array_header_1_0 if major == 1
                                   else fmt.read_array_header_2_0)
                    shape, fortran, dtype = read_header(fh)
                    offset = fh.tell()
            except (OSError, ValueError) as exc:
                raise ModelError(f"{path} is not a .npy table: {exc}") from exc
            if dtype != np.float32 or fortran or len(shape) != 2:
                raise ModelError(f"{path}: want a C-ordered float32 matrix, not {dtype} {shape}")
            size = os.fstat(fd).st_size
            if size != offset + shape[0] * shape[1] * 4:
                raise ModelError(f"{path} is truncated ({size} bytes for a {shape} table)")
        except BaseException:
            os.close(fd)
            raise
        self._fd, self._offset = fd, offset
        self.rows, self.dim = int(shape[0]), int(shape[1])
        self._row_bytes = self.dim * 4
        self._lock = threading.Lock()  # only for close()

    def lookup(self, ids: np.ndarray) -> np.ndarray:
        """The rows of ``ids`` (any shape of ints): an array of shape ``ids.shape + (dim,)``."""
        flat = ids.reshape(-1)
        if flat.size and (flat.min() < 0 or flat.max() >= self.rows):
            raise ModelError(f"token id out of range 0..{self.rows - 1}")
        size, base = self._row_bytes, self._offset
        data = b"".join(os.pread(self._fd, size, base + token * size) for token in flat.tolist())
        if len(data) != flat.size * size:
            raise ModelError(f"short read from {self.path}: is the table file being replaced?")
        return np.frombuffer(data, dtype=np.float32).reshape(*ids.shape, self.dim)

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown: nothing to report to
            pass
