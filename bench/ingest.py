"""Whole-corpus ingestion into Milvus Lite: cold, unchanged re-run, and a full re-check.

    .venv/bin/python -m bench.ingest [--repeat 1] [--json bench/results/ingest.json]
    .venv/bin/python -m bench.ingest --precision auto --precision int8 --eval \
        --json bench/results/ingest-int8.json

Each run is a fresh ``reportrag ingest --json`` process (imports, model load and Milvus Lite
start-up included, as a user sees it) into a temporary data directory; the model is the
one already built under ./data/models. Reports wall seconds, chunks/s and peak RSS.
``--precision`` (repeatable) sets REPORTRAG_PRECISION per cycle, the cycles taking turns;
``--eval`` then runs ``reportrag eval`` on the dev and extended sets against the collection
each cold run built (R@1 / R@5 of the default ``auto`` mode and of ``dense``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.common import REPO, machine, model_path, run_measured, write_result

SETS = {"dev": REPO / "eval" / "dev_queries.jsonl",
        "extended": REPO / "eval" / "queries_extended.jsonl"}

RUNS = (
    ("cold", []),  # empty collection: everything is chunked, embedded, written, aligned
    ("rerun", []),  # unchanged corpus: every document skipped by the checkpoint
    ("rerun_full", ["--full"]),  # unchanged, but every document re-chunked and compared
)


def _env(data: Path, precision: str | None) -> dict[str, str]:
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "REPORTRAG_DATA_DIR": str(data),
        "REPORTRAG_CORPUS_DIR": str(REPO / "corpus"),
        "REPORTRAG_MODEL": model_path(),
    }
    if precision is not None:
        env["REPORTRAG_PRECISION"] = precision
    return env


def _ingest(data: Path, extra: list[str], precision: str | None = None) -> dict[str, object]:
    exe = str(Path(sys.executable).with_name("reportrag"))
    run = run_measured([exe, "ingest", "--json", "--no-progress", *extra],
                       env=_env(data, precision))
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


def _evaluate(data: Path, precision: str | None) -> dict[str, object]:
    """R@1 / R@5 (overall) of both evaluation sets against the collection in ``data``."""
    exe = str(Path(sys.executable).with_name("reportrag"))
    out: dict[str, object] = {}
    for name, path in SETS.items():
        result = data / f"eval-{name}.json"
        run = run_measured([exe, "eval", str(path), "--json", str(result)],
                           env=_env(data, precision))
        if run.returncode != 0:
            raise SystemExit(f"reportrag eval failed ({run.returncode}): {run.stderr[-2000:]}")
        summary = json.loads(result.read_text(encoding="utf-8"))["summary"]
        out[name] = {mode: {k: round(summary[mode]["overall"][k], 4)
                            for k in ("n", "recall@1", "recall@5")}
                     for mode in ("auto", "dense") if mode in summary}
    return out


def _cycles(precisions: list[str | None], repeat: int, evaluate: bool) -> dict[str, Any]:
    """Per precision: each run's measurements (and the evaluation of its first cold run)."""
    results: dict[str, dict[str, Any]] = {
        str(p): {"runs": {name: [] for name, _ in RUNS}} for p in precisions}
    for _ in range(repeat):
        for precision in precisions:  # taking turns: a load change hits every precision
            data = Path(tempfile.mkdtemp(prefix="reportrag-bench-ingest-"))
            entry = results[str(precision)]
            try:
                for name, extra in RUNS:
                    entry["runs"][name].append(_ingest(data, extra, precision))
                if evaluate and "eval" not in entry:
                    entry["eval"] = _evaluate(data, precision)
            finally:
                shutil.rmtree(data, ignore_errors=True)
    for entry in results.values():
        entry["best"] = {name: min(rs, key=lambda r: r["wall_s"])
                         for name, rs in entry["runs"].items()}
    return results


def precision_table(d: dict[str, Any]) -> list[str]:
    """The table of a ``--precision ... --eval`` run (bench.tables "ingest-int8"): the cold
    ingestion per REPORTRAG_PRECISION, and the recall of the collection it built."""
    from bench.tables import _head, _machine, _row

    out = [_machine(d), "", *_head("REPORTRAG_PRECISION", "cold wall s:", "embedding s:",
                                   "chunks/s:", "chunks/s embedding:", "peak RSS MB:",
                                   "dev R@1 / R@5:", "extended R@1 / R@5:")]
    for name, p in d["precisions"].items():
        r, ev = p["best"]["cold"], {k: v["auto"] for k, v in p.get("eval", {}).items()}
        out.append(_row(name, r["wall_s"], r["embed_s"], r["chunks_per_s"],
                        round(r["chunks"] / r["embed_s"], 1), r["peak_rss_mb"],
                        *(f"{e['recall@1']:.3f} / {e['recall@5']:.3f}" if e else "-"
                          for e in (ev.get("dev"), ev.get("extended")))))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=1, help="cold+rerun cycles (best is kept)")
    ap.add_argument("--precision", action="append", default=None,
                    help="REPORTRAG_PRECISION of a cycle (repeatable; default: unset)")
    ap.add_argument("--eval", action="store_true", help="evaluate each cold run's collection")
    ap.add_argument("--json", type=Path, default=None, help="write the results here")
    args = ap.parse_args(argv)
    precisions: list[str | None] = args.precision or [None]
    out: dict[str, Any] = {"machine": machine()}  # the load average before the runs
    results = _cycles(precisions, args.repeat, args.eval)
    if len(results) == 1 and not args.eval:  # the plain run keeps its format (ingest.json)
        only = next(iter(results.values()))
        out.update(best=only["best"], runs=only["runs"])
    else:
        out["precisions"] = {p: {k: e[k] for k in ("best", "eval", "runs") if k in e}
                             for p, e in results.items()}
    for precision, entry in results.items():
        print(f"REPORTRAG_PRECISION={precision}")
        print(f"{'run':<12}{'wall s':>9}{'pipeline s':>12}{'embed s':>9}{'chunks':>8}"
              f"{'embedded':>10}{'chunks/s':>10}{'peak RSS MB':>13}")
        for name, r in entry["best"].items():
            print(f"{name:<12}{r['wall_s']:>9}{r['pipeline_s']:>12}{r['embed_s']:>9}"
                  f"{r['chunks']:>8}{r['embedded']:>10}{r['chunks_per_s']:>10}"
                  f"{r['peak_rss_mb']:>13}")
        if "eval" in entry:
            print(f"eval: {json.dumps(entry['eval'])}")
    out["loadavg_1m_end"] = round(os.getloadavg()[0], 2)  # a shared machine: at the end too
    path = write_result("ingest", out, args.json)
    print(f"wrote {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
