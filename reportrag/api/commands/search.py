"""``reportrag search``: the same search service as ``POST /v1/search``, from the shell."""

from __future__ import annotations

import argparse
import json

from reportrag.rules import MAX_TOP_K, MODES
from reportrag.settings import get_settings
from reportrag.wiring import embedder_from_settings, open_collection


def register(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("search", help="search the ingested corpus")
    s.add_argument("query", metavar="QUERY")
    s.add_argument("--lang", nargs="+", metavar="L", help="only these languages (e.g. zh en)")
    s.add_argument("--doc", nargs="+", dest="doc_id", metavar="DOC_ID", help="only these documents")
    s.add_argument("--section", help="section path prefix, e.g. 2.3")
    s.add_argument("--kind", nargs="+", help="document kinds, e.g. report")
    s.add_argument(
        "--where", metavar="JSON",
        help='a metadata filter, e.g. \'{"key": "year", "op": "gte", "value": 2023}\'',
    )
    s.add_argument("--top-k", type=int, default=5, metavar="N")
    s.add_argument("--mode", choices=MODES, default="auto")
    s.add_argument("--min-score", type=float, default=None)
    s.add_argument("--json", action="store_true", help="print the /v1/search JSON")
    s.set_defaults(func=_search)


def _search(args: argparse.Namespace) -> int:
    from reportrag.search.filters import build_filters
    from reportrag.search.service import service_from_settings

    if not 1 <= args.top_k <= MAX_TOP_K:
        from reportrag.errors import InputError

        raise InputError(f"--top-k must be between 1 and {MAX_TOP_K}")
    settings = get_settings()
    where = None
    if args.where:
        try:
            where = json.loads(args.where)
        except ValueError as exc:
            from reportrag.errors import InputError

            raise InputError(f"--where is not valid JSON ({exc})") from exc
    filters = build_filters(
        lang=args.lang, doc_id=args.doc_id, section=args.section, kind=args.kind, metadata=where
    )
    embedder = embedder_from_settings(settings)
    store = open_collection(settings, embedder)
    service = service_from_settings(embedder, store, settings)
    result = service.search(
        args.query, top_k=args.top_k, filters=filters, mode=args.mode, min_score=args.min_score
    )
    service.close()
    store.close()
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False))
        return 0
    print(f"{len(result.hits)} hits ({result.mode}, {result.took_ms:.0f} ms)")
    for i, h in enumerate(result.hits, 1):
        c = h.chunk
        text = " ".join(c.text.split())
        page = f"  p. {c.page}" if c.page else ""
        print(f"\n[{i}] {h.score:.4f}  {c.lang}  {c.doc_id}{page}  § {c.section or '-'}")
        print(f"    {text[:300]}{'…' if len(text) > 300 else ''}")
    return 0
