"""The ONNX export's attention form, side by side: PyTorch's scaled-dot-product attention
(``sdpa``, export version 1) against the model's eager attention (version 2, the default).

    .venv/bin/python -m bench.onnx_attention [--rounds 2] [--json bench/results/onnx-attention.json]

Both forms are exported from the same weights into a temporary directory and quantized the
same way (``onnx_export.quantize``, int8 weights per output channel). Each is then run as
the engines run it (ONNX Runtime, all graph optimisations, idle threads sleeping): the
corpus's chunks as passages (length-sorted batches of 8, two threads; passages/s) and the
evaluation queries one at a time (one thread; p50/p99 ms). The forms take turns for
``--rounds`` rounds, each in a fresh child process; the median round is kept. Vectors are
compared between the forms (minimum cosine).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import REPO, latency_summary, machine, model_path, write_result

FORMS = ("sdpa", "eager")
PRECISIONS = ("fp32", "int8")


def _texts() -> tuple[list[str], list[str]]:
    """(passages, queries) with their prompts: the corpus's chunks and the evaluation queries."""
    from bench.embedding import corpus_passages, eval_queries

    passages = ["passage: " + p for p in corpus_passages(10_000)]
    return passages, ["query: " + q for q in eval_queries()]


def _session(path: Path, threads: int) -> Any:
    import onnxruntime as ort

    from reportrag.embedding.onnx_engine import session_options

    return ort.InferenceSession(str(path), session_options(threads),
                                providers=["CPUExecutionProvider"])


def _embed(session: Any, batch: list[list[int]]) -> np.ndarray:
    from reportrag.embedding.onnx_engine import mean_pooled, padded

    ids, mask = padded(batch)
    return mean_pooled(session.run(None, {"input_ids": ids, "attention_mask": mask})[0], mask)


def _child(model: str, path: str, vectors: str) -> None:
    """One form and precision: passages/s, query latency; vectors saved to ``vectors``."""
    from tokenizers import Tokenizer

    passages, queries = _texts()
    tok = Tokenizer.from_file(str(Path(model) / "tokenizer.json"))
    p_ids = [e.ids for e in tok.encode_batch(passages)]
    q_ids = [e.ids for e in tok.encode_batch(queries)]
    order = sorted(range(len(p_ids)), key=lambda i: len(p_ids[i]))
    batches = [order[b : b + 8] for b in range(0, len(order), 8)]
    session = _session(Path(path), threads=2)
    _embed(session, [p_ids[i] for i in batches[-1]])  # warm-up
    pv = np.zeros((len(p_ids), 384), dtype=np.float32)
    started = time.perf_counter()
    for b in batches:
        pv[b] = _embed(session, [p_ids[i] for i in b])
    rate = len(p_ids) / (time.perf_counter() - started)
    session = _session(Path(path), threads=1)
    for q in q_ids[:10]:
        _embed(session, [q])
    qv, ms = [], []
    for q in q_ids:
        t = time.perf_counter()
        qv.append(_embed(session, [q])[0])
        ms.append((time.perf_counter() - t) * 1000)
    np.savez(vectors, passages=pv, queries=np.stack(qv))
    print(json.dumps({"passages": len(p_ids), "passages_per_s": round(rate, 2),
                      "queries": len(q_ids), "query_ms": latency_summary(ms)}))


def _export_all(model: Path, work: Path) -> dict[tuple[str, str], Path]:
    from reportrag.embedding.onnx_export import export_encoder, int8_reduce_range, quantize

    files = {}
    for form in FORMS:
        fp32 = work / f"{form}.onnx"
        print(f"exporting the {form} form ...", file=sys.stderr, flush=True)
        export_encoder(model, fp32, attention=form)
        int8 = work / f"{form}.int8.onnx"
        quantize(fp32, int8, reduce_range=int8_reduce_range(), split_table=False)
        files[(form, "fp32")], files[(form, "int8")] = fp32, int8
    return files


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--child", nargs=3, metavar=("MODEL", "ONNX", "VECTORS"),
                    help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        _child(*args.child)
        return 0
    model = Path(model_path())
    result: dict[str, Any] = {"machine": machine(), "model": model.name, "rounds": args.rounds,
                              "runs": {}}
    with tempfile.TemporaryDirectory(prefix="onnx-attention-") as tmp:
        work = Path(tmp)
        files = _export_all(model, work)
        runs: dict[str, list[dict[str, Any]]] = {f"{f}/{p}": [] for f in FORMS for p in PRECISIONS}
        for r in range(args.rounds):
            for precision in PRECISIONS:
                for form in FORMS:
                    key = f"{form}/{precision}"
                    vec = work / f"{form}-{precision}.npz"
                    cmd = [sys.executable, "-m", "bench.onnx_attention", "--child", str(model),
                           str(files[(form, precision)]), str(vec)]
                    out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=True)
                    runs[key].append(json.loads(out.stdout.strip().splitlines()[-1]))
                    got = runs[key][-1]
                    print(f"round {r + 1} {key:12s} {got['passages_per_s']:7.2f} passages/s  "
                          f"query p50 {got['query_ms']['p50_ms']:.2f} ms", file=sys.stderr,
                          flush=True)
        for precision in PRECISIONS:
            a = np.load(work / f"sdpa-{precision}.npz")
            b = np.load(work / f"eager-{precision}.npz")
            result[f"min_cosine_{precision}"] = {
                k: round(float(np.sum(a[k] * b[k], axis=1).min()), 7)
                for k in ("passages", "queries")}
    for key, rows in runs.items():
        rate = statistics.median(r["passages_per_s"] for r in rows)
        p50 = statistics.median(r["query_ms"]["p50_ms"] for r in rows)
        p99 = statistics.median(r["query_ms"]["p99_ms"] for r in rows)
        result["runs"][key] = {"passages_per_s": round(rate, 2), "query_p50_ms": round(p50, 2),
                               "query_p99_ms": round(p99, 2), "rounds": rows}
        print(f"{key:12s} passages/s {rate:7.2f}  query p50 {p50:.2f} ms p99 {p99:.2f} ms")
    for precision in PRECISIONS:
        print(f"min cosine sdpa vs eager, {precision}: {result[f'min_cosine_{precision}']}")
    print(f"wrote {write_result('onnx-attention', result, args.json)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
