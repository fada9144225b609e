"""Translation-pair detection without a manifest: precision, recall and margins.

    .venv/bin/python -m bench.pairs [--sets corpus realdocs dev] [--work DIR]
                                    [--json bench/results/pairs.json]

Each set's documents are copied into a fresh corpus folder with no manifest (nothing is
declared) and ingested the way ``reportrag ingest`` does (real model, Milvus Lite,
``run_ingest``), which detects and aligns the pairs. The truth then scores what the store
records (``/v1/documents``' ``translations``):

* ``corpus`` — corpus/00*.txt: the English (000) and Chinese (001) editions of the report
  are one pair; 002, 003 and 004 are unpaired articles.
* ``realdocs`` — eval/realdocs (held out; never used to choose a threshold): 67 pages of
  six documentation sites, ``pair_group`` in sources.tsv; every two pages of a group count
  as a true pair (22 pairs + 5 triples = 37).
* ``dev`` — eval/pairs-dev (the calibration set, committed with its sources and licences):
  98 pages, 51 true pairs. A set whose documents are missing is skipped.

Besides precision and recall it prints the detector's margins: the lowest score of a true
pair and the highest of a false candidate (the threshold is 0.5), the run time of the
detection (loading every chunk and vector from the store, then scoring), and how the
detected pairs aligned at chunk level. Detection never sees file names: doc ids are only
labels to it (tests/test_pairs.py renames documents to check that).

``--work DIR`` keeps each set's Milvus Lite database under DIR/<set>/, so that a second run
embeds nothing (ingestion is idempotent) and only detection and alignment run again.
"""

from __future__ import annotations

import argparse
import csv
import logging
import shutil
import tempfile
import time
from itertools import combinations
from pathlib import Path
from typing import Any

from bench.common import machine, write_result

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results" / "pairs.json"
SETS = ("corpus", "realdocs", "dev")
_FOLDER = {"realdocs": "realdocs", "dev": "pairs-dev"}  # under eval/
COLLECTION = "t_pairs"


def _truth_files(name: str) -> tuple[list[Path], set[frozenset[str]]]:
    """The set's files and its true pairs (as file-name pairs)."""
    if name == "corpus":
        files = sorted((REPO / "corpus").glob("00*.txt"))
        return files, {frozenset({"000_a4d6d44b88908d33.txt", "001_01d7e7f86c812082.txt"})}
    root = REPO / "eval" / _FOLDER[name]
    with (root / "sources.tsv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    groups: dict[str, list[str]] = {}
    for r in rows:
        if r["pair_group"]:
            groups.setdefault(r["pair_group"], []).append(r["file"])
    truth = {frozenset(p) for files in groups.values() for p in combinations(sorted(files), 2)}
    return [root / "docs" / r["file"] for r in rows], truth


def run_set(name: str, work: Path, embedder) -> dict[str, Any]:
    from reportrag.ingest.corpus import discover
    from reportrag.ingest.pairmodel import DocumentSample, document_language
    from reportrag.ingest.pairs import detect_translations
    from reportrag.ingest.pipeline import run_ingest
    from reportrag.ingest.translations import load_documents
    from reportrag.langid import LanguageDetector
    from reportrag.store import MilvusStore

    files, truth_files = _truth_files(name)
    corpus = work / name / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    for f in files:
        shutil.copy(f, corpus / f.name)
    docs = discover(corpus)
    file_of = {d.doc_id: Path(d.path).name for d in docs}
    doc_of = {v: k for k, v in file_of.items()}
    truth = {tuple(sorted(doc_of[f] for f in pair)) for pair in truth_files}

    store = MilvusStore(str(work / name / "milvus.db"), COLLECTION, embedder.dim, timeout=60.0)
    store.connect()
    try:
        store.ensure_collection(embedder.fingerprint())
        started = time.perf_counter()
        summary = run_ingest(
            docs, embedder=embedder, store=store, detector=LanguageDetector(),
            chunk_tokens=320, overlap_tokens=48, progress=False, prune_doc_ids=True,
        )
        ingest_s = time.perf_counter() - started
        recorded = {d["doc_id"]: d["translations"] for d in store.documents()}
        # The same detection once more, to read its evidence and time it alone.
        started = time.perf_counter()
        loaded = load_documents(store)
        load_s = time.perf_counter() - started
    finally:
        store.close()
    samples = [DocumentSample(d, document_language(cs), cs, vs) for d, (cs, vs) in
               sorted(loaded.items())]
    detection = detect_translations(samples)

    found = {
        tuple(sorted((d, t["doc_id"]))) for d, ts in recorded.items() for t in ts
    }
    tp, fp, fn = found & truth, sorted(found - truth), sorted(truth - found)
    scores = {(e.a, e.b): e for e in detection.evidence}
    true_scores = sorted((scores[k].score, k) for k in truth if k in scores)
    false_scores = sorted(((e.score, k) for k, e in scores.items() if k not in truth),
                          reverse=True)
    alignments = [a for a in summary.alignments if a["source"] == "detected"]
    chunks = sum(len(cs) for cs, _ in loaded.values())

    def show(score_key: tuple[float, tuple[str, str]]) -> dict[str, Any]:
        score, (a, b) = score_key
        e = scores[(a, b)]
        return {"pair": [file_of.get(a, a), file_of.get(b, b)], "score": score,
                "votes": e.votes, "chance": e.chance, "coverage": e.coverage}

    return {
        "documents": len(docs),
        "chunks": chunks,
        "languages": dict(sorted(_count(s.lang for s in samples).items())),
        "true_pairs": len(truth),
        "found_pairs": len(found),
        "true_positives": len(tp),
        "precision": round(len(tp) / len(found), 4) if found else 1.0,
        "recall": round(len(tp) / len(truth), 4) if truth else 1.0,
        "false_pairs": [[file_of.get(x, x) for x in p] for p in fp],
        "missed_pairs": [[file_of.get(x, x) for x in p] for p in fn],
        "candidates_verified": detection.candidates,
        "lowest_true_scores": [show(s) for s in true_scores[:3]],
        "highest_false_scores": [show(s) for s in false_scores[:3]],
        "margin": round(true_scores[0][0] - false_scores[0][0], 4)
        if true_scores and false_scores else None,
        "true_pairs_not_candidates": [[file_of[x] for x in k] for k in sorted(truth)
                                      if k not in scores],
        "detection_seconds": {"load_from_store": round(load_s, 3),
                              "score": detection.seconds, **detection.stage_seconds},
        "ingest": {"seconds": round(ingest_s, 1), "embedded": summary.embedded,
                   "detection_in_ingest": summary.translation_detection},
        "detected_alignments": {
            "pairs": len(alignments),
            "with_links": sum(1 for a in alignments if a["links"]),
            "median_links": sorted(a["links"] for a in alignments)[len(alignments) // 2]
            if alignments else 0,
            "fewer_than_3_links": [[file_of.get(a["src_doc"]), file_of.get(a["tgt_doc"]),
                                    a["links"]] for a in alignments if a["links"] < 3],
        },
    }


def _count(items) -> dict[str, int]:
    out: dict[str, int] = {}
    for x in items:
        out[x] = out.get(x, 0) + 1
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", nargs="+", choices=SETS, default=list(SETS))
    ap.add_argument("--work", type=Path, help="keep the databases here (default: a temp dir)")
    ap.add_argument("--json", type=Path, default=RESULTS)
    ap.add_argument("--models", type=Path, default=REPO / ".cache" / "test-models")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from reportrag.embedding import load_embedder
    from reportrag.ingest.pairmodel import DEFAULT_PAIR_PARAMS

    embedder = load_embedder("intfloat/multilingual-e5-small", models_dir=args.models)
    result: dict[str, Any] = {
        "command": ".venv/bin/python -m bench.pairs --sets " + " ".join(args.sets),
        "machine": machine(),
        "threshold": DEFAULT_PAIR_PARAMS.threshold,
        "sets": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        for name in args.sets:
            if name != "corpus" and not (REPO / "eval" / _FOLDER[name] / "docs").is_dir():
                print(f"{name}: eval/{_FOLDER[name]}/docs is missing, skipped")
                continue
            res = run_set(name, work, embedder)
            result["sets"][name] = res
            print(
                f"{name}: {res['documents']} docs, {res['true_pairs']} true pairs: found "
                f"{res['found_pairs']}, precision {res['precision']:.3f}, recall "
                f"{res['recall']:.3f}; lowest true score "
                f"{res['lowest_true_scores'][0]['score'] if res['lowest_true_scores'] else '-'}"
                f", highest false "
                f"{res['highest_false_scores'][0]['score'] if res['highest_false_scores'] else '-'}"
                f" (threshold 0.5); detection {res['detection_seconds']['score']:.2f} s "
                f"+ {res['detection_seconds']['load_from_store']:.2f} s reading the store"
            )
            for p in res["false_pairs"]:
                print(f"  FALSE PAIR {p}")
            for p in res["missed_pairs"]:
                print(f"  MISSED {p}")
    print(f"wrote {write_result('pairs', result, args.json)}")


if __name__ == "__main__":
    main()
