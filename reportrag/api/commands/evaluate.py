"""``reportrag eval QUERIES.jsonl``: recall@1/5/10 and MRR@10 per language pair and mode."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from reportrag.settings import get_settings
from reportrag.wiring import embedder_from_settings, open_collection


def register(sub: argparse._SubParsersAction) -> None:
    e = sub.add_parser("eval", help="evaluate retrieval on a queries.jsonl file")
    e.add_argument("queries", type=Path, metavar="QUERIES.jsonl")
    e.add_argument(
        "--modes", default="", help="comma-separated modes (default: every mode the store supports)"
    )
    e.add_argument("--json", type=Path, metavar="OUT", help="also write the results as JSON")
    e.add_argument(
        "--show-misses", action="store_true", help="list queries not found in the top 10"
    )
    e.set_defaults(func=_eval)


def _eval(args: argparse.Namespace) -> int:
    from reportrag.search.evaluate import load_queries
    from reportrag.search.run_eval import evaluate_modes

    queries = load_queries(args.queries)
    settings = get_settings()
    embedder = embedder_from_settings(settings)
    store = open_collection(settings, embedder)
    from reportrag.search.service import service_from_settings

    service = service_from_settings(embedder, store, settings)
    default_modes = [*(m for m in service.modes() if m != "auto"), "auto"]
    modes = [m for m in args.modes.split(",") if m] or default_modes
    report = evaluate_modes(service, queries, modes)
    service.close()
    store.close()
    from reportrag.search.evaluate import format_table

    print(format_table(report["summary"]))
    if args.show_misses:
        for mode, misses in report["misses"].items():
            for m in misses:
                print(f"miss [{mode}] {m['id']} {m['cat']}: {m['q']}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
        )
    return 0
