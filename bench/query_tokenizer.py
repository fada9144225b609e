"""What the lean query tokenizer costs a search: tokenize and encode time per query, old and new.

    .venv/bin/python -m bench.query_tokenizer [--model DIR] [--rounds 3]
        [--json bench/results/query-tokenizer.json]

The serving process tokenizes queries with reportrag.embedding.query_tokenizer (same ids as
the `tokenizers` library, a fraction of its memory: docs/benchmarks.md#memory). This runs
every evaluation query (dev, extended, real documents) through the int8 ONNX query encoder
with either tokenizer, alternating them round by round in one process, and prints the median
milliseconds per query of tokenizing alone and of the whole encode (tokenize + inference).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from bench.common import REPO, machine, model_path, write_result

QUERY_FILES = ("eval/dev_queries.jsonl", "eval/queries_extended.jsonl",
               "eval/realdocs/queries.jsonl")


def _queries() -> list[str]:
    out = []
    for rel in QUERY_FILES:
        for line in (REPO / rel).read_text(encoding="utf-8").splitlines():
            if line.strip():
                out.append("query: " + json.loads(line)["q"])
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=None, help="model directory (default: data/models)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args()
    from reportrag.embedding.onnx_engine import OnnxEngine

    model = Path(args.model or model_path())
    queries = _queries()
    engines = {
        "library tokenizer": OnnxEngine(model, precision="int8", threads=1, lean_tokenizer=False),
        "lean tokenizer": OnnxEngine(model, precision="int8", threads=1, lean_tokenizer=True),
    }
    for engine in engines.values():
        engine.load()
        engine.encode(queries[:5])  # warm the session
    timings: dict[str, dict[str, list[float]]] = {k: {"tokenize": [], "encode": []}
                                                  for k in engines}
    for _ in range(args.rounds):
        for name, engine in engines.items():
            t = time.perf_counter()
            for q in queries:
                engine._token_ids([q])
            timings[name]["tokenize"].append((time.perf_counter() - t) * 1e3 / len(queries))
            t = time.perf_counter()
            for q in queries:
                engine.encode([q])
            timings[name]["encode"].append((time.perf_counter() - t) * 1e3 / len(queries))
    result = {
        "machine": machine(),
        "queries": len(queries),
        "rounds": args.rounds,
        "ms_per_query": {
            name: {stage: round(statistics.median(v), 3) for stage, v in t.items()}
            for name, t in timings.items()
        },
    }
    for name, t in result["ms_per_query"].items():
        print(f"{name:18s} tokenize {t['tokenize']:.3f} ms  encode {t['encode']:.3f} ms "
              f"(median of {args.rounds} rounds, {len(queries)} queries)")
    print("written to", write_result("query-tokenizer", result, args.json))


if __name__ == "__main__":
    main()
