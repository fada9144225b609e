"""Sweep the ranking knobs on the evaluation sets: one table, every row against the default.

    .venv/bin/python -m bench.tuning [--json bench/results/tuning.json] [--mode auto]
                                     [--pairs-dev DIR]

Opens the ingested collection (settings from the environment, as ``reportrag eval``) once,
and runs both query sets through ``SearchService`` for each setting: the default, then one
knob moved at a time (``Tuning``: pivot hits, pivot candidates, BM25 and pivot weights in
the fusion; and ``candidates`` per ranking). Prints R@1 / R@5 / MRR@10 per set and how many
queries ranked better or worse than with the default; quality only, nothing here is timed.
Chunk size is not swept here: it needs a re-ingestion per size (bench/chunking.py).

``--pairs-dev DIR`` adds the real-documentation development set (``eval/pairs-dev``: 98
pages, 153 questions, may be tuned on), ingested with no manifest into the Milvus Lite data
directory DIR (ingested there first when DIR holds no database; kept for the next run).
``eval/realdocs`` is held out and never swept.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from bench.common import REPO, machine

SETS = {"dev": REPO / "eval" / "dev_queries.jsonl",
        "extended": REPO / "eval" / "queries_extended.jsonl"}
PAIRS_DEV = REPO / "eval" / "pairs-dev"


def variants(candidates: int) -> list[tuple[str, int, dict[str, Any]]]:
    """(label, candidates, Tuning overrides): the default first, then one knob at a time."""
    out: list[tuple[str, int, dict[str, Any]]] = [("default", candidates, {})]
    out += [(f"pivot_hits={n}", candidates, {"pivot_hits": n}) for n in (0, 1, 3, 5)]
    out += [(f"pivot_candidates={n}", candidates, {"pivot_candidates": n}) for n in (5, 20)]
    out += [(f"keyword_weight={w}", candidates, {"keyword_weight": w})
            for w in (0.5, 1.0, 1.5, 2.0)]
    out += [(f"pivot_weight={w}", candidates, {"pivot_weight": w}) for w in (0.5, 1.0, 2.0)]
    out += [(f"candidates={n}", n, {}) for n in (30, 60)]
    return out


def _ranks(result: dict[str, Any], mode: str) -> dict[str, int | None]:
    return {r["id"]: r["rank"] for r in result["per_query"][mode]}


def compare(base: dict[str, int | None], other: dict[str, int | None]) -> tuple[int, int]:
    """(queries ranked better, worse) than ``base``; a miss ranks below every hit."""
    def key(rank: int | None) -> int:
        return rank if rank is not None else 10**6
    better = sum(key(other[q]) < key(r) for q, r in base.items())
    worse = sum(key(other[q]) > key(r) for q, r in base.items())
    return better, worse


def quality_cells(row: dict[str, Any]) -> str:
    """A row's dev R@1/R@5/MRR and extended R@1/R@5/R@10/MRR, as the printed tables show them."""
    d, e = row["dev"]["summary"], row["extended"]["summary"]
    return (f"{d['recall@1']:6.3f}/{d['recall@5']:.3f}/{d['mrr@10']:.3f} "
            f"{e['recall@1']:9.3f}/{e['recall@5']:.3f}/{e['recall@10']:.3f}/{e['mrr@10']:.3f}")


def ingest_pairs_dev(data: Path) -> None:
    """Ingest eval/pairs-dev/docs (a copy, no manifest) into the data directory ``data``,
    unless it already holds a database."""
    if (data / "milvus.db").exists():
        return
    corpus = data / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    for f in sorted((PAIRS_DEV / "docs").iterdir()):
        shutil.copy(f, corpus / f.name)
    env = {**os.environ, "REPORTRAG_DATA_DIR": str(data), "REPORTRAG_CORPUS_DIR": str(corpus)}
    exe = str(Path(sys.executable).with_name("reportrag"))
    print(f"ingesting {PAIRS_DEV / 'docs'} into {data} ...", file=sys.stderr, flush=True)
    subprocess.run([exe, "ingest", "--no-progress"], env=env, check=True,
                   stdout=subprocess.DEVNULL)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--mode", default="auto")
    ap.add_argument("--pairs-dev", type=Path, metavar="DIR",
                    help="also sweep eval/pairs-dev, ingested into this data directory")
    args = ap.parse_args(argv)

    from reportrag.search.evaluate import load_queries
    from reportrag.search.run_eval import evaluate_modes
    from reportrag.search.service import SearchService, Tuning
    from reportrag.settings import get_settings
    from reportrag.wiring import embedder_from_settings, open_collection

    settings = get_settings()
    embedder = embedder_from_settings(settings)
    store = open_collection(settings, embedder)
    queries = {name: load_queries(path) for name, path in SETS.items()}
    stores = {name: store for name in SETS}
    if args.pairs_dev:
        ingest_pairs_dev(args.pairs_dev.resolve())
        dev_settings = settings.model_copy(update={"data_dir": args.pairs_dev.resolve()})
        stores["pairs-dev"] = open_collection(dev_settings, embedder)
        queries["pairs-dev"] = load_queries(PAIRS_DEV / "queries.jsonl")
    rows: list[dict[str, Any]] = []
    base: dict[str, dict[str, int | None]] = {}
    print(f"{'setting':22s} {'dev R@1/R@5/MRR':>20s} {'extended R@1/R@5/R@10/MRR':>28s} "
          f"{'ext better/worse':>17s}" + ("  pairs-dev R@1/R@5/MRR better/worse"
                                          if args.pairs_dev else ""))
    try:
        for label, candidates, overrides in variants(settings.search_candidates):
            tuning = replace(Tuning.from_settings(settings), **overrides)
            row: dict[str, Any] = {"setting": label, "candidates": candidates,
                                   "tuning": asdict(tuning)}
            for name, qs in queries.items():
                service = SearchService(embedder, stores[name], candidates=candidates,
                                        tuning=tuning)
                try:
                    res = evaluate_modes(service, qs, [args.mode])
                finally:
                    service.close()
                ranks = _ranks(res, args.mode)
                base.setdefault(name, ranks)
                better, worse = compare(base[name], ranks)
                row[name] = {"summary": res["summary"][args.mode]["overall"],
                             "cross": res["summary"][args.mode].get("cross"),
                             "better": better, "worse": worse}
            rows.append(row)
            extra = ""
            if "pairs-dev" in row:
                p = row["pairs-dev"]
                extra = (f"  {p['summary']['recall@1']:.3f}/{p['summary']['recall@5']:.3f}/"
                         f"{p['summary']['mrr@10']:.3f} {p['better']}/{p['worse']}")
            print(f"{label:22s} {quality_cells(row)} "
                  f"{row['extended']['better']:>8d}/{row['extended']['worse']}{extra}",
                  flush=True)
    finally:
        for st in {id(s): s for s in stores.values()}.values():
            st.close()
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), "mode": args.mode, "rows": rows},
                                        indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"wrote {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
