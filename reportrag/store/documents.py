"""Per-document statistics folded from scalar rows (no Milvus calls here)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from reportrag.types import SECTION_SEP as SECTION_SEPARATOR  # top level: text before it

MAX_SECTIONS = 200
DOCUMENT_FIELDS = ["doc_id", "title", "kind", "date", "lang", "section", "ordinal"]


@dataclass
class _Doc:
    chunks: int = 0
    langs: dict[str, int] = field(default_factory=dict)
    first: tuple[int, str, str, str] | None = None  # (ordinal, title, kind, date)
    lang: str = ""  # the document's language (rows of schema 2 carry it)
    sections: dict[str, int] = field(default_factory=dict)  # top-level section -> min ordinal


def summarize(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """doc_id, title, lang, kind, date, chunks, langs (of its chunks), sections per document.

    ``lang`` is the document's language; a collection of schema 1 does not record it, and the
    most frequent chunk language stands in.
    """
    docs: dict[str, _Doc] = {}
    for r in rows:
        d = docs.setdefault(str(r["doc_id"]), _Doc())
        d.chunks += 1
        lang = str(r["lang"])
        d.langs[lang] = d.langs.get(lang, 0) + 1
        d.lang = d.lang or str(r.get("doc_lang") or "")
        ordinal = int(r["ordinal"])
        if d.first is None or ordinal < d.first[0]:
            d.first = (ordinal, str(r["title"]), str(r["kind"]), str(r["date"]))
        top = str(r["section"]).split(SECTION_SEPARATOR, 1)[0].strip()
        if top and ordinal < d.sections.get(top, ordinal + 1):
            d.sections[top] = ordinal
    out = []
    for doc_id in sorted(docs):
        d = docs[doc_id]
        _, title, kind, date = d.first or (0, "", "", "")
        ordered = sorted(d.sections, key=lambda s: d.sections[s])
        out.append(
            {
                "doc_id": doc_id,
                "title": title,
                "lang": d.lang or max(d.langs, key=lambda k: d.langs[k], default=""),
                "kind": kind,
                "date": date,
                "chunks": d.chunks,
                "langs": dict(sorted(d.langs.items())),
                "sections": ordered[:MAX_SECTIONS],
            }
        )
    return out
