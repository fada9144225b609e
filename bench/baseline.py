"""reportrag against the usual LangChain pipeline, in one run on the same machine and Milvus Lite.

    .venv/bin/python -m bench.baseline [--repeat 1] [--query-rounds 3] [--json OUT.json]

Both sides use the same multilingual-e5-small directory, torch build and Milvus Lite 3.2.2.
The baseline (``bench/langchain_pipeline.py``: TextLoader, RecursiveCharacterTextSplitter
1000/200, HuggingFaceEmbeddings, langchain-milvus) runs in ``.venv-baseline``, which this
script creates on first use from ``bench/requirements-baseline.txt``. Measured, side by side:

- ingest: wall time of a fresh process ingesting the whole corpus into an empty Milvus Lite
  file (imports, model load and Milvus Lite start-up included), and its peak RSS;
- query: in-process latency of each evaluation query (one warm-up first), p50/p95/p99,
  in ``--query-rounds`` rounds of one fresh process per side, the sides' order rotating
  from round to round (this shared VM drifts by 20 % and more between consecutive runs of the
  same code); the latency table pools every round, the p50 ratios are the median of the
  rounds' own ratios;
- quality: recall@1/5/10 and MRR@10 on the dev and extended query sets, judged by the same
  code (``reportrag/search/evaluate.py``: gold substring, NFKC, whitespace removed, split gold).

Ratios are reportrag relative to the baseline from the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.common import REPO, latency_summary, machine, model_path, run_measured, write_result
from reportrag.search.evaluate import QueryResult, is_relevant, load_queries, summarize

BASELINE_VENV = REPO / ".venv-baseline"
REQUIREMENTS = REPO / "bench" / "requirements-baseline.txt"
QUERY_SETS = {
    "dev": REPO / "eval" / "dev_queries.jsonl",
    "extended": REPO / "eval" / "queries_extended.jsonl",
}


def ensure_baseline_venv() -> Path:
    """The baseline's Python, installing its environment first if needed."""
    py = BASELINE_VENV / "bin" / "python"
    marker = BASELINE_VENV / ".requirements"
    wanted = REQUIREMENTS.read_text(encoding="utf-8")
    if py.is_file() and marker.is_file() and marker.read_text(encoding="utf-8") == wanted:
        return py
    print("bench: installing the LangChain baseline into .venv-baseline", file=sys.stderr)
    if not py.is_file():
        subprocess.run([sys.executable, "-m", "venv", str(BASELINE_VENV)], check=True)
    pip = [str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    # torch first, alone: the CPU build (see scripts/setup.sh).
    subprocess.run([*pip, "torch==2.13.0"], check=True)
    subprocess.run([*pip, "-r", str(REQUIREMENTS)], check=True)
    marker.write_text(wanted, encoding="utf-8")
    return py


def _env(data: Path) -> dict[str, str]:
    return {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "REPORTRAG_DATA_DIR": str(data),
        "REPORTRAG_CORPUS_DIR": str(REPO / "corpus"),
        "REPORTRAG_MODEL": model_path(),
    }


def _json_out(run, what: str) -> dict[str, Any]:
    if run.returncode != 0:
        raise SystemExit(f"{what} failed ({run.returncode}): {run.stderr[-3000:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])


def ingest_ours(data: Path) -> dict[str, Any]:
    exe = str(Path(sys.executable).with_name("reportrag"))
    run = run_measured([exe, "ingest", "--json", "--no-progress"], env=_env(data))
    summary = _json_out(run, "reportrag ingest")
    return {"wall_s": round(run.wall_s, 2), "peak_rss_mb": round(run.peak_rss_mb),
            "chunks": summary["chunks"], "pipeline_s": summary["seconds"]}


def ingest_baseline(py: Path, data: Path) -> dict[str, Any]:
    # -P: bench/ must not shadow the standard library for the script (it holds modules
    # like http_latency; a plain script run puts its own folder first on sys.path).
    cmd = [str(py), "-P", str(REPO / "bench" / "langchain_pipeline.py"), "ingest",
           "--db", str(data / "langchain.db"), "--model", model_path(),
           "--corpus", str(REPO / "corpus")]
    run = run_measured(cmd, env=_env(data))
    summary = _json_out(run, "baseline ingest")
    return {"wall_s": round(run.wall_s, 2), "peak_rss_mb": round(run.peak_rss_mb),
            "chunks": summary["chunks"], "pipeline_s": summary["pipeline_s"]}


def query_ours(data: Path, queries: Path, mode: str = "auto") -> list[dict[str, Any]]:
    run = run_measured([sys.executable, "-m", "bench.query_ours", "--queries", str(queries),
                        "--mode", mode], env=_env(data))
    return _json_out(run, "reportrag queries")["queries"]


def query_baseline(py: Path, data: Path, queries: Path) -> list[dict[str, Any]]:
    cmd = [str(py), "-P", str(REPO / "bench" / "langchain_pipeline.py"), "query",
           "--db", str(data / "langchain.db"), "--model", model_path(),
           "--corpus", str(REPO / "corpus"), "--queries", str(queries)]
    return _json_out(run_measured(cmd, env=_env(data)), "baseline queries")["queries"]


SIDES = ("ours", "ours_dense", "baseline")


def query_rounds(py: Path, work: Path, queries: Path, n: int) -> list[dict[str, list]]:
    """Each side's answers (with latencies) per round, one fresh process per side and round."""
    run = {
        "ours": lambda: query_ours(work / "ours-0", queries),
        # The same kind of retrieval as the baseline's (vectors only, same model).
        "ours_dense": lambda: query_ours(work / "ours-0", queries, mode="dense"),
        "baseline": lambda: query_baseline(py, work / "baseline-0", queries),
    }
    rounds = []
    for i in range(n):
        order = SIDES[i % len(SIDES):] + SIDES[:i % len(SIDES)]  # who goes first rotates
        rounds.append({side: run[side]() for side in order})
    return rounds


def judge(path: Path, answers: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Recall@k / MRR@10 per language pair for one query set, with the eval harness' rules."""
    by_id = {a["id"]: a for a in answers}
    results = []
    for q in load_queries(path):
        rank = None
        for i, h in enumerate(by_id[q.id]["hits"], 1):
            if is_relevant(h["text"], h["lang"], q.gold, prev_text=h["prev"],
                           next_text=h["next"]):
                rank = i
                break
        results.append(QueryResult(q, rank))
    return summarize(results)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=1, help="ingest runs per side (best kept)")
    ap.add_argument("--query-rounds", type=int, default=3,
                    help="query runs per side, interleaved (latency pooled, ratios: median)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    py = ensure_baseline_venv()
    work = Path(tempfile.mkdtemp(prefix="reportrag-bench-baseline-"))
    try:
        runs: dict[str, list[dict[str, Any]]] = {"ours": [], "baseline": []}
        for i in range(args.repeat):
            # Alternate who goes first, so neither always gets the warmer page cache.
            order = ("ours", "baseline") if i % 2 == 0 else ("baseline", "ours")
            for side in order:
                data = work / f"{side}-{i}"
                shutil.rmtree(data, ignore_errors=True)
                data.mkdir()
                runs[side].append(ingest_ours(data) if side == "ours"
                                  else ingest_baseline(py, data))
        ingest = {s: min(rs, key=lambda r: r["wall_s"]) for s, rs in runs.items()}
        all_queries = work / "queries.jsonl"
        all_queries.write_text("".join(p.read_text(encoding="utf-8") for p in
                                       QUERY_SETS.values()), encoding="utf-8")
        rounds = query_rounds(py, work, all_queries, max(1, args.query_rounds))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    answers = rounds[0]  # rankings do not change between rounds; the first is judged
    latency = {s: latency_summary([a["ms"] for r in rounds for a in r[s]]) for s in SIDES}
    per_round = [{s: latency_summary([a["ms"] for a in r[s]]) for s in SIDES} for r in rounds]
    quality = {s: {name: judge(path, ans) for name, path in QUERY_SETS.items()}
               for s, ans in answers.items()}

    def ratio(side: str, stat: str) -> float:
        return round(statistics.median(r[side][stat] / r["baseline"][stat] for r in per_round), 3)

    ratios = {
        "ingest_speedup": round(ingest["baseline"]["wall_s"] / ingest["ours"]["wall_s"], 2),
        "query_p50_ratio": ratio("ours", "p50_ms"),
        "query_p99_ratio": ratio("ours", "p99_ms"),
        "query_p50_ratio_dense": ratio("ours_dense", "p50_ms"),
        **{f"recall@5_{name}_delta": round(quality["ours"][name]["overall"]["recall@5"]
                                           - quality["baseline"][name]["overall"]["recall@5"], 3)
           for name in QUERY_SETS},
    }
    out = {"machine": machine(), "ingest": ingest, "ingest_runs": runs, "latency": latency,
           "latency_rounds": per_round, "quality": quality, "ratios": ratios}

    print(f"{'':<10}{'ingest s':>10}{'RSS MB':>8}{'chunks':>8}{'q p50':>8}{'q p99':>8}"
          + "".join(f"{n + ' R@1/R@5':>20}" for n in QUERY_SETS))
    for side in ("ours", "ours_dense", "baseline"):
        q = quality[side]
        ing = ingest["ours" if side == "ours_dense" else side]
        print(f"{side:<10}{ing['wall_s']:>10}{ing['peak_rss_mb']:>8}"
              f"{ing['chunks']:>8}{latency[side]['p50_ms']:>8}{latency[side]['p99_ms']:>8}"
              + "".join(f"{q[n]['overall']['recall@1']:>13.3f}/{q[n]['overall']['recall@5']:.3f}"
                        for n in QUERY_SETS))
    for i, r in enumerate(per_round):
        print(f"round {i + 1}: p50 " + ", ".join(f"{s} {r[s]['p50_ms']}" for s in SIDES))
    print("ratios:", json.dumps(ratios))
    path = write_result("baseline", out, args.json)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
