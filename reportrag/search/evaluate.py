"""Retrieval evaluation: recall@1/5/10 and MRR@10 per language pair and mode.

A returned chunk is relevant when it is in the gold language (and, with ``gold.doc``, in that
file's document) and contains a gold substring, comparing after Unicode NFKC and removing all
whitespace and backticks (so chunking, spacing and Markdown's inline-code marks do not
matter). A gold text split across two chunks counts for a chunk that holds at least half of
it at its edge, with the neighbouring chunk completing it.
"""

from __future__ import annotations

import json
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reportrag.errors import InputError
from reportrag.ids import default_doc_id
from reportrag.types import Chunk

CUTOFFS = (1, 5, 10)


def norm(text: str) -> str:
    """NFKC, then every whitespace character and Markdown code mark (`) removed.

    Chunks hold the text a reader sees; a gold substring copied from a Markdown source may
    still have the backticks of inline code around a name.
    """
    return "".join(unicodedata.normalize("NFKC", text).replace("`", "").split())


def _edge_share(chunk: str, gold: str, prev: str, nxt: str) -> bool:
    need = (len(gold) + 1) // 2
    for k in range(len(gold) - 1, need - 1, -1):  # gold starts at the chunk's end
        if chunk.endswith(gold[:k]) and nxt.startswith(gold[k:]):
            return True
    for k in range(len(gold) - 1, need - 1, -1):  # gold ends at the chunk's start
        if chunk.startswith(gold[-k:]) and prev.endswith(gold[:-k]):
            return True
    return False


def is_relevant(
    chunk_text: str,
    chunk_lang: str,
    gold: dict[str, Any],
    *,
    prev_text: str = "",
    next_text: str = "",
) -> bool:
    """Whether one returned chunk satisfies the gold condition of a query."""
    if chunk_lang != gold["lang"]:
        return False
    c = norm(chunk_text)
    for g in (norm(x) for x in gold["contains"]):
        if g and (g in c or _edge_share(c, g, norm(prev_text), norm(next_text))):
            return True
    return False


@dataclass(frozen=True)
class Query:
    id: str
    cat: str
    q: str
    lang: tuple[str, ...]
    gold: dict[str, Any]


def load_queries(path: Path) -> list[Query]:
    """Read a queries.jsonl file; a malformed line is an InputError naming the line."""
    out: list[Query] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from exc
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            q = Query(
                id=str(d["id"]),
                cat=str(d.get("cat", "")),
                q=str(d["q"]),
                lang=tuple(d.get("lang") or ()),
                gold=dict(d["gold"]),
            )
            if not isinstance(q.gold.get("contains"), list) or "lang" not in q.gold:
                raise KeyError("gold.contains / gold.lang")
        except (ValueError, KeyError, TypeError) as exc:
            raise InputError(f"{path}:{n}: not a valid query line ({exc})") from exc
        out.append(q)
    if not out:
        raise InputError(f"{path}: no queries")
    return out


@dataclass
class QueryResult:
    query: Query
    rank: int | None  # 1-based rank of the first relevant hit within the cut-off, or None
    hits: list[str] = field(default_factory=list)


def first_relevant_rank(
    query: Query, chunks: list[Chunk], neighbours: Callable[[Chunk], tuple[str, str]]
) -> int | None:
    """1-based rank of the first relevant chunk, or None.

    With ``gold.doc`` (a file name), only chunks of that file's document count: the same
    command or identifier often appears in the document's translation too.
    """
    doc = query.gold.get("doc")
    doc_id = default_doc_id(Path(str(doc))) if doc else None
    for rank, c in enumerate(chunks, 1):
        if c.lang != query.gold["lang"] or (doc_id is not None and c.doc_id != doc_id):
            continue
        prev_text, next_text = neighbours(c)
        if is_relevant(c.text, c.lang, query.gold, prev_text=prev_text, next_text=next_text):
            return rank
    return None


def _groups(cat: str) -> list[str]:
    """The rows a query counts in: its pair, its source language's ``xx>*``, mono or cross."""
    if ">" not in cat:
        return [cat or "all"]
    src, tgt = cat.split(">", 1)
    return [cat, f"{src}>*", "mono" if src == tgt else "cross"]


def _order(name: str) -> tuple[int, str]:
    if name == "overall":
        return (3, name)
    if name in ("mono", "cross"):
        return (2, name)
    return (1 if name.endswith(">*") else 0, name)


def summarize(results: Iterable[QueryResult], k_max: int = 10) -> dict[str, dict[str, float]]:
    """Recall@k and MRR@k_max per language pair, per source language, mono/cross, overall."""
    groups: dict[str, list[QueryResult]] = defaultdict(list)
    for r in results:
        for g in _groups(r.query.cat):
            groups[g].append(r)
        groups["overall"].append(r)
    table: dict[str, dict[str, float]] = {}
    for cat, rs in sorted(groups.items(), key=lambda kv: _order(kv[0])):
        row: dict[str, float] = {"n": len(rs)}
        for k in CUTOFFS:
            row[f"recall@{k}"] = sum(r.rank is not None and r.rank <= k for r in rs) / len(rs)
        row[f"mrr@{k_max}"] = sum(1 / r.rank for r in rs if r.rank and r.rank <= k_max) / len(rs)
        table[cat] = row
    return table


def format_table(by_mode: dict[str, dict[str, dict[str, float]]]) -> str:
    """A plain-text table: one row per (mode, category)."""
    cols = ["n", "recall@1", "recall@5", "recall@10", "mrr@10"]
    lines = [f"{'mode':<14}{'pair':<10}" + "".join(f"{c:>11}" for c in cols)]
    for mode, table in by_mode.items():
        for cat, row in table.items():
            cells = "".join(f"{row[c]:>11.0f}" if c == "n" else f"{row[c]:>11.3f}" for c in cols)
            lines.append(f"{mode:<14}{cat:<10}{cells}")
    return "\n".join(lines)
