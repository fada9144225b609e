"""Retrieval on real documentation it has never seen, ingested with no manifest, side by side
with the usual LangChain pipeline on the same files.

    .venv/bin/python -m bench.realdocs [--json OUT.json] [--no-baseline]

The documents are ``eval/realdocs/docs`` (67 pages in en/zh/de, held out: never tuned on) and
the questions ``eval/realdocs/queries.jsonl`` (250). reportrag ingests the folder as a user
would, without a manifest: it finds languages, titles and translation pairs itself. The
baseline (``bench/langchain_pipeline.py``) is given each file's true language from
``eval/realdocs/sources.tsv`` so that its language filter can work at all: it is the better
informed side. Both are judged by the same rules (``search/evaluate.py``, with ``gold.doc``:
the answer must come from the right document). Also measured: ingest wall time, chunks/s and
peak RSS of a fresh ``reportrag ingest`` process.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.baseline import _env, _json_out, ensure_baseline_venv
from bench.common import REPO, machine, model_path, run_measured, write_result
from reportrag.search.evaluate import QueryResult, first_relevant_rank, load_queries, summarize
from reportrag.types import Chunk

SET = REPO / "eval" / "realdocs"
QUERIES = SET / "queries.jsonl"
MODES = ("auto", "hybrid", "dense")


def _copy_docs(dest: Path) -> Path:
    dest.mkdir(parents=True)
    for f in sorted((SET / "docs").iterdir()):
        shutil.copy(f, dest / f.name)
    return dest


def ingest_ours(work: Path) -> dict[str, Any]:
    corpus = _copy_docs(work / "corpus")
    env = {**_env(work / "ours"), "REPORTRAG_CORPUS_DIR": str(corpus)}
    exe = str(Path(sys.executable).with_name("reportrag"))
    run = run_measured([exe, "ingest", "--json", "--no-progress"], env=env)
    summary = _json_out(run, "reportrag ingest")
    return {
        "wall_s": round(run.wall_s, 2), "peak_rss_mb": round(run.peak_rss_mb),
        "documents": summary["documents"], "chunks": summary["chunks"],
        "pipeline_s": summary["seconds"], "embed_s": summary["embed_seconds"],
        "chunks_per_s": round(summary["chunks"] / max(summary["seconds"], 1e-9), 2),
        "alignments": [{k: a[k] for k in ("src_doc", "tgt_doc", "links", "mean_confidence")}
                       for a in summary["alignments"]],
    }


def eval_ours(work: Path) -> dict[str, Any]:
    env = {**_env(work / "ours"), "REPORTRAG_CORPUS_DIR": str(work / "corpus")}
    exe = str(Path(sys.executable).with_name("reportrag"))
    out = work / "eval-ours.json"
    run = subprocess.run([exe, "eval", str(QUERIES), "--modes", ",".join(MODES), "--json",
                          str(out)], env=env, capture_output=True, text=True)
    if run.returncode != 0:
        raise SystemExit(f"reportrag eval failed: {run.stderr[-3000:]}")
    return json.loads(out.read_text(encoding="utf-8"))["summary"]


def _baseline_corpus(work: Path) -> Path:
    corpus = _copy_docs(work / "lc-corpus")
    with (SET / "sources.tsv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    entries = [f'[[documents]]\nfile = "{r["file"]}"\nlang = "{r["lang"]}"\n' for r in rows]
    (corpus / "manifest.toml").write_text("\n".join(entries), encoding="utf-8")
    return corpus


def run_baseline(work: Path) -> dict[str, Any]:
    py = ensure_baseline_venv()
    corpus = _baseline_corpus(work)
    db = work / "baseline" / "langchain.db"
    db.parent.mkdir()
    base = [str(py), "-P", str(REPO / "bench" / "langchain_pipeline.py")]
    args = ["--db", str(db), "--model", model_path(), "--corpus", str(corpus)]
    env = _env(work / "baseline")
    ing = run_measured([*base, "ingest", *args], env=env)
    ingest = _json_out(ing, "baseline ingest")
    answers = _json_out(run_measured([*base, "query", *args, "--queries", str(QUERIES)],
                                     env=env), "baseline queries")["queries"]
    return {"ingest": {"wall_s": round(ing.wall_s, 2), "peak_rss_mb": round(ing.peak_rss_mb),
                       "chunks": ingest["chunks"], "pipeline_s": ingest["pipeline_s"]},
            "quality": judge_baseline(answers)}


def judge_baseline(answers: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """The baseline's hits judged by reportrag's rules (gold language, document, substring)."""
    by_id = {a["id"]: a for a in answers}
    results = []
    for q in load_queries(QUERIES):
        hits = by_id[q.id]["hits"]
        chunks = [Chunk(chunk_id=str(i), doc_id=Path(h["source"]).stem, title="", lang=h["lang"],
                        kind="", date="", section="", ordinal=i, text=h["text"], token_count=0,
                        char_start=0, char_end=0, content_hash="") for i, h in enumerate(hits)]
        edges = {c.chunk_id: (h["prev"], h["next"]) for c, h in zip(chunks, hits, strict=True)}
        rank = first_relevant_rank(q, chunks, lambda c, e=edges: e[c.chunk_id])
        results.append(QueryResult(q, rank))
    return summarize(results)


def _row(q: dict[str, dict[str, float]], cat: str) -> str:
    r = q.get(cat)
    return f"{r['recall@1']:.3f}/{r['recall@5']:.3f}" if r else "-"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--no-baseline", action="store_true", help="reportrag only")
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="reportrag-bench-realdocs-"))
    try:
        ingest = ingest_ours(work)
        quality = eval_ours(work)
        baseline = None if args.no_baseline else run_baseline(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    cats = ["overall", "mono", "cross", "en>en", "zh>zh", "en>zh", "zh>en", "de>*"]
    sides = {f"reportrag {m}": quality[m] for m in MODES}
    if baseline is not None:
        sides["langchain"] = baseline["quality"]
    print(f"{'R@1/R@5':<18}" + "".join(f"{c:>14}" for c in cats))
    for name, q in sides.items():
        print(f"{name:<18}" + "".join(f"{_row(q, c):>14}" for c in cats))
    print(f"ingest: {ingest['documents']} documents, {ingest['chunks']} chunks in "
          f"{ingest['pipeline_s']} s ({ingest['chunks_per_s']} chunks/s; wall {ingest['wall_s']} "
          f"s, peak RSS {ingest['peak_rss_mb']} MB); {len(ingest['alignments'])} pairs aligned")
    out = {"machine": machine(), "ingest": ingest, "quality": quality, "baseline": baseline}
    path = write_result("realdocs", out, args.json)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
