"""``reportrag model info`` and ``reportrag embed``: what model runs, and its vectors."""

from __future__ import annotations

import argparse
import json

from reportrag.settings import get_settings
from reportrag.wiring import embedder_from_settings


def register(sub: argparse._SubParsersAction) -> None:
    model = sub.add_parser("model", help="the embedding model")
    msub = model.add_subparsers(dest="model_command", required=True, metavar="ACTION")
    info = msub.add_parser("info", help="model name, source, engines, dimension, fingerprint")
    info.add_argument("--json", action="store_true", help="print one JSON object")
    info.set_defaults(func=_info)

    embed = sub.add_parser("embed", help="print the vectors of TEXT (prefix applied)")
    embed.add_argument("texts", nargs="+", metavar="TEXT")
    embed.add_argument("--query", action="store_true", help="embed as queries (default: passages)")
    embed.add_argument("--json", action="store_true", help="print JSON")
    embed.set_defaults(func=_embed)


def _info(args: argparse.Namespace) -> int:
    emb = embedder_from_settings(get_settings())
    spec = emb.spec
    out = {
        "model": spec.name,
        "source": spec.source,
        "path": spec.path,
        "engines": emb.engines(),
        "precisions": emb.precisions(),
        "dim": spec.dim,
        "max_tokens": spec.max_tokens,
        "prompts": {"query": spec.prompts.query, "document": spec.prompts.document},
        "fingerprint": emb.fingerprint(),
    }
    if args.json:
        print(json.dumps(out, ensure_ascii=False))
    else:
        for key, val in out.items():
            print(
                f"{key:11} {json.dumps(val, ensure_ascii=False) if isinstance(val, dict) else val}"
            )
    return 0


def _embed(args: argparse.Namespace) -> int:
    emb = embedder_from_settings(get_settings())
    vecs = emb.embed_query(args.texts) if args.query else emb.embed_documents(args.texts)
    if args.json:
        print(
            json.dumps(
                {
                    "model": emb.spec.name,
                    "dim": emb.dim,
                    "role": "query" if args.query else "document",
                    "vectors": [[round(float(x), 7) for x in v] for v in vecs],
                }
            )
        )
    else:
        for text, v in zip(args.texts, vecs, strict=True):
            head = " ".join(f"{x:+.4f}" for x in v[:6])
            print(f"{text[:40]!r}: dim={len(v)} [{head} ...]")
    return 0
