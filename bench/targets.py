"""The product targets of issue #6, checked against the committed bench/results/*.json.

    .venv/bin/python -m bench.tables targets     # the table docs/benchmarks.md shows

Each check reads the result files it needs and says what was measured (with the commit of
the run) and whether the target is met, so the summary in docs/benchmarks.md is computed
from the same numbers as the tables below it, never typed by hand. A check whose result
file is missing says so instead of guessing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import cpu_label

Results = dict[str, dict[str, Any]]


@dataclass(frozen=True)
class Check:
    target: str
    measured: str
    met: str  # "yes", "**no**", "**partly**: …" or "no result"


def load(results: Path, names: tuple[str, ...], variant: str = "") -> Results:
    """The result files by name; with a variant, ``NAME-VARIANT.json`` under the plain name."""
    out: Results = {}
    for name in names:
        path = results / (f"{name}-{variant}.json" if variant else f"{name}.json")
        if path.exists():
            out[name] = json.loads(path.read_text(encoding="utf-8"))
    return out


def _commit(d: dict[str, Any]) -> str:
    """" (`abc1234`, AMD EPYC)": the run's commit and CPU, as far as its result records them."""
    m = d.get("machine") or {}
    parts = [f"`{m['commit']}`"] if m.get("commit") else []
    parts += [cpu_label(m)] if m.get("cpu") else []
    return f" ({', '.join(parts)})" if parts else ""


def _verdict(runs: list[tuple[str, bool]]) -> str:
    """One run: yes / no. Several: yes when all meet it, no when none, else which do."""
    if all(ok for _, ok in runs):
        return "yes"
    if not any(ok for _, ok in runs):
        return "**no**"
    return "**partly**: " + ", ".join(f"{label} {'yes' if ok else 'no'}" for label, ok in runs)


def _pairs(summary: dict[str, dict[str, float]], min_n: int) -> dict[str, dict[str, float]]:
    """The language pairs (``en>zh``; not ``en>*``, ``cross`` or ``overall``) with ≥ min_n."""
    return {k: v for k, v in summary.items() if ">" in k and "*" not in k and v["n"] >= min_n}


def dev_recall5(r: Results) -> Check:
    target = "dev recall@5 ≥ 0.95 overall and per pair with ≥ 5 queries"
    if "eval-dev" not in r:
        return Check(target, "no eval-dev result", "no result")
    auto = r["eval-dev"]["summary"]["auto"]
    pairs = _pairs(auto, 5)
    measured = f"overall {auto['overall']['recall@5']:.3f}" + "".join(
        f"; {k} {v['recall@5']:.3f} (n {v['n']})" for k, v in pairs.items())
    ok = auto["overall"]["recall@5"] >= 0.95 and all(v["recall@5"] >= 0.95 for v in pairs.values())
    if "eval-extended" in r:
        ext = r["eval-extended"]["summary"]["auto"]
        under = [f"{k} {v['recall@5']:.3f}" for k, v in _pairs(ext, 5).items()
                 if v["recall@5"] < 0.95]
        measured += (f" (extended set: overall {ext['overall']['recall@5']:.3f}"
                     + (f"; under 0.95: {', '.join(under)}" if under else "") + ")")
    return Check(target, measured, _verdict([("dev", ok)]))


def dev_recall1(r: Results) -> Check:
    target = "dev recall@1 ≥ 0.8 overall"
    if "eval-dev" not in r:
        return Check(target, "no eval-dev result", "no result")
    value = r["eval-dev"]["summary"]["auto"]["overall"]["recall@1"]
    measured = f"{value:.3f}"
    if "eval-extended" in r:
        measured += (f" (extended set: "
                     f"{r['eval-extended']['summary']['auto']['overall']['recall@1']:.3f})")
    return Check(target, measured, _verdict([("dev", value >= 0.8)]))


HTTP_RUNS = (("http", "Lite (default)"), ("http-server", "Milvus server, 1 worker"),
             ("http-server-2w", "Milvus server, 2 workers"))


def http_c1(r: Results) -> Check:
    target = "HTTP, concurrency 1: p50 < 30 ms, p99 < 80 ms"
    runs, parts = [], []
    for name, label in HTTP_RUNS[:2]:
        if name in r:
            c1 = r[name]["closed"]["1"]
            runs.append((label, c1["p50_ms"] < 30 and c1["p99_ms"] < 80 and not c1["errors"]))
            parts.append(f"{label}: p50 {c1['p50_ms']}, p99 {c1['p99_ms']}{_commit(r[name])}")
    if not runs:
        return Check(target, "no HTTP result", "no result")
    return Check(target, "; ".join(parts), _verdict(runs))


def http_c16(r: Results) -> Check:
    target = "≥ 50 QPS at concurrency 16 with p99 < 250 ms"
    runs, parts = [], []
    for name, label in HTTP_RUNS:
        if name in r:
            c16 = r[name]["closed"]["16"]
            runs.append((label, c16["qps"] >= 50 and c16["p99_ms"] < 250 and not c16["errors"]))
            parts.append(f"{label}: {c16['qps']} QPS, p99 {c16['p99_ms']} (sustainable at "
                         f"p99 < 250 ms: {r[name]['max_sustainable_qps']}){_commit(r[name])}")
    if not runs:
        return Check(target, "no HTTP result", "no result")
    return Check(target, "; ".join(parts), _verdict(runs))


def ingest(r: Results) -> Check:
    target = "corpus ingest cold < 60 s; unchanged re-run < 5 s"
    if "ingest" not in r:
        return Check(target, "no ingest result", "no result")
    best = r["ingest"]["best"]
    cold, rerun = best["cold"]["wall_s"], best["rerun"]["wall_s"]
    measured = f"cold {cold} s, re-run {rerun} s"
    if "rerun_full" in best:
        measured += (" (`--full`, every document re-read and compared: "
                     f"{best['rerun_full']['wall_s']} s)")
    return Check(target, measured + _commit(r["ingest"]),
                 _verdict([("cold", cold < 60), ("re-run", rerun < 5)]))


def _baseline(r: Results, target: str, measure: Callable[[dict[str, Any]], Check]) -> Check:
    return measure(r["baseline"]) if "baseline" in r else Check(target, "no baseline result",
                                                                 "no result")


def baseline_ingest(r: Results) -> Check:
    target = "vs LangChain: ingest ≥ 1.5× faster"

    def measure(d: dict[str, Any]) -> Check:
        x = d["ratios"]["ingest_speedup"]
        return Check(target, f"{x}× (ours {d['ingest']['ours']['wall_s']} s, the baseline "
                     f"{d['ingest']['baseline']['wall_s']} s){_commit(d)}",
                     _verdict([("ingest", x >= 1.5)]))

    return _baseline(r, target, measure)


def baseline_p50(r: Results) -> Check:
    target = "vs LangChain: query p50 ≤ 0.5×"

    def measure(d: dict[str, Any]) -> Check:
        ratios, lat = d["ratios"], d["latency"]
        auto, dense = ratios["query_p50_ratio"], ratios.get("query_p50_ratio_dense")
        measured = f"`auto` (the default) {auto}× (ours {lat['ours']['p50_ms']} ms)"
        if dense is not None:
            measured += f", `dense` {dense}× ({lat['ours_dense']['p50_ms']} ms)"
        measured += f"; the baseline {lat['baseline']['p50_ms']} ms{_commit(d)}"
        runs = [("`auto`", auto <= 0.5)] + ([("`dense`", dense <= 0.5)] if dense is not None
                                             else [])
        return Check(target, measured, _verdict(runs))

    return _baseline(r, target, measure)


def baseline_recall(r: Results) -> Check:
    target = "vs LangChain: recall@5 higher"

    def measure(d: dict[str, Any]) -> Check:
        deltas = {k.removeprefix("recall@5_").removesuffix("_delta"): v
                  for k, v in d["ratios"].items() if k.startswith("recall@5_")}
        measured = ", ".join(f"{s} {v:+.3f}" for s, v in deltas.items())
        return Check(target, measured + _commit(d),
                     _verdict([(s, v > 0) for s, v in deltas.items()]))

    return _baseline(r, target, measure)


def scale(r: Results) -> Check:
    target = "1M vectors on the Milvus server: recall@10 ≥ 0.95 with filtered p99 < 50 ms"
    if "scale-1m" not in r:
        return Check(target, "no scale-1m result", "no result")
    d = r["scale-1m"]
    ef = d["chosen_ef"]["ef"]
    rows = [s for s in d["search"] if s["index"] == "HNSW" and s["value"] == ef]
    if not rows:
        return Check(target, f"no HNSW search at the chosen ef {ef}", "no result")
    filtered = [s for s in rows if s["filter"] != "none"]
    unfiltered = [s for s in rows if s["filter"] == "none"]
    worst = min(s["recall@10"] for s in rows)
    p99 = max(s["p99_ms"] for s in filtered)
    measured = (f"HNSW ef {ef}: recall@10 "
                + (f"{unfiltered[0]['recall@10']:.3f} unfiltered, " if unfiltered else "")
                + f"{min(s['recall@10'] for s in filtered):.3f}-"
                  f"{max(s['recall@10'] for s in filtered):.3f} filtered; filtered p99 ≤ {p99} ms"
                + _commit(d))
    return Check(target, measured, _verdict([("scale", worst >= 0.95 and p99 < 50)]))


CHECKS = (dev_recall5, dev_recall1, http_c1, http_c16, ingest, baseline_ingest, baseline_p50,
          baseline_recall, scale)
FILES = ("eval-dev", "eval-extended", "http", "http-server", "http-server-2w", "ingest",
         "baseline", "scale-1m")


def checks(results: Path, variant: str = "") -> list[Check]:
    loaded = load(results, FILES, variant)
    return [check(loaded) for check in CHECKS]
