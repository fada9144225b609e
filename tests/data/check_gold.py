#!/usr/bin/env python3
"""One-off checker for tests/data/gold_alignment.jsonl (stdlib only).

For every line it verifies that
  * the line is a JSON object with the keys id, en, zh, kind, anchors;
  * ids are unique and kind is one of paragraph / heading / sentence / table_row;
  * `en` occurs exactly once in corpus/000_a4d6d44b88908d33.txt (English edition);
  * `zh` occurs exactly once in corpus/001_01d7e7f86c812082.txt (Chinese edition);
  * every anchor is a non-empty string found in both `en` and `zh`.
It also checks the size targets of the gold set (>= 80 pairs, >= 50 of kind
paragraph/sentence, >= 10 headings), prints the counts by kind and exits with
status 1 on any failure.

Usage:  python3 tests/data/check_gold.py [path/to/gold_alignment.jsonl]
"""

import collections
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
EN_PATH = os.path.join(ROOT, "corpus", "000_a4d6d44b88908d33.txt")
ZH_PATH = os.path.join(ROOT, "corpus", "001_01d7e7f86c812082.txt")
GOLD_PATH = os.path.join(HERE, "gold_alignment.jsonl")

KINDS = ("paragraph", "heading", "sentence", "table_row")
MIN_TOTAL = 80
MIN_TEXT = 50  # paragraph + sentence
MIN_HEADING = 10


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def main(argv):
    gold_path = argv[1] if len(argv) > 1 else GOLD_PATH
    en_doc, zh_doc = read(EN_PATH), read(ZH_PATH)
    errors = []
    kinds = collections.Counter()
    seen_ids = set()
    n = 0

    with open(gold_path, encoding="utf-8") as f:
        for lineno, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            n += 1
            where = "line %d" % lineno
            try:
                rec = json.loads(raw)
            except ValueError as exc:
                errors.append(f"{where}: invalid JSON ({exc})")
                continue
            if not isinstance(rec, dict):
                errors.append(f"{where}: not a JSON object")
                continue
            missing = [k for k in ("id", "en", "zh", "kind", "anchors") if k not in rec]
            if missing:
                errors.append(f"{where}: missing keys {missing}")
                continue
            rid = rec["id"]
            where = f"{where} ({rid})"
            if rid in seen_ids:
                errors.append(f"{where}: duplicate id")
            seen_ids.add(rid)
            kind = rec["kind"]
            if kind not in KINDS:
                errors.append(f"{where}: bad kind {kind!r}")
            kinds[kind] += 1
            for side, doc in (("en", en_doc), ("zh", zh_doc)):
                text = rec[side]
                if not isinstance(text, str) or not text:
                    errors.append(f"{where}: {side} is empty or not a string")
                    continue
                count = doc.count(text)
                if count != 1:
                    errors.append(
                        "%s: %s occurs %d times in its file (need exactly 1): %r"
                        % (where, side, count, text[:80])
                    )
            anchors = rec["anchors"]
            if not isinstance(anchors, list):
                errors.append(f"{where}: anchors is not a list")
                continue
            for anc in anchors:
                if not isinstance(anc, str) or not anc:
                    errors.append(f"{where}: bad anchor {anc!r}")
                elif anc not in rec["en"] or anc not in rec["zh"]:
                    errors.append(f"{where}: anchor {anc!r} not shared by en and zh")

    if n < MIN_TOTAL:
        errors.append("only %d pairs (need >= %d)" % (n, MIN_TOTAL))
    if kinds["paragraph"] + kinds["sentence"] < MIN_TEXT:
        errors.append(
            "only %d paragraph/sentence pairs (need >= %d)"
            % (kinds["paragraph"] + kinds["sentence"], MIN_TEXT)
        )
    if kinds["heading"] < MIN_HEADING:
        errors.append("only %d heading pairs (need >= %d)" % (kinds["heading"], MIN_HEADING))

    print("pairs: %d" % n)
    for k in KINDS:
        print("  %-10s %d" % (k, kinds[k]))
    for k in sorted(set(kinds) - set(KINDS)):
        print("  %-10s %d (unknown kind)" % (k, kinds[k]))
    if errors:
        print("FAILED: %d problem(s)" % len(errors))
        for e in errors:
            print("  - " + e)
        return 1
    print("OK: every en/zh is a unique exact substring of its file")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
