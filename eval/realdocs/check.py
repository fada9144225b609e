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
DOCS = os.path.join(ROOT, 'docs')
SOURCES = os.path.join(ROOT, 'sources.tsv')
QUERIES = os.path.join(ROOT, 'queries.jsonl')

LANGS = ('en', 'zh', 'de')
CAT_MIN = {'en>en': 35, 'zh>zh': 35, 'en>zh': 35, 'zh>en': 35}
GERMAN_CATS = ('de>de', 'en>de', 'de>en')
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
    s = unicodedata.normalize('NFKC', s)
    return re.sub(r'\s+', '', s)


def project_of(fn):
    return fn.split('-', 1)[0]


def load_sources():
    rows = []
    if not os.path.exists(SOURCES):
        err('sources.tsv is missing')
        return rows
    with open(SOURCES, encoding='utf-8') as f:
        header = f.readline().rstrip('\n').split('\t')
        want = ['file', 'lang', 'repo', 'path', 'commit', 'license', 'pair_group']
        if header != want:
            err('sources.tsv header is %r, expected %r' % (header, want))
        for n, line in enumerate(f, 2):
            line = line.rstrip('\n')
            if not line:
                continue
            cols = line.split('\t')
            if len(cols) != 7:
                err('sources.tsv line %d: %d columns, expected 7' % (n, len(cols)))
                continue
            rows.append(dict(zip(want, cols)))
    return rows


def check_sources(rows):
    files = {}
    for r in rows:
        fn = r['file']
        if fn in files:
            err('sources.tsv lists %s twice' % fn)
        files[fn] = r
        if r['lang'] not in LANGS:
            err('%s: bad language %r' % (fn, r['lang']))
        if not r['repo'] or '/' not in r['repo']:
            err('%s: bad repo %r' % (fn, r['repo']))
        if not (r['commit'] == 'unknown' or re.fullmatch(r'[0-9a-f]{40}', r['commit'])):
            err('%s: bad commit %r' % (fn, r['commit']))
        if not r['license']:
            err('%s: license missing' % fn)
        if 'readme' in fn.lower() or 'readme' in r['path'].lower():
            err('%s: README files are reserved and must not be used (%s)' % (fn, r['path']))
        if not fn.endswith('.md') or not re.fullmatch(r'[a-z0-9]+-[a-z0-9.-]+\.md', fn):
            err('%s: file name does not follow <project>-<slug>.md' % fn)
        if re.search(r'[.-](en|zh|de|cn|en-us|zh-cn)\.md$', fn, re.I):
            err('%s: file name gives the language away' % fn)
        p = os.path.join(DOCS, fn)
        if not os.path.isfile(p):
            err('%s: listed in sources.tsv but missing from docs/' % fn)
            continue
        size = os.path.getsize(p)
        if not 2048 <= size <= 40960:
            err('%s: size %d bytes outside 2 KB..40 KB' % (fn, size))
        try:
            open(p, encoding='utf-8').read()
        except UnicodeDecodeError:
            err('%s: not valid UTF-8' % fn)
    on_disk = set(os.listdir(DOCS)) if os.path.isdir(DOCS) else set()
    for fn in sorted(on_disk - set(files)):
        err('docs/%s is not listed in sources.tsv' % fn)
    return files


def check_groups(files):
    groups = collections.defaultdict(list)
    for fn, r in files.items():
        if r['pair_group']:
            groups[r['pair_group']].append(r)
    en_zh_pairs = 0
    de_with_en = 0
    projects = set()
    for g, members in sorted(groups.items()):
        langs = [m['lang'] for m in members]
        if len(members) < 2:
            err('pair group %s has only one file' % g)
        if len(set(langs)) != len(langs):
            err('pair group %s has two files in the same language: %s' % (g, langs))
        if len({project_of(m['file']) for m in members}) != 1:
            err('pair group %s mixes projects' % g)
        if 'en' in langs and 'zh' in langs:
            en_zh_pairs += 1
            projects.add(project_of(members[0]['file']))
        if 'de' in langs and 'en' in langs:
            de_with_en += 1
    unpaired = [fn for fn, r in files.items() if not r['pair_group']]
    if en_zh_pairs < MIN_EN_ZH_PAIRS:
        err('only %d en/zh pairs (need %d)' % (en_zh_pairs, MIN_EN_ZH_PAIRS))
    if len(projects) < MIN_PROJECTS_WITH_PAIRS:
        err('en/zh pairs come from %d projects (need %d)' % (len(projects), MIN_PROJECTS_WITH_PAIRS))
    if de_with_en < MIN_DE_WITH_EN:
        err('only %d German pages with an English counterpart (need %d)' % (de_with_en, MIN_DE_WITH_EN))
    if len(unpaired) < MIN_UNPAIRED:
        err('only %d unpaired documents (need %d)' % (len(unpaired), MIN_UNPAIRED))
    return groups, en_zh_pairs, de_with_en, projects, unpaired


def load_texts(files):
    texts = {}
    for fn in files:
        p = os.path.join(DOCS, fn)
        if os.path.isfile(p):
            texts[fn] = norm(open(p, encoding='utf-8', errors='replace').read())
    return texts


def check_queries(files, texts):
    per_cat = collections.Counter()
    per_doc = collections.Counter()
    if not os.path.exists(QUERIES):
        err('queries.jsonl is missing')
        return per_cat, per_doc, 0
    ids = set()
    questions = set()
    n = 0
    with open(QUERIES, encoding='utf-8') as f:
        for ln, line in enumerate(f, 1):
            if not line.strip():
                continue
            n += 1
            where = 'queries.jsonl line %d' % ln
            try:
                o = json.loads(line)
            except ValueError as e:
                err('%s: not JSON (%s)' % (where, e))
                continue
            if list(o.keys()) != ['id', 'cat', 'q', 'lang', 'gold']:
                err('%s: keys %s, expected id, cat, q, lang, gold' % (where, list(o.keys())))
            qid = o.get('id', '')
            where = '%s (%s)' % (where, qid)
            if not re.fullmatch(r'rd-\d{3}', str(qid)):
                err('%s: bad id' % where)
            if qid in ids:
                err('%s: duplicate id' % where)
            ids.add(qid)
            cat = o.get('cat', '')
            m = re.fullmatch(r'(en|zh|de)>(en|zh|de)', str(cat))
            if not m:
                err('%s: bad cat %r' % (where, cat))
                continue
            src, tgt = m.groups()
            per_cat[cat] += 1
            q = o.get('q', '')
            if not isinstance(q, str) or len(q.strip()) < 8:
                err('%s: question missing or too short' % where)
                q = str(q)
            if norm(q).casefold() in questions:
                err('%s: duplicate question' % where)
            questions.add(norm(q).casefold())
            if o.get('lang') != [tgt]:
                err('%s: lang %r, expected [%r]' % (where, o.get('lang'), tgt))
            gold = o.get('gold') or {}
            if not isinstance(gold, dict) or set(gold.keys()) != {'lang', 'contains', 'doc'}:
                err('%s: gold must have exactly lang, contains, doc' % where)
                continue
            if gold.get('lang') != tgt:
                err('%s: gold.lang %r, expected %r' % (where, gold.get('lang'), tgt))
            doc = gold.get('doc')
            if doc not in files:
                err('%s: gold.doc %r is not in sources.tsv' % (where, doc))
                continue
            if files[doc]['lang'] != tgt:
                err('%s: gold.doc %s is %s, not %s' % (where, doc, files[doc]['lang'], tgt))
            per_doc[doc] += 1
            contains = gold.get('contains')
            if not isinstance(contains, list) or not 1 <= len(contains) <= 3:
                err('%s: gold.contains must be a list of 1-3 strings' % where)
                continue
            same_lang = [fn for fn, r in files.items() if r['lang'] == tgt and fn != doc]
            nq = norm(q).casefold()
            for s in contains:
                if not isinstance(s, str) or not 2 <= len(s) <= 40:
                    err('%s: gold substring %r must be 2-40 characters' % (where, s))
                    continue
                ns = norm(s)
                if not ns:
                    err('%s: gold substring %r is only whitespace' % (where, s))
                    continue
                if ns not in texts.get(doc, ''):
                    err('%s: %r not found in %s' % (where, s, doc))
                clash = [fn for fn in same_lang if ns in texts.get(fn, '')]
                if clash:
                    err('%s: %r also occurs in other %s document(s): %s' % (where, s, tgt, ', '.join(sorted(clash))))
                if any(ns in texts.get(fn, '') for fn, r in files.items() if r['lang'] != tgt):
                    cross_lang.append(qid)
                if ns.casefold() in nq:
                    err('%s: gold substring %r appears in the question' % (where, s))
    for cat, mn in CAT_MIN.items():
        if per_cat[cat] < mn:
            err('category %s has %d queries (need %d)' % (cat, per_cat[cat], mn))
    german = sum(per_cat[c] for c in GERMAN_CATS)
    if german < GERMAN_MIN:
        err('only %d German queries (de>de, en>de, de>en; need %d)' % (german, GERMAN_MIN))
    if n < MIN_QUERIES:
        err('only %d queries (need %d)' % (n, MIN_QUERIES))
    for fn, r in files.items():
        if r['pair_group'] and per_doc[fn] < 2:
            err('paired document %s has %d queries (need 2)' % (fn, per_doc[fn]))
    return per_cat, per_doc, n


def main():
    verbose = '-v' in sys.argv[1:]
    rows = load_sources()
    files = check_sources(rows)
    groups, en_zh, de_en, projects, unpaired = check_groups(files)
    texts = load_texts(files)
    per_cat, per_doc, n = check_queries(files, texts)

    by_lang = collections.Counter(r['lang'] for r in files.values())
    by_proj = collections.Counter(project_of(fn) for fn in files)
    lic = collections.Counter((r['repo'], r['license']) for r in files.values())
    print('== documents: %d' % len(files))
    print('   per language: ' + ', '.join('%s=%d' % (l, by_lang[l]) for l in LANGS))
    print('   per project:  ' + ', '.join('%s=%d' % kv for kv in sorted(by_proj.items())))
    print('   pair groups: %d (en/zh pairs: %d from %d projects; groups with de+en: %d)'
          % (len(groups), en_zh, len(projects), de_en))
    sizes = collections.Counter(len(v) for v in groups.values())
    print('   group sizes: ' + ', '.join('%d files x %d' % kv for kv in sorted(sizes.items())))
    print('   unpaired: %d (%s)' % (len(unpaired), ', '.join('%s=%d' % kv for kv in sorted(
        collections.Counter(files[f]['lang'] for f in unpaired).items()))))
    print('   licenses: ' + '; '.join('%s %s x%d' % (k[0], k[1], v) for k, v in sorted(lic.items())))
    print('== queries: %d' % n)
    for cat in sorted(per_cat, key=lambda c: (c not in CAT_MIN, c)):
        print('   %-6s %3d' % (cat, per_cat[cat]))
    print('   German (de>de+en>de+de>en): %d' % sum(per_cat[c] for c in GERMAN_CATS))
    print('   documents with queries: %d of %d; min per paired doc: %d'
          % (len(per_doc), len(files), min([per_doc[f] for f, r in files.items() if r['pair_group']] or [0])))
    print('   info: %d gold substring(s) in %d queries also occur in a document of another language'
          % (len(cross_lang), len(set(cross_lang))))
    print('         (shared code/identifiers, and the English source kept in comments of the k8s zh-cn pages;'
          ' allowed, see README)')
    if verbose:
        for fn in sorted(files):
            print('   %-45s %s %-4s %2d' % (fn, files[fn]['lang'], files[fn]['pair_group'] or '-', per_doc[fn]))
    if errors:
        print('== FAILED: %d problem(s)' % len(errors))
        for e in errors:
            print('  - ' + e)
        return 1
    print('== OK: all checks passed')
    return 0


if __name__ == '__main__':
    sys.exit(main())
