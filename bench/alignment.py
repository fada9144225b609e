"""Passage-alignment quality on the hand-built EN/ZH gold set (tests/data/gold_alignment.jsonl).

    .venv/bin/python -m bench.alignment [--json bench/results/alignment.json]

Chunks 000 (English) and 001 (Chinese) the way ingestion does (``prepare_document`` with the
production chunk sizes), embeds them with the real model, aligns them with
:func:`reportrag.ingest.align.align_pair` and scores the links against the gold pairs.

How a gold pair is scored. Its **gold chunks** on each side are the chunks whose raw span
``[char_start, char_end)`` overlaps the gold substring's raw span (``raw.find(substring)``):
the chunk that contains it, or both chunks when it straddles a boundary (or lies in the
overlap two neighbours share).

* **Recall**: the fraction of gold pairs for which some link (confidence ≥ threshold)
  joins an EN gold chunk to a ZH gold chunk.
* **Precision**: over every link that leaves an EN gold chunk (and, the other way round,
  every link that leaves a ZH gold chunk), the fraction whose other end is a gold chunk of
  the same pair *or its immediate neighbour* (ordinal ± 1). The tolerance is there because
  chunk boundaries fall in different places in the two languages and consecutive chunks
  share 48 tokens: a sentence at the end of EN chunk i may sit at the start of ZH chunk
  j+1, so a link i → j is a correct link for the chunk even when the gold sentence itself
  is in j+1. A link two or more chunks away cannot overlap the gold passage and counts as
  wrong. A link is judged once per gold pair at its end, so a long chunk holding several
  gold sentences is judged against each of them (strictly: a link that is right for one
  sentence of the chunk can be wrong for another).

Micro-averaged over all pairs, and per gold ``kind``, at several thresholds. The run also
prints a reliability table (precision of the links in each confidence bin, with the links
of unrelated pairs counted as wrong), the confidences an unrelated pair (002 English article
vs 004 Chinese article) gets, and the time ``align_pair`` takes on the 174 × 147 pair.

Each pair is aligned as ingestion aligns it: against a background of the other corpus
documents' passages in its two languages (``pairalign.Backgrounds``: for 000/001 the English
article 002 and the Chinese 004, for 002/004 the report editions). ``--no-background``
aligns the pairs alone, as ingestion did before.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from reportrag.ingest.align import Alignment, Background, align_pair
from reportrag.ingest.corpus import discover
from reportrag.ingest.pairalign import Backgrounds
from reportrag.ingest.pipeline import prepare_document
from reportrag.langid import LanguageDetector
from reportrag.settings import Settings
from reportrag.types import Chunk

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "corpus"
GOLD = REPO / "tests" / "data" / "gold_alignment.jsonl"
RESULTS = REPO / "bench" / "results" / "alignment.json"
EN_FILE, ZH_FILE = "000_a4d6d44b88908d33.txt", "001_01d7e7f86c812082.txt"
UNRELATED_FILES = ("002_e3e1792454d159ff.txt", "004_17b3d39a7c38cc16.txt")
THRESHOLDS = (0.3, 0.5, 0.7, 0.9)
BINS = (0.0, 0.3, 0.5, 0.7, 0.9, 1.01)


@dataclass(frozen=True)
class GoldPair:
    """One hand-aligned EN/ZH passage pair."""

    id: str
    en: str
    zh: str
    kind: str


@dataclass
class Side:
    """One document chunked and embedded as ingestion would, with its raw text."""

    doc_id: str
    raw: str
    chunks: list[Chunk]
    vecs: np.ndarray


def load_gold(path: Path = GOLD) -> list[GoldPair]:
    """The gold pairs, in file order."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return [GoldPair(r["id"], r["en"], r["zh"], r["kind"]) for r in rows]


def prepare_side(file_name: str, embedder: Any, corpus: Path = CORPUS) -> Side:
    """Chunk (production sizes) and embed one corpus file."""
    # the production defaults, not this machine's environment
    defaults = Settings.model_fields
    meta = next(d for d in discover(corpus) if Path(d.path).name == file_name)
    meta, chunks = prepare_document(
        meta,
        embedder=embedder,
        detector=LanguageDetector(),
        chunk_tokens=int(defaults["chunk_tokens"].default),
        overlap_tokens=int(defaults["chunk_overlap_tokens"].default),
    )
    vecs = np.asarray(embedder.embed_documents([c.text for c in chunks]), dtype=np.float32)
    raw = Path(meta.path).read_text(encoding="utf-8")
    return Side(meta.doc_id, raw, chunks, vecs)


def gold_chunks(side: Side, passage: str) -> set[int]:
    """Ordinals of the chunks whose raw span overlaps ``passage``'s."""
    start = side.raw.find(passage)
    if start < 0:
        raise ValueError(f"gold passage not in {side.doc_id}: {passage[:40]!r}")
    end = start + len(passage)
    return {c.ordinal for c in side.chunks if c.char_start < end and start < c.char_end}


def _link_ordinals(alignment: Alignment, threshold: float) -> list[tuple[int, int, float]]:
    return [
        (alignment.src[lk.src].ordinal, alignment.tgt[lk.tgt].ordinal, lk.confidence)
        for lk in alignment.links
        if lk.confidence >= threshold
    ]


def _judged_links(
    alignment: Alignment, en: Side, zh: Side, gold: list[GoldPair], threshold: float
) -> list[tuple[GoldPair, bool, list[tuple[float, bool]]]]:
    """Per gold pair: recalled?, and (confidence, correct) for each link leaving its chunks."""
    links = _link_ordinals(alignment, threshold)
    out = []
    for g in gold:
        ge, gz = gold_chunks(en, g.en), gold_chunks(zh, g.zh)
        near_e = {x + d for x in ge for d in (-1, 0, 1)}
        near_z = {x + d for x in gz for d in (-1, 0, 1)}
        recalled = any(i in ge and j in gz for i, j, _ in links)
        judged = [(c, j in near_z) for i, j, c in links if i in ge]
        judged += [(c, i in near_e) for i, j, c in links if j in gz]
        out.append((g, recalled, judged))
    return out


def score_gold(
    alignment: Alignment, en: Side, zh: Side, gold: list[GoldPair], threshold: float
) -> dict[str, Any]:
    """Recall and precision overall and per gold kind at ``threshold``."""
    tally: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # hit, pairs, good, links
    for g, recalled, judged in _judged_links(alignment, en, zh, gold, threshold):
        for key in ("all", g.kind):
            t = tally[key]
            t[0] += recalled
            t[1] += 1
            t[2] += sum(ok for _, ok in judged)
            t[3] += len(judged)

    def ratio(a: int, b: int) -> float:
        return round(a / b, 4) if b else 1.0

    rows = {
        k: {"recall": ratio(t[0], t[1]), "precision": ratio(t[2], t[3]), "pairs": t[1]}
        for k, t in tally.items()
    }
    return {"threshold": threshold, **rows.pop("all"), "per_kind": rows}


def reliability(
    alignment: Alignment, en: Side, zh: Side, gold: list[GoldPair], unrelated: Alignment
) -> list[dict[str, Any]]:
    """Precision of gold-judged links per confidence bin (unrelated-pair links count wrong)."""
    judged = [x for _, _, js in _judged_links(alignment, en, zh, gold, 0.0) for x in js]
    judged += [(lk.confidence, False) for lk in unrelated.links]
    rows = []
    for lo, hi in zip(BINS, BINS[1:], strict=False):
        inside = [ok for c, ok in judged if lo <= c < hi]
        rows.append(
            {
                "bin": f"[{lo:.1f}, {min(hi, 1.0):.1f}{']' if hi > 1 else ')'}",
                "links": len(inside),
                "precision": round(sum(inside) / len(inside), 3) if inside else None,
            }
        )
    return rows


def time_align(en: Side, zh: Side, background: Background | None, repeats: int = 5) -> float:
    """Median wall time of ``align_pair`` on the pair, in seconds."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        align_pair(en.chunks, en.vecs, zh.chunks, zh.vecs, background=background)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def backgrounds(sides: list[Side]) -> Backgrounds:
    """The passages ingestion would measure a pair against (every side, by language)."""
    loaded = {s.doc_id: (s.chunks, s.vecs) for s in sides}
    return Backgrounds(loaded, {s.doc_id: s.chunks[0].doc_lang for s in sides})


def run_gold(en: Side, zh: Side, thresholds: tuple[float, ...] = THRESHOLDS,
             background: Background | None = None) -> dict[str, Any]:
    """Align the gold pair and score it at each threshold."""
    gold = load_gold()
    alignment = align_pair(en.chunks, en.vecs, zh.chunks, zh.vecs, background=background)
    src_linked, tgt_linked = alignment.linked_fraction
    return {
        "chunks": {"en": len(en.chunks), "zh": len(zh.chunks)},
        "gold_pairs": len(gold),
        "beads": len(alignment.pairs),
        "links": len(alignment.links),
        "secondary_links": sum(not lk.primary for lk in alignment.links),
        "linked_fraction": {"en": round(src_linked, 3), "zh": round(tgt_linked, 3)},
        "mean_confidence": round(alignment.mean_confidence, 3),
        "scores": [score_gold(alignment, en, zh, gold, t) for t in thresholds],
        "_alignment": alignment,
    }


def run(embedder: Any, *, background: bool = True) -> dict[str, Any]:
    """Everything the bench reports, as a JSON-ready dict."""
    en, zh = prepare_side(EN_FILE, embedder), prepare_side(ZH_FILE, embedder)
    a, b = (prepare_side(f, embedder) for f in UNRELATED_FILES)
    samples = backgrounds([en, zh, a, b]) if background else None
    gold_bg = samples.for_pair(en.doc_id, "en", zh.doc_id, "zh") if samples else None
    other_bg = samples.for_pair(a.doc_id, "en", b.doc_id, "zh") if samples else None
    result = {"background": background, **run_gold(en, zh, background=gold_bg)}
    alignment = result.pop("_alignment")
    unrelated = align_pair(a.chunks, a.vecs, b.chunks, b.vecs, background=other_bg)
    result["unrelated_002_004"] = {
        "beads": len(unrelated.pairs),
        "mean_confidence": round(unrelated.mean_confidence, 3),
        "max_confidence": max((lk.confidence for lk in unrelated.links), default=0.0),
        "links_at_0.5": sum(lk.confidence >= 0.5 for lk in unrelated.links),
    }
    result["reliability"] = reliability(alignment, en, zh, load_gold(), unrelated)
    result["align_pair_seconds"] = round(time_align(en, zh, gold_bg), 4)
    return result


def _print(result: dict[str, Any]) -> None:
    print(
        f"EN {result['chunks']['en']} × ZH {result['chunks']['zh']} chunks, "
        f"{result['gold_pairs']} gold pairs; {result['beads']} beads, {result['links']} links "
        f"({result['secondary_links']} secondary); linked EN {result['linked_fraction']['en']:.3f}"
        f" ZH {result['linked_fraction']['zh']:.3f}; mean confidence "
        f"{result['mean_confidence']:.3f}; align_pair {result['align_pair_seconds'] * 1000:.0f} ms"
    )
    print(f"{'threshold':>9} {'kind':<10} {'pairs':>5} {'recall':>7} {'precision':>9}")
    for s in result["scores"]:
        rows = [("all", s), *sorted(s["per_kind"].items())]
        for kind, r in rows:
            print(
                f"{s['threshold']:>9.2f} {kind:<10} {r['pairs']:>5} "
                f"{r['recall']:>7.3f} {r['precision']:>9.3f}"
            )
    print("reliability (gold-judged links + unrelated-pair links):")
    for r in result["reliability"]:
        p = "-" if r["precision"] is None else f"{r['precision']:.3f}"
        print(f"  {r['bin']:<11} {r['links']:>4} links  precision {p}")
    u = result["unrelated_002_004"]
    print(
        f"unrelated 002 vs 004: {u['beads']} beads, mean confidence {u['mean_confidence']:.3f},"
        f" max {u['max_confidence']:.3f}, {u['links_at_0.5']} links ≥ 0.5"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", type=Path, default=RESULTS)
    ap.add_argument("--no-background", action="store_true",
                    help="align each pair alone (no passages of other documents)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from reportrag.embedding import load_embedder

    models = Path(os.environ.get("REPORTRAG_TEST_MODELS_DIR", REPO / ".cache" / "test-models"))
    embedder = load_embedder("intfloat/multilingual-e5-small", models_dir=models)
    embedder.warm_up()
    result = run(embedder, background=not args.no_background)
    _print(result)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", "utf-8")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
