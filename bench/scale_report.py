"""Plots of the scale benchmark results (bench/results/scale-*.json) as PNGs.

    .venv/bin/python -m bench.scale_report [--results bench/results] [--out docs/img]

Installs matplotlib into the running interpreter's environment when it is missing (a bench
dependency, not a runtime one).
"""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

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
        print("installing matplotlib (bench plots only)", file=sys.stderr)
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             "matplotlib>=3.8,<4"],
            check=True,
        )
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _label(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 and n % 1_000_000 == 0 else f"{n // 1000}k"


def load_results(results: Path) -> list[dict[str, Any]]:
    """Every scale result, smallest N first."""
    runs = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(results.glob("scale-*.json"))]
    return sorted((r for r in runs if r.get("bench") == "scale"), key=lambda r: r["n"])


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
        axes[1].plot(xs, [r["rss_bytes"][kind] / 2**30 for r in runs if kind in r["rss_bytes"]],
                     marker=marker, label=kind)
    axes[0].set_ylabel("index build (s)")
    axes[1].set_ylabel("server RSS after load (GiB)")
    axes[2].plot(ns, [max(v for k, v in r["disk_bytes"].items() if k != "before") / 2**30
                      for r in runs], marker="o")
    axes[2].set_ylabel("data dir, largest (GiB)")
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
    args = ap.parse_args()
    plot_all(args.results, args.out)


if __name__ == "__main__":
    main()
