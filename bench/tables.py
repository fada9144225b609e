"""The markdown tables of docs/benchmarks.md, printed from bench/results/*.json.

    .venv/bin/python -m bench.tables [--results bench/results]

Paste its output over the tables in docs/benchmarks.md after a benchmark run, so the doc
shows what the committed results say (the scale tables come from ``bench.scale_report``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def _load(results: Path, name: str) -> dict[str, Any] | None:
    path = results / f"{name}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def _machine(d: dict[str, Any]) -> str:
    m = d["machine"]
    return f"_commit `{m['commit']}`, {m['date']}, load average {m['loadavg_1m']} at start_"


def _row(*cells: object) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _head(*cols: str) -> list[str]:
    """Header and rule; a column named with a trailing ':' is right-aligned (numbers)."""
    names = [c.rstrip(":") for c in cols]
    rule = ["---:" if c.endswith(":") else "---" for c in cols]
    return [_row(*names), _row(*rule)]


def embedding(d: dict[str, Any]) -> list[str]:
    out = [_machine(d), "", *_head("passage engine", "precision", "batch:", "passages/s:",
                                   "min cosine vs fp32:")]
    for e in d["passage_engines"]:
        out.append(_row(e["engine"], e["precision"], e["batch"] or "-", e["passages_per_s"],
                        e["cos_min"]))
    out += ["", *_head("query engine", "precision", "threads:", "other core busy", "p50 ms:",
                       "p95 ms:", "p99 ms:", "min cosine vs fp32:")]
    for e in d["query_engines"]:
        out.append(_row(e["engine"], e.get("precision", "-"), e["threads"],
                        "yes" if e["other_core_busy"] else "no", e["p50_ms"], e["p95_ms"],
                        e["p99_ms"], e.get("cos_min", "-")))
    return out


def ingest(d: dict[str, Any]) -> list[str]:
    out = [_machine(d), "", *_head("run", "wall s:", "pipeline s:", "embedding s:", "chunks:",
                                   "embedded:", "documents skipped:", "peak RSS MB:")]
    for name, r in d["best"].items():
        out.append(_row(name, r["wall_s"], r["pipeline_s"], r["embed_s"], r["chunks"],
                        r["embedded"], r["skipped_documents"], r["peak_rss_mb"]))
    return out


def http(d: dict[str, Any]) -> list[str]:
    out = [_machine(d) + f"; {d['workers']} worker(s), Milvus: {d['milvus']}", "",
           *_head("load", "requests:", "errors:", "QPS:", "p50 ms:", "p95 ms:", "p99 ms:")]
    for kind, label in (("closed", "concurrency {}"), ("open", "{} requests/s")):
        for key, r in d[kind].items():
            out.append(_row(label.format(key), r["completed"], r["errors"], r["qps"],
                            r["p50_ms"], r["p95_ms"], r["p99_ms"]))
    out += ["", f"Max sustainable QPS (open loop, p99 < 250 ms, no errors): "
            f"**{d['max_sustainable_qps']}**; server RSS {d['server_rss_mb_ready']} MB ready, "
            f"{d['server_rss_mb_end']} MB at the end."]
    return out


def baseline(d: dict[str, Any]) -> list[str]:
    sets = list(d["quality"]["ours"])
    out = [_machine(d), "", *_head("side", "ingest wall s:", "peak RSS MB:", "chunks:",
                                   "query p50 ms:", "p99 ms:", *(f"{s} R@1 / R@5" for s in sets))]
    for side, lat in d["latency"].items():
        ing = d["ingest"]["ours" if side.startswith("ours") else side]
        q = d["quality"][side]
        recall = (f"{q[s]['overall']['recall@1']:.3f} / {q[s]['overall']['recall@5']:.3f}"
                  for s in sets)
        out.append(_row(side, ing["wall_s"], ing["peak_rss_mb"], ing["chunks"], lat["p50_ms"],
                        lat["p99_ms"], *recall))
    rounds = d.get("latency_rounds") or []
    if rounds:
        out += ["", f"Query p50 ms per round ({len(rounds)} rounds, the sides' order rotating): "
                + "; ".join(", ".join(f"{side} {r[side]['p50_ms']}" for side in r)
                            for r in rounds)]
    ratios = ", ".join(f"`{k}` {v}" for k, v in d["ratios"].items())
    out += ["", ("Ratios (query p50/p99: median of the rounds' ratios): " if rounds
                 else "Ratios: ") + ratios]
    return out


def soak(d: dict[str, Any]) -> list[str]:
    lat, rss, m = d["latency_ms"], d["server_rss"], d["machine"]
    when = f", {m['date']}" if "date" in m else ""
    return [f"_commit `{m['commit']}`{when}, load average {d['loadavg_start'][0]} at start, "
            f"{d['loadavg_end'][0]} at the end_", "",
            *_head("requests:", "errors:", "QPS:", "p50 ms:", "p95 ms:", "p99 ms:", "max ms:",
                   "RSS MB start → end (max)"),
            _row(f"{d['completed']} / {d['planned']}", d["errors"], d["achieved_qps"],
                 lat["p50"], lat["p95"], lat["p99"], lat["max"],
                 f"{rss['start_mb']} → {rss['end_mb']} ({rss['max_mb']})")]


SECTIONS = {"embedding": embedding, "ingest": ingest, "http": http, "http-fp32": http,
            "http-inline": http, "http-server": http,
            "baseline": baseline, "soak": soak}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", type=Path, default=Path("bench/results"))
    args = ap.parse_args(argv)
    for name, render in SECTIONS.items():
        data = _load(args.results, name)
        print(f"<!-- {name} -->")
        print("\n".join(render(data)) if data else f"(no bench/results/{name}.json)")
        print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
