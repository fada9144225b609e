"""The token-embedding table read by rows (reportrag/embedding/token_table.py), on a tiny graph:
splitting the lookup out of an ONNX graph gives the same outputs, and bad tables are refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from reportrag.embedding.token_table import (
    TOKEN_EMBEDDINGS,
    TokenTable,
    split_token_table,
    table_file,
)
from reportrag.errors import ModelError

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")


def _tiny_model(table: np.ndarray) -> onnx.ModelProto:
    """input_ids -> Gather(table) -> Mul(by mask) -> output: the shape of a BERT embedding."""
    from onnx import TensorProto, helper, numpy_helper

    dim = table.shape[1]
    nodes = [
        helper.make_node("Gather", ["table", "input_ids"], ["looked_up"]),
        helper.make_node("Cast", ["attention_mask"], ["maskf"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["maskf", "axis"], ["mask3"]),
        helper.make_node("Mul", ["looked_up", "mask3"], ["hidden"]),
        helper.make_node("Shape", ["input_ids"], ["ids_shape"]),  # a second use of the ids
    ]
    graph = helper.make_graph(
        nodes, "tiny",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["b", "t"]),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["b", "t"])],
        [helper.make_tensor_value_info("hidden", TensorProto.FLOAT, ["b", "t", dim]),
         helper.make_tensor_value_info("ids_shape", TensorProto.INT64, [2])],
        initializer=[numpy_helper.from_array(table, "table"),
                     numpy_helper.from_array(np.array([2], dtype=np.int64), "axis")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _run(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    wanted = {i.name for i in session.get_inputs()}
    return session.run(["hidden"], {k: v for k, v in feeds.items() if k in wanted})[0]


def test_split_lookup_gives_the_same_outputs(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    table = rng.standard_normal((50, 8)).astype(np.float32)
    ids = np.array([[0, 5, 49, 5], [3, 3, 1, 0]], dtype=np.int64)
    mask = np.array([[1, 1, 1, 1], [1, 1, 1, 0]], dtype=np.int64)
    before = _run(_tiny_model(table), {"input_ids": ids, "attention_mask": mask})

    model = _tiny_model(table)
    out = table_file(tmp_path / "m.onnx")
    split_token_table(model, out)
    assert "table" not in {i.name for i in model.graph.initializer}
    assert TOKEN_EMBEDDINGS in {i.name for i in model.graph.input}
    rows = TokenTable(out)
    assert (rows.rows, rows.dim) == (50, 8)
    after = _run(model, {"input_ids": ids, "attention_mask": mask,
                         TOKEN_EMBEDDINGS: rows.lookup(ids)})
    assert np.array_equal(before, after)
    assert np.array_equal(rows.lookup(np.array([49, 0])), table[[49, 0]])
    rows.close()


def test_a_graph_without_the_lookup_is_refused(tmp_path: Path) -> None:
    model = _tiny_model(np.zeros((4, 2), dtype=np.float32))
    model.graph.node[0].input[1] = "attention_mask"  # the lookup no longer reads input_ids
    with pytest.raises(ModelError, match="no embedding lookup"):
        split_token_table(model, tmp_path / "t.npy")


def test_bad_tables_and_ids_are_clear_errors(tmp_path: Path) -> None:
    good = tmp_path / "good.npy"
    np.save(good, np.ones((10, 4), dtype=np.float32))
    table = TokenTable(good)
    with pytest.raises(ModelError, match="out of range"):
        table.lookup(np.array([10]))
    with pytest.raises(ModelError, match="out of range"):
        table.lookup(np.array([-1]))
    assert table.lookup(np.zeros((0,), dtype=np.int64)).shape == (0, 4)

    short = tmp_path / "short.npy"
    short.write_bytes(good.read_bytes()[:-8])
    with pytest.raises(ModelError, match="truncated"):
        TokenTable(short)
    wrong = tmp_path / "f64.npy"
    np.save(wrong, np.ones((3, 2), dtype=np.float64))
    with pytest.raises(ModelError, match="float32"):
        TokenTable(wrong)
    with pytest.raises(ModelError, match="not a .npy"):
        TokenTable(Path(__file__))
    with pytest.raises(ModelError, match="cannot open"):
        TokenTable(tmp_path / "missing.npy")
