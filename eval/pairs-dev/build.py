"""Build the pair-detection *development* set from repository snapshots (not eval/realdocs).

    .venv/bin/python eval/pairs-dev/build.py [--mirror /work/.mirror] [--out eval/pairs-dev/docs]

Translation-pair detection (``reportrag/ingest/pairs.py``) is calibrated here, so that
``eval/realdocs`` (held out) only *reports* it. Pages come from the same kind of multilingual
documentation sites, never the pages realdocs uses: FastAPI (en/zh/de, so German
triples), Apache APISIX plugins, Apache RocketMQ, Ant Design components, Nacos and Milvus.

Per project, pages that exist in several languages are drawn at random (seeded) and kept
as groups (all their languages, or a random two of them), and a few more are kept as
*distractors*: one language only, so they have no counterpart in the set (their
siblings on the same topic are in the set, which is what makes them hard). Files get
random names: nothing but the content can tell which ones belong together. A group whose
"translation" is a copy of the English page awaiting translation (Milvus marks those with
``translation_needed``) is no translation: its files are kept, without a group, as
same-language duplicates that must not be paired.

Writes ``sources.tsv`` (file, lang, repo, path, commit, pair_group, committed) and
``docs/`` (not committed: third-party pages, rebuilt from the snapshots by this script).
"""

from __future__ import annotations

import argparse
import hashlib
import random
import subprocess
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REALDOCS = HERE.parent / "realdocs" / "sources.tsv"
MIN_BYTES, MAX_BYTES = 2_000, 40_000


@dataclass(frozen=True)
class Project:
    """Where each language's tree lives in a repository, and how many pages to draw."""

    name: str
    repo: str  # owner+name under the mirror folder
    commit: str
    roots: dict[str, str]  # lang -> (path prefix, file suffix) joined by "|"
    groups: int
    distractors: int


PROJECTS = [
    Project("fastapi", "fastapi+fastapi", "HEAD",
            {"en": "docs/en/docs/|.md", "zh": "docs/zh/docs/|.md", "de": "docs/de/docs/|.md"},
            groups=12, distractors=4),
    Project("apisix", "apache+apisix", "HEAD",
            {"en": "docs/en/latest/plugins/|.md", "zh": "docs/zh/latest/plugins/|.md"},
            groups=9, distractors=4),
    Project("rocketmq", "apache+rocketmq-site", "HEAD",
            {"zh": "versioned_docs/version-5.0/|.md",
             "en": "i18n/en/docusaurus-plugin-content-docs/version-5.0/|.md"},
            groups=6, distractors=2),
    Project("antd", "ant-design+ant-design", "HEAD",
            {"en": "components/|/index.en-US.md", "zh": "components/|/index.zh-CN.md"},
            groups=4, distractors=2),
    Project("nacos", "nacos-group+nacos-group.github.io", "HEAD",
            {"en": "src/content/docs/latest/en/|.md", "zh": "src/content/docs/latest/zh-cn/|.md"},
            groups=4, distractors=2),
    Project("milvus", "milvus-io+milvus-docs", "v2.0.x",
            {"en": "site/en/|.md", "zh": "site/zh-CN/|.md"},
            groups=3, distractors=1),
]


def _git(repo: Path, *args: str) -> bytes:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True).stdout


def _pages(repo: Path, commit: str, roots: dict[str, str]) -> dict[str, dict[str, str]]:
    """slug -> lang -> path, for the files of each language tree within the size bounds."""
    listing = _git(repo, "ls-tree", "-r", "-l", commit).decode().splitlines()
    out: dict[str, dict[str, str]] = {}
    for line in listing:
        meta, _, path = line.partition("\t")
        size = meta.split()[3]
        if not size.isdigit() or not MIN_BYTES <= int(size) <= MAX_BYTES:
            continue
        for lang, spec in roots.items():
            prefix, suffix = spec.split("|")
            if path.startswith(prefix) and path.endswith(suffix) and "readme" not in path.lower():
                out.setdefault(path[len(prefix) : -len(suffix)], {})[lang] = path
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mirror", type=Path, default=Path("/work/.mirror"))
    ap.add_argument("--out", type=Path, default=HERE / "docs")
    ap.add_argument("--seed", type=int, default=20240611)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    held_out = set()
    if REALDOCS.is_file():
        for row in REALDOCS.read_text(encoding="utf-8").splitlines()[1:]:
            cols = row.split("\t")
            held_out.add(cols[3])
    args.out.mkdir(parents=True, exist_ok=True)
    rows = ["file\tlang\trepo\tpath\tcommit\tpair_group"]
    group_no = 0
    groups: set[str] = set()
    for p in PROJECTS:
        repo = args.mirror / p.repo / "repo"
        commit = _git(repo, "rev-parse", p.commit).decode().strip()
        pages = _pages(repo, commit, p.roots)
        slugs = sorted(s for s, by in pages.items() if not set(by.values()) & held_out)
        multi = [s for s in slugs if len(pages[s]) >= 2]
        rng.shuffle(multi)
        chosen: list[tuple[str, list[str], str]] = []
        for slug in multi[: p.groups]:
            langs = sorted(pages[slug])
            if len(langs) > 2 and rng.random() < 0.5:
                langs = sorted(rng.sample(langs, 2))
            group_no += 1
            chosen.append((slug, langs, f"d{group_no:02d}"))
        for slug in multi[p.groups : p.groups + p.distractors]:
            chosen.append((slug, [rng.choice(sorted(pages[slug]))], ""))
        for slug, langs, group in chosen:
            texts = {lang: _git(repo, "show", f"{commit}:{pages[slug][lang]}") for lang in langs}
            if any(b"translation_needed" in data for data in texts.values()):
                group = ""  # an untranslated copy: a duplicate, not a translation
            for lang in langs:
                path, data = pages[slug][lang], texts[lang]
                digest = hashlib.sha256(f"{args.seed}{path}".encode()).hexdigest()[:8]
                name = f"{p.name}-{digest}.md"
                (args.out / name).write_bytes(data)
                source = p.repo.replace("+", "/")
                rows.append(f"{name}\t{lang}\t{source}\t{path}\t{commit}\t{group}")
                groups.add(group)
    (HERE / "sources.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    print(f"{len(rows) - 1} files, {len(groups - {''})} groups → {args.out}")


if __name__ == "__main__":
    main()
