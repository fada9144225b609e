"""Chunk size against retrieval quality: the corpus re-ingested per setting, both sets evaluated.

    .venv/bin/python -m bench.chunking [--sizes 200:32,256:40,320:48,400:64,512:80]
                                       [--mode auto] [--json bench/results/chunking.json]

For each ``TOKENS:OVERLAP`` a fresh ``reportrag ingest --json`` (cold, into a temporary data
directory, with the model already built under ./data/models) and ``reportrag eval`` on the dev
and extended sets, both as separate processes with REPORTRAG_CHUNK_TOKENS and
REPORTRAG_CHUNK_OVERLAP_TOKENS set, so a row is what an operator gets with those settings.
Prints chunks, ingest wall time and R@1 / R@5 / MRR@10 per set, and how many queries ranked
better or worse than at the default size. The ingest times are a by-product (one cold run
each); quality is the point.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.common import REPO, machine, model_path, run_measured
from bench.tuning import SETS, compare, quality_cells

DEFAULT_SIZES = "200:32,256:40,320:48,400:64,512:80"


def parse_sizes(text: str) -> list[tuple[int, int]]:
    """``"200:32,320:48"`` -> [(200, 32), (320, 48)]; overlap must be under the size."""
    out = []
    for part in text.split(","):
        m = re.fullmatch(r"([0-9]{1,5}):([0-9]{1,5})", part.strip())
        if m is None:
            raise ValueError(f"--sizes: {part!r} is not TOKENS:OVERLAP (two whole numbers)")
        size = (int(m[1]), int(m[2]))
        if size[0] < 32 or size[1] >= size[0]:
            raise ValueError(f"--sizes: {part!r} needs TOKENS >= 32 and OVERLAP < TOKENS")
        out.append(size)
    if len(set(out)) != len(out):
        raise ValueError("--sizes: a size is listed twice")
    return out


def _run(args: list[str], env: dict[str, str], what: str) -> tuple[str, float]:
    exe = str(Path(sys.executable).with_name("reportrag"))
    run = run_measured([exe, *args], env=env)
    if run.returncode != 0:
        raise SystemExit(f"{what} failed ({run.returncode}): {run.stderr[-2000:]}")
    return run.stdout, run.wall_s


def measure(tokens: int, overlap: int, work: Path, mode: str) -> dict[str, Any]:
    """Ingest at one size into ``work`` and evaluate both sets there."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("REPORTRAG_")},
        "HF_HUB_OFFLINE": "1",
        "REPORTRAG_DATA_DIR": str(work),
        "REPORTRAG_CORPUS_DIR": str(REPO / "corpus"),
        "REPORTRAG_MODEL": model_path(),
        "REPORTRAG_CHUNK_TOKENS": str(tokens),
        "REPORTRAG_CHUNK_OVERLAP_TOKENS": str(overlap),
    }
    out, wall = _run(["ingest", "--json", "--no-progress"], env, "reportrag ingest")
    summary = json.loads(out.strip().splitlines()[-1])
    row: dict[str, Any] = {"tokens": tokens, "overlap": overlap, "chunks": summary["chunks"],
                           "ingest_wall_s": round(wall, 2)}
    for name, path in SETS.items():
        result = work / f"eval-{name}.json"
        _run(["eval", str(path), "--modes", mode, "--json", str(result)], env, "reportrag eval")
        res = json.loads(result.read_text(encoding="utf-8"))
        row[name] = {"summary": res["summary"][mode]["overall"],
                     "cross": res["summary"][mode].get("cross"),
                     "ranks": {r["id"]: r["rank"] for r in res["per_query"][mode]}}
    return row


def add_comparison(rows: list[dict[str, Any]], default: tuple[int, int]) -> None:
    """Each row's better/worse query counts per set against the row at ``default`` (None
    when the default size was not measured)."""
    base = next((r for r in rows if (r["tokens"], r["overlap"]) == default), None)
    for row in rows:
        for name in SETS:
            better, worse = (compare(base[name]["ranks"], row[name]["ranks"]) if base
                             else (None, None))
            row[name]["better"], row[name]["worse"] = better, worse


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default=DEFAULT_SIZES,
                    help="TOKENS:OVERLAP,... (default %(default)s)")
    ap.add_argument("--mode", default="auto")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    try:
        sizes = parse_sizes(args.sizes)
    except ValueError as e:
        print(f"bench.chunking: {e}", file=sys.stderr)
        return 2

    from reportrag.settings import Settings

    fields = Settings.model_fields
    default = (int(fields["chunk_tokens"].default), int(fields["chunk_overlap_tokens"].default))
    rows = []
    print(f"{'tokens:overlap':>15s} {'chunks':>6s} {'ingest s':>8s} {'dev R@1/R@5/MRR':>20s} "
          f"{'extended R@1/R@5/R@10/MRR':>28s}", flush=True)
    for tokens, overlap in sizes:
        work = Path(tempfile.mkdtemp(prefix=f"reportrag-chunking-{tokens}-"))
        try:
            row = measure(tokens, overlap, work, args.mode)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        rows.append(row)
        print(f"{tokens:>9d}:{overlap:<5d} {row['chunks']:>6d} {row['ingest_wall_s']:>8.1f} "
              f"{quality_cells(row)}", flush=True)
    add_comparison(rows, default)
    if args.json:
        data = {"machine": machine(), "mode": args.mode, "default": list(default), "rows": rows}
        args.json.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n",
                             encoding="utf-8")
        print(f"wrote {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
