#!/usr/bin/env python3
"""Check the held-out query set eval/queries_extended.jsonl against the corpus (stdlib only).

For every query it verifies the line format, the category (``src>tgt``) and its language
fields, and that every ``gold.contains`` substring occurs in at least one corpus file of
language ``gold.lang`` -- comparing after Unicode NFKC and removing all whitespace, on both
sides, which is the rule the retrieval evaluation uses. It prints how many times each
substring occurs in the target-language files, the counts by category, and exits 1 on any
failure (0 when everything passes). Warnings (a substring that occurs very often, or that
is copied from the question itself) are printed but do not fail the check.

Usage:
    python3 eval/check_queries.py [QUERIES.jsonl] [--corpus DIR] [--dev DEV.jsonl] [-q]

Defaults: eval/queries_extended.jsonl and corpus/ next to this script's parent folder, and
eval/dev_queries.jsonl (the delivered dev set) to check for overlap (skipped when absent).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import unicodedata
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_QUERIES = ROOT / "eval" / "queries_extended.jsonl"
DEFAULT_CORPUS = ROOT / "corpus"
DEFAULT_DEV = ROOT / "eval" / "dev_queries.jsonl"

LANGS = ("en", "zh", "de")
# Minimum number of queries per category, and overall.
MIN_PER_CAT = {
    "en>en": 15,
    "zh>zh": 15,
    "en>zh": 15,
    "zh>en": 15,
    "de>de": 6,
    "en>de": 6,
    "de>en": 4,
    "zh>de": 3,
    "de>zh": 3,
}
MIN_TOTAL = 90
MIN_SUB_LEN, MAX_SUB_LEN = 2, 30
MAX_SUBS = 3
FREQUENT = 8  # a substring seen more often than this in the target language gets a warning
ID_RE = re.compile(r"^ext-\d{3}$")
CJK_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
DE_HINT = re.compile(
    r"\b(der|die|das|den|dem|des|ein|eine[nrsm]?|und|oder|ist|sind|wie|was|wer|"
    r"welche[nrsm]?|warum|wann|laut|nach|für|mit|von|bei|auf|aus|auch|sich|dass|"
    r"sein[e]?[nrsm]?|hat|haben|wird|werden|nicht|beim|zum|zur|im)\b|[äöüß]",
    re.IGNORECASE,
)
EN_HINT = re.compile(
    r"\b(the|what|which|who|how|why|when|does|did|is|are|were|of|and|"
    r"according|to|for|with|from|many|much)\b",
    re.IGNORECASE,
)


def norm(text: str) -> str:
    """NFKC, then every whitespace character removed (the evaluation's comparison rule)."""
    return "".join(unicodedata.normalize("NFKC", text).split())


def manifest_langs(corpus: Path) -> dict[str, str]:
    """file name -> lang from corpus/manifest.toml (tomllib when available, else a small parser)."""
    path = corpus / "manifest.toml"
    if not path.is_file():
        return {}
    text = path.read_text(encoding="utf-8")
    try:
        import tomllib  # Python 3.11+

        data = tomllib.loads(text)
        return {
            d["file"]: d["lang"] for d in data.get("documents", []) if "file" in d and "lang" in d
        }
    except ImportError:
        out: dict[str, str] = {}
        for block in text.split("[[documents]]")[1:]:
            f = re.search(r'^\s*file\s*=\s*"([^"]+)"', block, re.M)
            lg = re.search(r'^\s*lang\s*=\s*"([^"]+)"', block, re.M)
            if f and lg:
                out[f.group(1)] = lg.group(1)
        return out


def guess_lang(text: str) -> str:
    """Fallback for corpus files without a manifest entry: CJK share, then German hints."""
    sample = text[:20000]
    letters = sum(ch.isalpha() for ch in sample) or 1
    if len(CJK_RE.findall(sample)) / letters > 0.3:
        return "zh"
    return "de" if len(DE_HINT.findall(sample)) > len(EN_HINT.findall(sample)) else "en"


def load_corpus(corpus: Path) -> dict[str, list[tuple[str, str]]]:
    """lang -> [(file name, normalised text)] for every .txt file in the corpus folder."""
    langs = manifest_langs(corpus)
    by_lang: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for p in sorted(corpus.glob("*.txt")):
        raw = p.read_text(encoding="utf-8")
        by_lang[langs.get(p.name) or guess_lang(raw)].append((p.name, norm(raw)))
    return by_lang


def load_jsonl(path: Path) -> list[tuple[int, dict]]:
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            rows.append((n, json.loads(line)))
    return rows


def query_lang_ok(q: str, src: str) -> bool:
    """Loose check that the question is written in the source language."""
    has_cjk = bool(CJK_RE.search(q))
    if src == "zh":
        return has_cjk
    if has_cjk and len(CJK_RE.findall(q)) > 3:
        return False
    de, en = len(DE_HINT.findall(q)), len(EN_HINT.findall(q))
    return de > en if src == "de" else en >= de


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("queries", nargs="?", type=Path, default=DEFAULT_QUERIES)
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--dev", type=Path, default=DEFAULT_DEV)
    ap.add_argument(
        "-q", "--quiet", action="store_true", help="only the summary, warnings and errors"
    )
    args = ap.parse_args(argv)

    errors: list[str] = []
    warnings: list[str] = []
    corpus = load_corpus(args.corpus)
    if not corpus:
        print(f"FAIL: no corpus .txt files under {args.corpus}")
        return 1

    try:
        rows = load_jsonl(args.queries)
    except (OSError, ValueError) as exc:
        print(f"FAIL: cannot read {args.queries}: {exc}")
        return 1

    dev_q: set[str] = set()
    dev_gold: set[str] = set()
    if args.dev.is_file():
        for _, d in load_jsonl(args.dev):
            dev_q.add(norm(d.get("q", "")).lower())
            dev_gold.update(norm(s) for s in d.get("gold", {}).get("contains", []))

    by_cat: Counter[str] = Counter()
    seen_ids: set[str] = set()
    seen_q: set[str] = set()
    lines_out: list[str] = []
    for n, d in rows:
        where = f"line {n}"
        qid = d.get("id")
        if not isinstance(qid, str) or not ID_RE.match(qid):
            errors.append(f"{where}: id {qid!r} is not ext-NNN")
        elif qid in seen_ids:
            errors.append(f"{where}: duplicate id {qid}")
        seen_ids.add(str(qid))
        where = f"{qid} (line {n})"

        cat, q, lang, gold = d.get("cat"), d.get("q"), d.get("lang"), d.get("gold")
        if cat not in MIN_PER_CAT:
            errors.append(f"{where}: unknown cat {cat!r}")
            continue
        src, tgt = cat.split(">")
        by_cat[cat] += 1
        if not isinstance(q, str) or not q.strip():
            errors.append(f"{where}: empty question")
            continue
        if not query_lang_ok(q, src):
            warnings.append(f"{where}: question does not look like {src}: {q}")
        nq = norm(q).lower()
        if nq in seen_q:
            errors.append(f"{where}: duplicate question")
        if nq in dev_q:
            errors.append(f"{where}: question copies a dev-set question")
        seen_q.add(nq)
        if lang != [tgt]:
            errors.append(f"{where}: lang {lang!r} should be [{tgt!r}]")
        if not isinstance(gold, dict) or gold.get("lang") != tgt:
            errors.append(f"{where}: gold.lang should be {tgt!r}")
            continue
        subs = gold.get("contains")
        if not isinstance(subs, list) or not 1 <= len(subs) <= MAX_SUBS:
            errors.append(f"{where}: gold.contains must list 1-{MAX_SUBS} substrings")
            continue

        parts = []
        for s in subs:
            if not isinstance(s, str) or not MIN_SUB_LEN <= len(s) <= MAX_SUB_LEN:
                errors.append(
                    f"{where}: substring {s!r} must be {MIN_SUB_LEN}-{MAX_SUB_LEN} characters"
                )
                continue
            g = norm(s)
            if g in dev_gold:
                errors.append(f"{where}: substring {s!r} is a dev-set gold substring")
            per_file = {name: text.count(g) for name, text in corpus.get(tgt, [])}
            total = sum(per_file.values())
            if total == 0:
                errors.append(f"{where}: substring {s!r} not found in any {tgt} file")
            elif total > FREQUENT:
                warnings.append(
                    f"{where}: substring {s!r} occurs {total} times in {tgt} (not distinctive)"
                )
            if g.lower() in nq:
                warnings.append(f"{where}: substring {s!r} is copied from the question")
            hits = ", ".join(f"{name[:3]}:{c}" for name, c in per_file.items() if c)
            parts.append(f"{s!r}={total}" + (f" [{hits}]" if hits else ""))
        lines_out.append(f"{qid:8} {cat:6} " + "; ".join(parts))

    total_q = sum(by_cat.values())
    for cat, need in MIN_PER_CAT.items():
        if by_cat[cat] < need:
            errors.append(f"category {cat}: {by_cat[cat]} queries, need at least {need}")
    if total_q < MIN_TOTAL:
        errors.append(f"{total_q} queries in all, need at least {MIN_TOTAL}")

    if not args.quiet:
        print("gold substring occurrences in target-language files (total [file:count]):")
        for line in lines_out:
            print("  " + line)
        print()
    print("queries by category:")
    for cat in MIN_PER_CAT:
        print(f"  {cat:6} {by_cat[cat]:3}  (min {MIN_PER_CAT[cat]})")
    print(f"  {'total':6} {total_q:3}  (min {MIN_TOTAL})")
    for w in warnings:
        print("WARN: " + w)
    for e in errors:
        print("FAIL: " + e)
    print("OK" if not errors else f"{len(errors)} error(s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
