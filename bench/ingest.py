"""Whole-corpus ingestion into Milvus Lite: cold, unchanged re-run, and a full re-check.

    .venv/bin/python -m bench.ingest [--repeat 1] [--json bench/results/ingest.json]

Each run is a fresh ``reportrag ingest --json`` process (imports, model load and Milvus Lite
start-up included, as a user sees it) into a temporary data directory; the model is the
one already built under ./data/models. Reports wall seconds, chunks/s and peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from bench.common import REPO, machine, model_path, run_measured, write_result

RUNS = (
    ("cold", []),  # empty collection: everything is chunked, embedded, written, aligned
    ("rerun", []),  # unchanged corpus: every document skipped by the checkpoint
    ("rerun_full", ["--full"]),  # unchanged, but every document re-chunked and compared
)


def _ingest(data: Path, extra: list[str]) -> dict[str, object]:
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "REPORTRAG_DATA_DIR": str(data),
        "REPORTRAG_CORPUS_DIR": str(REPO / "corpus"),
        "REPORTRAG_MODEL": model_path(),
    }
    exe = str(Path(sys.executable).with_name("reportrag"))
    run = run_measured([exe, "ingest", "--json", "--no-progress", *extra], env=env)
    if run.returncode != 0:
        raise SystemExit(f"reportrag ingest failed ({run.returncode}): {run.stderr[-2000:]}")
    summary = json.loads(run.stdout.strip().splitlines()[-1])
    return {
        "wall_s": round(run.wall_s, 2),
        "pipeline_s": summary["seconds"],
        "embed_s": summary["embed_seconds"],
        "peak_rss_mb": round(run.peak_rss_mb),
        "chunks": summary["chunks"],
        "embedded": summary["embedded"],
        "skipped_documents": summary["skipped_documents"],
        "chunks_per_s": round(summary["chunks"] / run.wall_s, 1),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=1, help="cold+rerun cycles (best is kept)")
    ap.add_argument("--json", type=Path, default=None, help="write the results here")
    args = ap.parse_args(argv)
    results: dict[str, list[dict[str, object]]] = {name: [] for name, _ in RUNS}
    for _ in range(args.repeat):
        data = Path(tempfile.mkdtemp(prefix="reportrag-bench-ingest-"))
        try:
            for name, extra in RUNS:
                results[name].append(_ingest(data, extra))
        finally:
            shutil.rmtree(data, ignore_errors=True)
    best = {name: min(rs, key=lambda r: r["wall_s"]) for name, rs in results.items()}
    out = {"machine": machine(), "best": best, "runs": results}
    print(f"{'run':<12}{'wall s':>9}{'pipeline s':>12}{'embed s':>9}{'chunks':>8}"
          f"{'embedded':>10}{'chunks/s':>10}{'peak RSS MB':>13}")
    for name, r in best.items():
        print(f"{name:<12}{r['wall_s']:>9}{r['pipeline_s']:>12}{r['embed_s']:>9}{r['chunks']:>8}"
              f"{r['embedded']:>10}{r['chunks_per_s']:>10}{r['peak_rss_mb']:>13}")
    path = write_result("ingest", out, args.json)
    print(f"wrote {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
