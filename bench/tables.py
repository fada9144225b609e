"""The result tables of docs/benchmarks.md, docs/benchmarks-history.md and docs/evaluation.md,
from bench/results/*.json.

    .venv/bin/python -m bench.tables [--results bench/results] [NAME...]   # print them
    .venv/bin/python -m bench.tables --write     # after a benchmark run: update the docs
    .venv/bin/python -m bench.tables --check     # exit 1 when a doc's table is stale

In a doc each table sits between ``<!-- bench.tables NAME -->`` and
``<!-- /bench.tables -->`` lines (HTML comments, invisible when rendered; a blank line
on either side of the table); ``--write`` replaces
what is between them, so the docs show what the committed results say. The scale tables
are ``bench.scale_report --markdown``'s, the summary of targets ``bench.targets``'.
``tests/test_docs_tables.py`` runs the check.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from bench.common import cpu_label
from bench.ingest import precision_table


def _load(results: Path, name: str) -> dict[str, Any] | None:
    path = results / f"{name}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def _machine(d: dict[str, Any]) -> str:
    m = d["machine"]
    cpu = f", {cpu_label(m)}" if m.get("cpu") else ""
    end = f", {d['loadavg_1m_end']} at the end" if "loadavg_1m_end" in d else ""
    return (f"_commit `{m['commit']}`, {m['date']}{cpu}, load average {m['loadavg_1m']} at "
            f"start{end}_")


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
        rounds = " / ".join(map(str, e.get("rounds_passages_per_s", [])))
        out.append(_row(e["engine"], e["precision"], e["batch"] or "-", e["passages_per_s"]
                        if not rounds else f"{e['passages_per_s']} ({rounds})", e["cos_min"]))
    if not d["query_engines"]:  # a passages-only run
        return out
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


def stages(d: dict[str, Any]) -> list[str]:
    """bench/stages.py: per mode that ran, the request and every store and embedder call."""
    out = [_machine(d) + f"; Milvus: {d['milvus']}; {d['queries']} queries × {d['rounds']} "
           f"rounds, top_k {d['top_k']}, one at a time", "",
           *_head("asked → ran", "requests:", "request p50 / p95 ms", "call",
                  "calls a request:", "p50 ms a call:")]
    for asked, modes in d["modes"].items():
        for ran, m in modes.items():
            head = [f"{asked} → {ran}", m["requests"],
                    f"{m['request']['p50_ms']} / {m['request']['p95_ms']}"]
            for name, c in m["calls"].items():
                out.append(_row(*head, f"`{name}`", c["per_request"], c["p50_ms"]))
                head = ["", "", ""]
    return out


def _metrics(m: dict[str, float], *keys: str) -> str:
    """Metrics of one summary row, three decimals each: "0.812 / 1.000"."""
    return " / ".join(f"{m[k]:.3f}" for k in keys)


def evaluation(d: dict[str, Any]) -> list[str]:
    """Per pair: dense and hybrid R@1 / R@5, auto R@1 / R@5 / R@10 and MRR@10 (eval JSON)."""
    summary = d["summary"]
    out = _head("pair", "n:", "dense R@1 / R@5", "hybrid R@1 / R@5",
                "**auto** R@1 / R@5 / R@10", "auto MRR@10:")
    for key, auto in summary["auto"].items():
        at = _metrics(auto, "recall@1", "recall@5", "recall@10")
        overall = key == "overall"
        out.append(_row("**overall**" if overall else key, auto["n"],
                        _metrics(summary["dense"][key], "recall@1", "recall@5"),
                        _metrics(summary["hybrid"][key], "recall@1", "recall@5"),
                        f"**{at}**" if overall else at, _metrics(auto, "mrr@10")))
    return out


def tuning(d: dict[str, Any]) -> list[str]:
    """The knob sweep of bench/tuning.py: each setting against the default, both sets."""
    real = all("pairs-dev" in r for r in d["rows"])
    head = ["setting", "dev R@1 / R@5 / MRR@10", "extended R@1 / R@5 / R@10 / MRR@10",
            "extended better / worse"]
    if real:
        head += ["pairs-dev R@1 / R@5 / MRR@10", "pairs-dev cross R@1 / R@5",
                 "pairs-dev better / worse"]
    out = [_machine(d) + f"; mode `{d['mode']}`", "", *_head(*head)]
    for r in d["rows"]:
        dev, ext = r["dev"]["summary"], r["extended"]["summary"]
        label = "**default**" if r["setting"] == "default" else f"`{r['setting']}`"
        cells = [label, _metrics(dev, "recall@1", "recall@5", "mrr@10"),
                 _metrics(ext, "recall@1", "recall@5", "recall@10", "mrr@10"),
                 f"{r['extended']['better']} / {r['extended']['worse']}"]
        if real:
            p = r["pairs-dev"]
            cells += [_metrics(p["summary"], "recall@1", "recall@5", "mrr@10"),
                      _metrics(p["cross"], "recall@1", "recall@5"),
                      f"{p['better']} / {p['worse']}"]
        out.append(_row(*cells))
    return out


def pairs(d: dict[str, Any]) -> list[str]:
    """Translation-pair detection without a manifest (bench/pairs.py): per set."""
    out = [_machine(d) + f"; threshold {d['threshold']}", "",
           *_head("set", "documents:", "true pairs:", "found:", "precision:", "recall:",
                  "lowest true score:", "highest false score:", "detection s:")]
    for name, r in d["sets"].items():
        low = r["lowest_true_scores"][0]["score"] if r["lowest_true_scores"] else "-"
        high = r["highest_false_scores"][0]["score"] if r["highest_false_scores"] else "-"
        seconds = r["detection_seconds"]
        out.append(_row(f"`{name}`", r["documents"], r["true_pairs"], r["found_pairs"],
                        f"{r['precision']:.3f}", f"{r['recall']:.3f}", low, high,
                        f"{seconds['score'] + seconds['load_from_store']:.1f}"))
    return out


REALDOC_CATEGORIES = ("overall", "mono", "cross", "en>en", "zh>zh", "en>zh", "zh>en", "de>*")


def realdocs(d: dict[str, Any]) -> list[str]:
    """Real documents ingested with no manifest (bench/realdocs.py): R@1 / R@5 per category,
    each reportrag mode and the LangChain pipeline when it ran."""
    ing = d["ingest"]
    sides = [(f"reportrag `{mode}`", q) for mode, q in d["quality"].items()]
    sides.sort(key=lambda s: (s[0] != "reportrag `auto`", s[0] != "reportrag `hybrid`"))
    if d.get("baseline"):
        sides.append(("LangChain (true languages given)", d["baseline"]["quality"]))
    head = (f"{_machine(d)}; {ing['documents']} documents, {ing['chunks']} chunks, "
            f"{len(ing['alignments'])} pairs aligned; R@1 / R@5")
    out = [head, "", *_head("side", *(f"{c}:" for c in REALDOC_CATEGORIES))]
    for name, q in sides:
        out.append(_row(name, *(_metrics(q[c], "recall@1", "recall@5") if c in q else "-"
                                for c in REALDOC_CATEGORIES)))
    return out


def observability(d: dict[str, Any]) -> list[str]:
    """What request ids, metrics and (off) tracing cost (bench/observability.py)."""
    out = [_machine(d) + f"; {d['rounds']} rounds alternated, medians; {d['n1']} requests at "
           f"c=1, {d['n16']} at c=16", "",
           *_head("server", "c=1 p50 ms:", "c=16 QPS:", "p50 vs before ms:",
                  "QPS vs before:")]
    for name, r in d["summary"].items():
        delta = (f"{r['c1_p50_delta_ms']:+.3f}", f"{r['c16_qps_change_pct']:+.2f} %") \
            if "c1_p50_delta_ms" in r else ("—", "—")
        label = f"before (`{d['before']}`)" if name == "before" else name
        out.append(_row(label, r["c1_p50_ms"], r["c16_qps"], *delta))
    m = d["micro"]
    out += ["", f"In-process, best of five batches: a request through the request-id and metrics "
            f"middleware {m['request_context_metrics_on_us'] - m['bare_app_us']:.1f} µs (metrics "
            f"off: {m['request_context_metrics_off_us'] - m['bare_app_us']:.1f} µs), one timed "
            f"stage {m['stage_metrics_on_us']} µs, one timed Milvus call "
            f"{m['milvus_call_metrics_on_us']} µs (tracing off); about "
            f"**{m['per_search_us']} µs per hybrid search** in all."]
    return out


def chunking(d: dict[str, Any]) -> list[str]:
    """The chunk-size sweep of bench/chunking.py: one fresh ingestion per size, both sets."""
    out = [_machine(d) + f"; mode `{d['mode']}`", "",
           *_head("tokens / overlap", "chunks:", "ingest s:", "dev R@1 / R@5 / MRR@10",
                  "extended R@1 / R@5 / R@10 / MRR@10", "extended better / worse")]
    for r in d["rows"]:
        dev, ext = r["dev"]["summary"], r["extended"]["summary"]
        label = f"{r['tokens']} / {r['overlap']}"
        if [r["tokens"], r["overlap"]] == list(d["default"]):
            label = f"**{label} (default)**"
        out.append(_row(label, r["chunks"], r["ingest_wall_s"],
                        _metrics(dev, "recall@1", "recall@5", "mrr@10"),
                        _metrics(ext, "recall@1", "recall@5", "recall@10", "mrr@10"),
                        "—" if r["extended"]["better"] is None
                        else f"{r['extended']['better']} / {r['extended']['worse']}"))
    return out


def targets(results: Path, variant: str = "") -> str | None:
    """The targets of issue #6 against the results (bench/targets.py), or None with none.

    With a ``variant`` (``avx2``: the runs on a CPU without AVX-512), the results named
    ``NAME-variant.json``, and only the targets those runs measure.
    """
    from bench import targets as t

    rows = t.checks(results, variant)
    if variant:
        rows = [c for c in rows if c.met != "no result"]
    if all(c.met == "no result" for c in rows):
        return None
    return "\n".join([*_head("target (2-core CPU machine)", "measured", "met?"),
                      *(_row(c.target, c.measured, c.met) for c in rows)])


def scale(results: Path) -> str | None:
    """The scale tables (several result files), as ``bench.scale_report --markdown`` prints."""
    from bench import scale_report

    runs = scale_report.load_results(results)
    if not runs:
        return None
    return scale_report.markdown(runs, scale_report.load_results(results, variants=True)).strip()


SECTIONS = {"embedding": embedding, "ingest": ingest, "http": http, "http-fp32": http,
            "http-inline": http, "http-server": http, "http-server-2w": http,
            "baseline": baseline, "soak": soak, "stages": stages,
            # the same runs on a CPU without AVX-512 (docs/benchmarks.md)
            "ingest-avx2": ingest, "http-avx2": http, "baseline-avx2": baseline,
            "embedding-avx2": embedding, "stages-avx2": stages,
            "eval-dev": evaluation, "eval-extended": evaluation, "tuning": tuning,
            "chunking": chunking, "pairs": pairs, "realdocs": realdocs,
            "observability": observability, "embedding-passages": embedding,
            "ingest-int8": precision_table}
# The doc each table belongs in (``scale`` is rendered from every scale-*.json).
DOCS = {**{name: "docs/evaluation.md"
           if name.startswith("eval-") or name in ("tuning", "chunking", "pairs", "realdocs")
           else "docs/benchmarks.md" for name in SECTIONS}, "scale": "docs/benchmarks.md",
        "targets": "docs/benchmarks.md", "targets-avx2": "docs/benchmarks.md",
        # settings measured in earlier rounds only: kept with the record of those rounds
        "http-fp32": "docs/benchmarks-history.md", "http-inline": "docs/benchmarks-history.md"}
# A table in a doc sits between these two lines; --write replaces what is between them. The
# body never spans another marker, so an empty block (the two lines and a blank line between
# them: how a new table is placed) or a begin line without its end cannot swallow the tables
# after it.
BLOCK = re.compile(r"^<!-- bench\.tables (\S+) -->\n\n"
                   r"(?:((?:(?!<!-- /?bench\.tables).)*?)\n\n)?<!-- /bench\.tables -->$",
                   re.S | re.M)


def render(results: Path, name: str) -> str | None:
    """The markdown of one table, or None when its result file is missing."""
    if name == "scale":
        return scale(results)
    if name.startswith("targets"):
        return targets(results, name.removeprefix("targets").removeprefix("-"))
    data = _load(results, name)
    return "\n".join(SECTIONS[name](data)) if data else None


def blocks(text: str) -> dict[str, str]:
    """The marked tables of a doc: name -> the markdown between its markers."""
    found: dict[str, str] = {}
    for m in BLOCK.finditer(text):
        if m.group(1) in found:
            raise ValueError(f"table {m.group(1)!r} is marked twice")
        found[m.group(1)] = m.group(2) or ""
    return found


def update(root: Path, results: Path, *, write: bool) -> tuple[list[str], list[str]]:
    """(stale, problems): the marked tables ("doc: name") whose text differs from their
    render, fixed in place with ``write``; and what writing cannot fix: tables that have a
    result but no block in their doc, blocks of unknown names or without a result.
    """
    stale: list[str] = []
    problems: list[str] = []
    for doc in sorted(set(DOCS.values())):
        path = root / doc
        text = path.read_text(encoding="utf-8")
        marked = blocks(text)
        for name in marked:
            if DOCS.get(name) != doc:
                problems.append(f"{doc}: block {name!r} is not a table of this doc")
        fresh: dict[str, str] = {}
        for name in (n for n, d in DOCS.items() if d == doc):
            rendered = render(results, name)
            if rendered is None:
                if name in marked:
                    problems.append(f"{doc}: {name} has a block but no result file")
                continue
            if name not in marked:
                problems.append(f"{doc}: no block for {name} (its result file exists)")
            elif marked[name] != rendered:
                stale.append(f"{doc}: {name}")
                fresh[name] = rendered
        if write and fresh:
            def sub(m: re.Match[str], fresh: dict[str, str] = fresh) -> str:
                body = fresh.get(m.group(1), m.group(2) or "")
                inner = f"{body}\n\n" if body else ""
                return f"<!-- bench.tables {m.group(1)} -->\n\n{inner}<!-- /bench.tables -->"

            path.write_text(BLOCK.sub(sub, text), encoding="utf-8")
    return stale, problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", type=Path, default=Path("bench/results"))
    ap.add_argument("--root", type=Path, default=Path("."), help="where docs/ is")
    what = ap.add_mutually_exclusive_group()
    what.add_argument("--write", action="store_true",
                      help="replace the marked tables in docs/ with fresh ones")
    what.add_argument("--check", action="store_true",
                      help="exit 1 when a marked table in docs/ differs from its results")
    ap.add_argument("names", nargs="*", metavar="NAME",
                    help=f"tables to print (default: all): {', '.join(DOCS)}")
    args = ap.parse_args(argv)
    if args.write or args.check:
        if args.names:
            ap.error("--write and --check work on every table; name none")
        stale, problems = update(args.root, args.results, write=args.write)
        for table in stale:
            print(f"{table} {'rewritten' if args.write else 'is stale'}", file=sys.stderr)
        for problem in problems:
            print(problem, file=sys.stderr)
        return 1 if problems or (stale and not args.write) else 0
    unknown = [n for n in args.names if n not in DOCS]
    if unknown:
        ap.error(f"unknown table(s) {', '.join(unknown)}; known: {', '.join(DOCS)}")
    for name in args.names or DOCS:
        text = render(args.results, name)
        print(f"<!-- bench.tables {name} -->\n")
        print(text if text is not None else f"(no result file for {name} in {args.results})")
        print("\n<!-- /bench.tables -->\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
