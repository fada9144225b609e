#!/usr/bin/env python3
"""Verify the realdocs held-out set (stdlib only).

Checks
  * sources.tsv <-> docs/: every listed file exists, every file in docs/ is listed,
    file sizes 2 KB..40 KB, no README files, valid language/license/commit columns;
  * pair groups: each group has >= 2 files in distinct languages; counts of en/zh pairs,
    German pages with an English counterpart, unpaired documents, projects;
  * queries.jsonl: format (id rd-NNN unique, cat src>tgt, lang == [tgt], gold.lang == tgt,
    gold.doc exists and has language tgt, 1-3 gold substrings of 2-40 characters),
    per-category minimums, no duplicate questions;
  * every gold substring occurs in gold.doc and in no other document of gold.lang, both
    compared after Unicode NFKC normalisation with all whitespace removed;
  * no gold substring appears in its own question (same normalisation, case-insensitive);
  * every paired document has at least 2 queries against it.
Information only (never a failure): how many gold substrings also occur in a document of
another language (shared code, English source kept in comments of translated pages).

Usage: python3 check.py [-v]     (-v lists per-document query counts)
Exit status 0 when everything passes, 1 otherwise.
"""

import collections
import json
import os
import re
import sys
import unicodedata

ROOT = os.path.dirname(os.path.abspath(__file__))
DOCS = os.path.join(ROOT, "docs")
SOURCES = os.path.join(ROOT, "sources.tsv")
QUERIES = os.path.join(ROOT, "queries.jsonl")

LANGS = ("en", "zh", "de")
CAT_MIN = {"en>en": 35, "zh>zh": 35, "en>zh": 35, "zh>en": 35}
GERMAN_CATS = ("de>de", "en>de", "de>en")
GERMAN_MIN = 10
MIN_EN_ZH_PAIRS = 24
MIN_PROJECTS_WITH_PAIRS = 5
MIN_DE_WITH_EN = 4
MIN_UNPAIRED = 8
MIN_QUERIES = 150

errors = []
cross_lang = []  # info only: gold substrings also present in a document of another language


def err(msg):
    errors.append(msg)


def norm(s):
    s = unicodedata.normalize("NFKC", s)
    return re.sub(r"\s+", "", s)


def project_of(fn):
    return fn.split("-", 1)[0]


def load_sources():
    rows = []
    if not os.path.exists(SOURCES):
        err("sources.tsv is missing")
        return rows
    with open(SOURCES, encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        want = ["file", "lang", "repo", "path", "commit", "license", "pair_group"]
        if header != want:
            err(f"sources.tsv header is {header!r}, expected {want!r}")
        for n, line in enumerate(f, 2):
            line = line.rstrip("\n")
            if not line:
                continue
            cols = line.split("\t")
            if len(cols) != 7:
                err("sources.tsv line %d: %d columns, expected 7" % (n, len(cols)))
                continue
            rows.append(dict(zip(want, cols, strict=False)))
    return rows


def check_sources(rows):
    files = {}
    for r in rows:
        fn = r["file"]
        if fn in files:
            err(f"sources.tsv lists {fn} twice")
        files[fn] = r
        if r["lang"] not in LANGS:
            err("{}: bad language {!r}".format(fn, r["lang"]))
        if not r["repo"] or "/" not in r["repo"]:
            err("{}: bad repo {!r}".format(fn, r["repo"]))
        if not (r["commit"] == "unknown" or re.fullmatch(r"[0-9a-f]{40}", r["commit"])):
            err("{}: bad commit {!r}".format(fn, r["commit"]))
        if not r["license"]:
            err(f"{fn}: license missing")
        if "readme" in fn.lower() or "readme" in r["path"].lower():
            err("{}: README files are reserved and must not be used ({})".format(fn, r["path"]))
        if not fn.endswith(".md") or not re.fullmatch(r"[a-z0-9]+-[a-z0-9.-]+\.md", fn):
            err(f"{fn}: file name does not follow <project>-<slug>.md")
        if re.search(r"[.-](en|zh|de|cn|en-us|zh-cn)\.md$", fn, re.I):
            err(f"{fn}: file name gives the language away")
        p = os.path.join(DOCS, fn)
        if not os.path.isfile(p):
            err(f"{fn}: listed in sources.tsv but missing from docs/")
            continue
        size = os.path.getsize(p)
        if not 2048 <= size <= 40960:
            err("%s: size %d bytes outside 2 KB..40 KB" % (fn, size))
        try:
            open(p, encoding="utf-8").read()
        except UnicodeDecodeError:
            err(f"{fn}: not valid UTF-8")
    on_disk = set(os.listdir(DOCS)) if os.path.isdir(DOCS) else set()
    for fn in sorted(on_disk - set(files)):
        err(f"docs/{fn} is not listed in sources.tsv")
    return files


def check_groups(files):
    groups = collections.defaultdict(list)
    for _fn, r in files.items():
        if r["pair_group"]:
            groups[r["pair_group"]].append(r)
    en_zh_pairs = 0
    de_with_en = 0
    projects = set()
    for g, members in sorted(groups.items()):
        langs = [m["lang"] for m in members]
        if len(members) < 2:
            err(f"pair group {g} has only one file")
        if len(set(langs)) != len(langs):
            err(f"pair group {g} has two files in the same language: {langs}")
        if len({project_of(m["file"]) for m in members}) != 1:
            err(f"pair group {g} mixes projects")
        if "en" in langs and "zh" in langs:
            en_zh_pairs += 1
            projects.add(project_of(members[0]["file"]))
        if "de" in langs and "en" in langs:
            de_with_en += 1
    unpaired = [fn for fn, r in files.items() if not r["pair_group"]]
    if en_zh_pairs < MIN_EN_ZH_PAIRS:
        err("only %d en/zh pairs (need %d)" % (en_zh_pairs, MIN_EN_ZH_PAIRS))
    if len(projects) < MIN_PROJECTS_WITH_PAIRS:
        err(
            "en/zh pairs come from %d projects (need %d)" % (len(projects), MIN_PROJECTS_WITH_PAIRS)
        )
    if de_with_en < MIN_DE_WITH_EN:
        err(
            "only %d German pages with an English counterpart (need %d)"
            % (de_with_en, MIN_DE_WITH_EN)
        )
    if len(unpaired) < MIN_UNPAIRED:
        err("only %d unpaired documents (need %d)" % (len(unpaired), MIN_UNPAIRED))
    return groups, en_zh_pairs, de_with_en, projects, unpaired


def load_texts(files):
    texts = {}
    for fn in files:
        p = os.path.join(DOCS, fn)
        if os.path.isfile(p):
            texts[fn] = norm(open(p, encoding="utf-8", errors="replace").read())
    return texts


def check_queries(files, texts):
    per_cat = collections.Counter()
    per_doc = collections.Counter()
    if not os.path.exists(QUERIES):
        err("queries.jsonl is missing")
        return per_cat, per_doc, 0
    ids = set()
    questions = set()
    n = 0
    with open(QUERIES, encoding="utf-8") as f:
        for ln, line in enumerate(f, 1):
            if not line.strip():
                continue
            n += 1
            where = "queries.jsonl line %d" % ln
            try:
                o = json.loads(line)
            except ValueError as e:
                err(f"{where}: not JSON ({e})")
                continue
            if list(o.keys()) != ["id", "cat", "q", "lang", "gold"]:
                err(f"{where}: keys {list(o.keys())}, expected id, cat, q, lang, gold")
            qid = o.get("id", "")
            where = f"{where} ({qid})"
            if not re.fullmatch(r"rd-\d{3}", str(qid)):
                err(f"{where}: bad id")
            if qid in ids:
                err(f"{where}: duplicate id")
            ids.add(qid)
            cat = o.get("cat", "")
            m = re.fullmatch(r"(en|zh|de)>(en|zh|de)", str(cat))
            if not m:
                err(f"{where}: bad cat {cat!r}")
                continue
            src, tgt = m.groups()
            per_cat[cat] += 1
            q = o.get("q", "")
            if not isinstance(q, str) or len(q.strip()) < 8:
                err(f"{where}: question missing or too short")
                q = str(q)
            if norm(q).casefold() in questions:
                err(f"{where}: duplicate question")
            questions.add(norm(q).casefold())
            if o.get("lang") != [tgt]:
                err("{}: lang {!r}, expected [{!r}]".format(where, o.get("lang"), tgt))
            gold = o.get("gold") or {}
            if not isinstance(gold, dict) or set(gold.keys()) != {"lang", "contains", "doc"}:
                err(f"{where}: gold must have exactly lang, contains, doc")
                continue
            if gold.get("lang") != tgt:
                err("{}: gold.lang {!r}, expected {!r}".format(where, gold.get("lang"), tgt))
            doc = gold.get("doc")
            if doc not in files:
                err(f"{where}: gold.doc {doc!r} is not in sources.tsv")
                continue
            if files[doc]["lang"] != tgt:
                err("{}: gold.doc {} is {}, not {}".format(where, doc, files[doc]["lang"], tgt))
            per_doc[doc] += 1
            contains = gold.get("contains")
            if not isinstance(contains, list) or not 1 <= len(contains) <= 3:
                err(f"{where}: gold.contains must be a list of 1-3 strings")
                continue
            same_lang = [fn for fn, r in files.items() if r["lang"] == tgt and fn != doc]
            nq = norm(q).casefold()
            for s in contains:
                if not isinstance(s, str) or not 2 <= len(s) <= 40:
                    err(f"{where}: gold substring {s!r} must be 2-40 characters")
                    continue
                ns = norm(s)
                if not ns:
                    err(f"{where}: gold substring {s!r} is only whitespace")
                    continue
                if ns not in texts.get(doc, ""):
                    err(f"{where}: {s!r} not found in {doc}")
                clash = [fn for fn in same_lang if ns in texts.get(fn, "")]
                if clash:
                    err(
                        "{}: {!r} also occurs in other {} document(s): {}".format(
                            where, s, tgt, ", ".join(sorted(clash))
                        )
                    )
                if any(ns in texts.get(fn, "") for fn, r in files.items() if r["lang"] != tgt):
                    cross_lang.append(qid)
                if ns.casefold() in nq:
                    err(f"{where}: gold substring {s!r} appears in the question")
    for cat, mn in CAT_MIN.items():
        if per_cat[cat] < mn:
            err("category %s has %d queries (need %d)" % (cat, per_cat[cat], mn))
    german = sum(per_cat[c] for c in GERMAN_CATS)
    if german < GERMAN_MIN:
        err("only %d German queries (de>de, en>de, de>en; need %d)" % (german, GERMAN_MIN))
    if n < MIN_QUERIES:
        err("only %d queries (need %d)" % (n, MIN_QUERIES))
    for fn, r in files.items():
        if r["pair_group"] and per_doc[fn] < 2:
            err("paired document %s has %d queries (need 2)" % (fn, per_doc[fn]))
    return per_cat, per_doc, n


def main():
    verbose = "-v" in sys.argv[1:]
    rows = load_sources()
    files = check_sources(rows)
    groups, en_zh, de_en, projects, unpaired = check_groups(files)
    texts = load_texts(files)
    per_cat, per_doc, n = check_queries(files, texts)

    by_lang = collections.Counter(r["lang"] for r in files.values())
    by_proj = collections.Counter(project_of(fn) for fn in files)
    lic = collections.Counter((r["repo"], r["license"]) for r in files.values())
    print("== documents: %d" % len(files))
    print("   per language: " + ", ".join("%s=%d" % (l, by_lang[l]) for l in LANGS))
    print("   per project:  " + ", ".join("%s=%d" % kv for kv in sorted(by_proj.items())))
    print(
        "   pair groups: %d (en/zh pairs: %d from %d projects; groups with de+en: %d)"
        % (len(groups), en_zh, len(projects), de_en)
    )
    sizes = collections.Counter(len(v) for v in groups.values())
    print("   group sizes: " + ", ".join("%d files x %d" % kv for kv in sorted(sizes.items())))
    print(
        "   unpaired: %d (%s)"
        % (
            len(unpaired),
            ", ".join(
                "%s=%d" % kv
                for kv in sorted(collections.Counter(files[f]["lang"] for f in unpaired).items())
            ),
        )
    )
    print(
        "   licenses: " + "; ".join("%s %s x%d" % (k[0], k[1], v) for k, v in sorted(lic.items()))
    )
    print("== queries: %d" % n)
    for cat in sorted(per_cat, key=lambda c: (c not in CAT_MIN, c)):
        print("   %-6s %3d" % (cat, per_cat[cat]))
    print("   German (de>de+en>de+de>en): %d" % sum(per_cat[c] for c in GERMAN_CATS))
    print(
        "   documents with queries: %d of %d; min per paired doc: %d"
        % (
            len(per_doc),
            len(files),
            min([per_doc[f] for f, r in files.items() if r["pair_group"]] or [0]),
        )
    )
    print(
        "   info: %d gold substring(s) in %d queries also occur in a document of another language"
        % (len(cross_lang), len(set(cross_lang)))
    )
    print(
        "         (shared code/identifiers, and the English source kept in comments of the k8s zh-cn pages;"
        " allowed, see README)"
    )
    if verbose:
        for fn in sorted(files):
            print(
                "   %-45s %s %-4s %2d"
                % (fn, files[fn]["lang"], files[fn]["pair_group"] or "-", per_doc[fn])
            )
    if errors:
        print("== FAILED: %d problem(s)" % len(errors))
        for e in errors:
            print("  - " + e)
        return 1
    print("== OK: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
