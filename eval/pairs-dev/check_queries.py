#!/usr/bin/env python3
"""Check eval/pairs-dev/queries.jsonl (the pairs-dev *development* query set). Stdlib only.

    python eval/pairs-dev/check_queries.py [--queries PATH] [--docs DIR] [--sources PATH]

Verifies, for every line of queries.jsonl:

* format: ``{"id": "pd-NNN", "cat": "src>tgt", "q": ..., "lang": [tgt],
  "gold": {"lang": tgt, "contains": [1-3 strings], "doc": <file in docs/>}}``, unique ids,
  ``gold.doc`` listed in sources.tsv with language ``tgt``, the question written in ``src``
  (CJK characters for zh, none for en/de);
* gold substrings: 1-3 per question, 2-40 characters, no Markdown/HTML markup (backticks,
  ``**``, link targets, URLs, tags, backslash escapes); after Unicode NFKC with all whitespace
  and backticks removed, each occurs in ``gold.doc`` -- in its raw text and in its visible
  text (link URLs, HTML tags and comments dropped) -- and in no other document of the same
  language;
* paraphrase: a same-language question shares no long verbatim span with its gold document
  (40 normalised characters for en/de; for zh 16, at least half of them CJK, so that API and
  product names may be quoted);
* counts: en>en >= 20, zh>zh >= 20, en>zh >= 25, zh>en >= 25, German (de>de, en>de, de>en)
  >= 10, total >= 100; for en>zh and zh>en each, at least two thirds of the questions target a
  document with a translation in the set (non-empty pair_group) and the rest unpaired ones
  (at least one).

Prints a summary; exits 1 on any failure.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
import unicodedata
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
CATS = {"en>en", "zh>zh", "en>zh", "zh>en", "de>de", "en>de", "de>en"}
MIN_COUNTS = {"en>en": 20, "zh>zh": 20, "en>zh": 25, "zh>en": 25}
MIN_GERMAN = 10
MIN_TOTAL = 100
PAIRED_SHARE = 2 / 3
COPY_SPAN = {"en": 40, "de": 40, "zh": 16}

ID_RE = re.compile(r"^pd-\d{3,}$")
CJK_RE = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
MARKUP_RE = re.compile(r"`|\*\*|__|\]\(|https?://|</?[A-Za-z][^>]*>|\\")
HTML_TAGS = (
    "a|abbr|dfn|div|img|br|li|ul|ol|code|head|link|span|p|table|tr|td|th|details|summary|"
    "embed|Tabs|TabItem|ComponentTokenTable|em|strong|b|i|sup|sub|kbd|small"
)
TAG_RE = re.compile(rf"</?(?:{HTML_TAGS})\b[^>]*>")
COMMENT_RE = re.compile(r"<!--.*?-->", re.S)
LINK_RE = re.compile(r"!?\[([^\]]*)\]\([^)\s]*(?:\s+\"[^\"]*\")?\)")
AUTOLINK_RE = re.compile(r"<https?://[^>]+>")


def norm(text: str) -> str:
    """Unicode NFKC, then every whitespace character and backtick removed."""
    return re.sub(r"[\s`]", "", unicodedata.normalize("NFKC", text))


def visible(text: str) -> str:
    """Roughly what a reader sees: comments, tags, autolinks and link targets dropped."""
    text = COMMENT_RE.sub("", text)
    text = AUTOLINK_RE.sub("", text)
    text = LINK_RE.sub(r"\1", text)
    return TAG_RE.sub("", text)


def copies(q: str, doc: str, size: int, cjk: bool) -> str | None:
    """A ``size``-character span of ``q`` found verbatim in ``doc`` (for zh, only spans at
    least half made of CJK characters count, so that API and product names may be quoted)."""
    for i in range(len(q) - size + 1):
        span = q[i : i + size]
        if cjk and len(CJK_RE.findall(span)) * 2 < size:
            continue
        if span in doc:
            return span
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--queries", type=Path, default=HERE / "queries.jsonl")
    ap.add_argument("--docs", type=Path, default=HERE / "docs")
    ap.add_argument("--sources", type=Path, default=HERE / "sources.tsv")
    args = ap.parse_args()

    with args.sources.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    lang_of = {r["file"]: r["lang"] for r in rows}
    group_of = {r["file"]: r.get("pair_group", "").strip() for r in rows}
    members: dict[str, set[str]] = {}
    for f, g in group_of.items():
        if g:
            members.setdefault(g, set()).add(lang_of[f])

    raw: dict[str, str] = {}
    vis: dict[str, str] = {}
    for f in lang_of:
        path = args.docs / f
        if not path.is_file():
            print(f"FAIL sources.tsv lists {f}, missing from {args.docs}")
            return 1
        text = path.read_text(encoding="utf-8")
        raw[f] = norm(text)
        vis[f] = norm(visible(text))

    errors: list[str] = []
    cats: Counter[str] = Counter()
    paired: Counter[str] = Counter()
    paired_src: Counter[str] = Counter()
    unpaired: Counter[str] = Counter()
    docs_used: set[str] = set()
    ids: set[str] = set()
    n = 0
    lines = args.queries.read_text(encoding="utf-8").splitlines()
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        n += 1
        where = f"line {lineno}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            errors.append(f"{where}: invalid JSON ({exc})")
            continue
        if not isinstance(obj, dict) or set(obj) != {"id", "cat", "q", "lang", "gold"}:
            errors.append(f"{where}: keys must be exactly id, cat, q, lang, gold")
            continue
        qid = obj["id"]
        where = f"{where} ({qid})"
        if not isinstance(qid, str) or not ID_RE.match(qid):
            errors.append(f"{where}: id must look like pd-001")
        elif qid in ids:
            errors.append(f"{where}: duplicate id")
        ids.add(str(qid))
        cat = obj["cat"]
        if cat not in CATS:
            errors.append(f"{where}: cat {cat!r} not one of {sorted(CATS)}")
            continue
        cats[cat] += 1
        src, tgt = cat.split(">")
        q = obj["q"]
        if not isinstance(q, str) or len(q.strip()) < 8:
            errors.append(f"{where}: q missing or too short")
            continue
        has_cjk = bool(CJK_RE.search(q))
        if (src == "zh") != has_cjk:
            errors.append(f"{where}: question language does not match source {src!r}")
        if obj["lang"] != [tgt]:
            errors.append(f"{where}: lang must be [{tgt!r}]")
        gold = obj["gold"]
        if not isinstance(gold, dict) or set(gold) != {"lang", "contains", "doc"}:
            errors.append(f"{where}: gold keys must be exactly lang, contains, doc")
            continue
        if gold["lang"] != tgt:
            errors.append(f"{where}: gold.lang must be {tgt!r}")
        doc = gold["doc"]
        if doc not in lang_of:
            errors.append(f"{where}: gold.doc {doc!r} not in sources.tsv")
            continue
        if lang_of[doc] != tgt:
            errors.append(f"{where}: gold.doc {doc} is {lang_of[doc]}, not {tgt}")
            continue
        docs_used.add(doc)
        if src != tgt:
            if group_of[doc]:
                paired[cat] += 1
                if src in members[group_of[doc]]:
                    paired_src[cat] += 1
            else:
                unpaired[cat] += 1
        contains = gold["contains"]
        if not isinstance(contains, list) or not 1 <= len(contains) <= 3:
            errors.append(f"{where}: gold.contains must hold 1-3 strings")
            continue
        for s in contains:
            if not isinstance(s, str) or not 2 <= len(s) <= 40:
                errors.append(f"{where}: substring {s!r} must be 2-40 characters")
                continue
            if s != s.strip():
                errors.append(f"{where}: substring {s!r} has surrounding whitespace")
            if MARKUP_RE.search(s):
                errors.append(f"{where}: substring {s!r} carries Markdown/HTML markup")
            ns = norm(s)
            if ns not in raw[doc]:
                errors.append(f"{where}: substring {s!r} not found in {doc}")
                continue
            if ns not in vis[doc]:
                errors.append(f"{where}: substring {s!r} only in link targets/tags of {doc}")
            clash = [f for f in raw if f != doc and lang_of[f] == tgt and ns in raw[f]]
            if clash:
                errors.append(f"{where}: substring {s!r} also in {', '.join(sorted(clash))}")
        if src == tgt:
            span = copies(norm(q).lower(), raw[doc].lower(), COPY_SPAN[src], src == "zh")
            if span:
                errors.append(f"{where}: question copies {span!r} from {doc}")

    german = cats["de>de"] + cats["en>de"] + cats["de>en"]
    for cat, need in MIN_COUNTS.items():
        if cats[cat] < need:
            errors.append(f"count: {cat} has {cats[cat]}, needs >= {need}")
    if german < MIN_GERMAN:
        errors.append(f"count: German questions {german}, needs >= {MIN_GERMAN}")
    if n < MIN_TOTAL:
        errors.append(f"count: {n} questions, needs >= {MIN_TOTAL}")
    for cat in ("en>zh", "zh>en"):
        if cats[cat] and paired[cat] < PAIRED_SHARE * cats[cat]:
            errors.append(f"count: {cat} paired targets {paired[cat]}/{cats[cat]} < 2/3")
        if cats[cat] and not unpaired[cat]:
            errors.append(f"count: {cat} has no question on an unpaired document")

    print(f"queries: {n} in {args.queries}")
    for cat in sorted(cats, key=lambda c: (c.split(">")[0], c)):
        extra = ""
        if cat in ("en>zh", "zh>en"):
            extra = (
                f"  (paired {paired[cat]}, of which with a {cat[:2]} counterpart"
                f" {paired_src[cat]}; unpaired {unpaired[cat]})"
            )
        print(f"  {cat:6} {cats[cat]:4}{extra}")
    print(f"  German {german:4}")
    print(f"documents used as gold: {len(docs_used)} of {len(lang_of)}")
    if errors:
        print(f"FAIL: {len(errors)} problem(s)")
        for e in errors:
            print("  " + e)
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
