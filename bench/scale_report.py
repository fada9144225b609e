"""Plots of the scale benchmark results (bench/results/scale-*.json) as PNGs.

    .venv/bin/python -m bench.scale_report [--results bench/results] [--out docs/img]

Installs matplotlib (the ``bench`` extra, pinned by requirements.lock) into the running
interpreter's environment when it is missing: a bench dependency, not a runtime one.
"""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent

MARKERS = {"HNSW": "o", "IVF_FLAT": "s", "IVF_SQ8": "^", "FLAT": "*"}
FILTER_LABELS = {
    "none": "unfiltered",
    "lang_zh": "lang == zh",
    "doc_ids": "doc_id in [10 docs]",
    "date_1y": "one-year date range",
}


def _pyplot() -> Any:
    try:
        importlib.import_module("matplotlib")
    except ImportError:
        # The version requirements.lock pins for the "bench" extra, as scripts/bench.sh does.
        print("installing matplotlib (the bench extra, plots only)", file=sys.stderr)
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             "-c", str(REPO / "requirements.lock"), "-e", f"{REPO}[bench]"],
            check=True,
        )
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _label(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 and n % 1_000_000 == 0 else f"{n // 1000}k"


def load_results(results: Path, variants: bool = False) -> list[dict[str, Any]]:
    """Every scale result (only the variant runs, with ``variants``), smallest N first."""
    runs = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(results.glob("scale-*.json"))]
    main = (r for r in runs if r.get("bench") == "scale" and bool(r.get("variant")) == variants)
    return sorted(main, key=lambda r: r["n"])


def _restart(r: dict[str, Any], variants: list[dict[str, Any]]) -> dict[str, Any]:
    """The restart measurement of a run, or of a variant run of the same N."""
    if "restart" in r:
        return r["restart"]
    return next(v["restart"] for v in variants if v["n"] == r["n"] and "restart" in v)


def plot_recall_latency(plt: Any, run: dict[str, Any], out: Path) -> Path:
    """recall@10 vs p50 latency for every index and ef/nprobe, one panel per filter."""
    fig, axes = plt.subplots(1, 4, figsize=(17, 4.2), sharey=True)
    for ax, filt in zip(axes, FILTER_LABELS, strict=True):
        for kind, marker in MARKERS.items():
            rows = [r for r in run["search"] if r["index"] == kind and r["filter"] == filt]
            if not rows:
                continue
            xs, ys = [r["p50_ms"] for r in rows], [r["recall@10"] for r in rows]
            ax.plot(xs, ys, marker=marker, label=kind)
            for r in rows:
                if r["param"] != "-":
                    ax.annotate(str(r["value"]), (r["p50_ms"], r["recall@10"]), fontsize=7,
                                textcoords="offset points", xytext=(3, -9))
        ax.set_title(FILTER_LABELS[filt], fontsize=10)
        ax.set_xlabel("p50 latency (ms, single client)")
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(plt.matplotlib.ticker.ScalarFormatter())
        ax.xaxis.set_minor_formatter(plt.matplotlib.ticker.ScalarFormatter())
        ax.tick_params(axis="x", which="minor", labelsize=7)
        ax.axhline(0.95, color="grey", lw=0.6, ls="--")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("recall@10 vs exact search")
    axes[0].legend(fontsize=8, title="labels: ef / nprobe", title_fontsize=7)
    fig.suptitle(f"{_label(run['n'])} chunks, 384-d, Milvus {run['machine']['milvus']}, "
                 f"{run['machine']['cpus']} cores", fontsize=11)
    fig.tight_layout()
    path = out / f"scale-recall-latency-{_label(run['n'])}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _hnsw_at(run: dict[str, Any], filt: str, key: str) -> float | None:
    ef = (run.get("chosen_ef") or {}).get("ef") or 64
    for r in run["search"]:
        if r["index"] == "HNSW" and r["value"] == ef and r["filter"] == filt:
            return float(r[key])
    return None


def plot_scale(plt: Any, runs: list[dict[str, Any]], out: Path) -> Path:
    """How build time, memory, disk and latency grow with N (HNSW at the chosen ef)."""
    ns = [r["n"] for r in runs]
    fig, axes = plt.subplots(1, 4, figsize=(17, 4))
    for kind, marker in MARKERS.items():
        xs = [r["n"] for r in runs if kind in r["index_build_s"]]
        axes[0].plot(xs, [r["index_build_s"][kind] for r in runs if kind in r["index_build_s"]],
                     marker=marker, label=kind)
        grown = [(r["n"], (r["rss_bytes"][kind] - r["rss_bytes"]["before"]) / 2**30)
                 for r in runs if kind in r["rss_bytes"]]
        axes[1].plot([g[0] for g in grown], [g[1] for g in grown], marker=marker, label=kind)
    axes[0].set_ylabel("index build (s)")
    axes[1].set_ylabel("server RSS growth, loaded (GiB)")
    axes[2].plot(ns, [(r["disk_bytes"]["after_insert_HNSW"] - r["disk_bytes"]["before"]) / 2**30
                      for r in runs], marker="o")
    axes[2].set_ylabel("data dir growth, insert + HNSW (GiB)")
    for filt, label in FILTER_LABELS.items():
        axes[3].plot(ns, [_hnsw_at(r, filt, "p99_ms") for r in runs], marker="o", label=label)
    axes[3].set_ylabel("HNSW p99 latency (ms), chosen ef")
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xlabel("chunks")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    axes[3].legend(fontsize=7)
    fig.tight_layout()
    path = out / "scale-curves.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _gib(b: float) -> str:
    return f"{b / 2**30:.2f}"


def markdown(runs: list[dict[str, Any]], variants: list[dict[str, Any]]) -> str:
    """The tables of docs/benchmarks.md ("Scale"), from the results."""
    lines = ["| | " + " | ".join(_label(r["n"]) for r in runs) + " |",
             "| --- |" + " ---: |" * len(runs)]

    def row(label: str, fn: Any) -> None:
        cells = []
        for r in runs:
            try:
                cells.append(str(fn(r)))
            except (KeyError, TypeError, StopIteration):
                cells.append("-")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")

    row("load average at start / end", lambda r: f"{r['loadavg_start'][0]:.1f} / "
        f"{r['loadavg_end'][0]:.1f}")
    row("insert (MilvusStore.upsert), rows/s", lambda r: f"{r['insert']['rows_per_s']:.0f}")
    row("insert, seconds", lambda r: f"{r['insert']['upsert_seconds']:.0f}")
    row("flush, s", lambda r: r["flush_s"])
    for kind in MARKERS:
        row(f"{kind} index build, s", lambda r, k=kind: f"{r['index_build_s'][k]:.0f}")
    for kind in MARKERS:
        row(f"load with {kind}, s", lambda r, k=kind: r["load_s"][k])
    row("server RSS before the collection, GiB", lambda r: _gib(r["rss_bytes"]["before"]))
    for kind in MARKERS:
        row(f"server RSS loaded with {kind}, GiB", lambda r, k=kind: _gib(r["rss_bytes"][k]))
    row("server RSS peak, GiB", lambda r: _gib(r["rss_bytes"]["peak"]))
    row("after a server restart: RSS idle / loaded (HNSW), GiB",
        lambda r: f"{_gib(_restart(r, variants)['rss_bytes_idle'])} / "
        f"{_gib(_restart(r, variants)['rss_bytes_loaded'])}")
    row("after a server restart: cold load, s", lambda r: _restart(r, variants)["cold_load_s"])
    row("data dir before / after insert + HNSW, GiB",
        lambda r: f"{_gib(r['disk_bytes']['before'])} / "
        f"{_gib(r['disk_bytes']['after_insert_HNSW'])}")
    out = ["\n".join(lines), ""]
    for r in runs:
        out.append(f"**{_label(r['n'])}**: p50 / p99 latency (ms) and recall@10, 1,000 queries "
                   "each, single client")
        out.append("")
        out.append("| index | param | " + " | ".join(FILTER_LABELS.values()) + " |")
        out.append("| --- | ---: |" + " --- |" * len(FILTER_LABELS))
        keys: list[tuple[str, Any]] = []
        for x in r["search"]:
            if (x["index"], x["value"]) not in keys:
                keys.append((x["index"], x["value"]))
        for kind, value in keys:
            cells = []
            for filt in FILTER_LABELS:
                m = [x for x in r["search"] if (x["index"], x["value"], x["filter"]) ==
                     (kind, value, filt)]
                cells.append(f"{m[0]['p50_ms']:.1f} / {m[0]['p99_ms']:.0f} / "
                             f"{m[0]['recall@10']:.3f}" if m else "-")
            param = "-" if kind == "FLAT" else f"{SWEEP_NAMES[kind]}={value}"
            out.append(f"| {kind} | {param} | " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


SWEEP_NAMES = {"HNSW": "ef", "IVF_FLAT": "nprobe", "IVF_SQ8": "nprobe"}


def plot_all(results: Path, out: Path) -> list[Path]:
    """Every plot for the results in ``results``; returns the files written."""
    plt = _pyplot()
    out.mkdir(parents=True, exist_ok=True)
    runs = load_results(results)
    paths = [plot_recall_latency(plt, r, out) for r in runs]
    if len(runs) > 1:
        paths.append(plot_scale(plt, runs, out))
    for p in paths:
        print(f"wrote {p}", file=sys.stderr)
    return paths


def main() -> None:
    ap = argparse.ArgumentParser(description="plots of bench/results/scale-*.json")
    ap.add_argument("--results", type=Path, default=Path("bench/results"))
    ap.add_argument("--out", type=Path, default=Path("docs/img"))
    ap.add_argument("--markdown", action="store_true", help="print the tables, no plots")
    args = ap.parse_args()
    if args.markdown:
        print(markdown(load_results(args.results), load_results(args.results, variants=True)))
        return
    plot_all(args.results, args.out)


if __name__ == "__main__":
    main()
