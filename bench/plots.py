"""Plots of the committed benchmark results, for docs/ (PNG, matplotlib).

    .venv/bin/python -m bench.plots      # reads bench/results/*.json, writes docs/img/*.png

- ``recall-by-pair.png``: recall@1 and recall@5 per language pair and mode (eval-*.json);
- ``http-latency.png``: latency percentiles per concurrency, and p99 against offered rate
  (http*.json);
- ``baseline.png``: reportrag against the LangChain pipeline from the same run (baseline.json).

Each plot is skipped, with a line saying so, when its results file is missing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.common import REPO, RESULTS

OUT = REPO / "docs" / "img"


def _load(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"figure.dpi": 110, "axes.grid": True, "grid.alpha": 0.3,
                         "axes.spines.top": False, "axes.spines.right": False})
    return plt


def recall_by_pair() -> Path | None:
    sets = {name: _load(f"eval-{name}") for name in ("dev", "extended")}
    sets = {k: v for k, v in sets.items() if v}
    if not sets:
        return None
    plt = _plt()
    fig, axes = plt.subplots(len(sets), 1, figsize=(11, 4.2 * len(sets)), squeeze=False)
    for ax, (name, report) in zip(axes[:, 0], sets.items(), strict=True):
        summary = report["summary"]
        modes = list(summary)
        pairs = [p for p in next(iter(summary.values())) if ">" in p and not p.endswith(">*")]
        pairs.append("overall")
        width = 0.8 / len(modes)
        for i, mode in enumerate(modes):
            xs = [j + i * width for j in range(len(pairs))]
            r5 = [summary[mode].get(p, {}).get("recall@5", 0) for p in pairs]
            r1 = [summary[mode].get(p, {}).get("recall@1", 0) for p in pairs]
            bars = ax.bar(xs, r5, width, label=f"{mode} R@5", alpha=0.45)
            ax.bar(xs, r1, width * 0.5, color=bars[0].get_facecolor(), alpha=1.0,
                   label=f"{mode} R@1")
        ns = [int(next(iter(summary.values())).get(p, {}).get("n", 0)) for p in pairs]
        ax.set_xticks([j + 0.4 - width / 2 for j in range(len(pairs))],
                      [f"{p}\n(n={n})" for p, n in zip(pairs, ns, strict=True)])
        ax.set_ylim(0, 1.05)
        ax.axhline(0.95, color="grey", lw=0.8, ls="--")
        ax.set_title(f"{name} set: recall@5 (wide bars) and recall@1 (narrow) per language pair")
        ax.legend(ncol=len(modes), fontsize=8, loc="lower left")
    fig.tight_layout()
    return _save(fig, "recall-by-pair.png")


HTTP_RUNS = ("http", "http-fp32", "http-server", "http-server-2w")  # bench/results/<name>.json


def _http_label(name: str, rep: dict) -> str:
    milvus = str(rep.get("milvus", "lite"))
    where = "Milvus server" if milvus.startswith("http") else milvus
    settings = rep.get("machine", {}).get("settings", {})
    queries = settings.get("REPORTRAG_QUERY_PRECISION", "default")
    return (f"{name}: {where}, {rep.get('workers', 1)} worker(s), {queries} queries "
            f"@ {rep.get('machine', {}).get('commit', '?')}")


def http_latency() -> Path | None:
    runs = {name: _load(name) for name in HTTP_RUNS}
    runs = {k: v for k, v in runs.items() if v}
    if not runs:
        return None
    plt = _plt()
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.6))
    offset = 0.0
    group = 1.6 * len(runs) + 0.6  # one group of bars per concurrency
    for name, rep in runs.items():
        label = _http_label(name, rep)
        cs = list(rep["closed"])
        for k, (stat, alpha) in enumerate((("p50_ms", 1.0), ("p95_ms", 0.6), ("p99_ms", 0.35))):
            xs = [i * group + offset + k * 0.5 for i in range(len(cs))]
            left.bar(xs, [rep["closed"][c][stat] for c in cs], 0.5, alpha=alpha,
                     label=f"{label} {stat[:-3]}")
        offset += 1.6
        rates = [float(r) for r in rep["open"]]
        right.plot(rates, [rep["open"][r]["p99_ms"] for r in rep["open"]], marker="o", label=label)
    first = next(iter(runs.values()))
    centre = (offset - 1.6 + 1.0) / 2  # middle of a group's bars
    left.set_xticks([i * group + centre for i in range(len(first["closed"]))],
                    [f"concurrency {c}" for c in first["closed"]])
    left.set_ylabel("ms")
    left.set_title("POST /v1/search latency, closed loop")
    left.legend(fontsize=6)
    right.axhline(250, color="grey", ls="--", lw=0.8)
    right.set_xlabel("offered requests/s (open loop)")
    right.set_ylabel("p99 ms")
    right.set_yscale("log")
    right.set_title("p99 against offered load (target < 250 ms)")
    right.legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, "http-latency.png")


def baseline() -> Path | None:
    rep = _load("baseline")
    if rep is None:
        return None
    plt = _plt()
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    # Our default (`auto`) and `dense` mode, the baseline's kind of retrieval, side by side.
    sides = [s for s in ("ours", "ours_dense", "baseline") if s in rep["latency"]]
    label = {"ours": "reportrag\n(auto)", "ours_dense": "reportrag\n(dense)",
             "baseline": "LangChain\nbaseline"}
    color = {"ours": "#1f6f9f", "ours_dense": "#6fa8cf", "baseline": "#b0b0b0"}
    # Both modes search the same ingestion, so the ingest panel has one bar for us.
    ingest_sides = [s for s in sides if s != "ours_dense"]
    ingest_label = {**label, "ours": "reportrag"}
    panels = [
        ("ingest, whole corpus (s)", ingest_sides, ingest_label,
         [rep["ingest"][s]["wall_s"] for s in ingest_sides]),
        ("query p50 in-process (ms)", sides, label,
         [rep["latency"][s]["p50_ms"] for s in sides]),
        ("recall@5, extended set", sides, label,
         [rep["quality"][s]["extended"]["overall"]["recall@5"] for s in sides]),
    ]
    for ax, (title, shown, names, values) in zip(axes, panels, strict=True):
        ax.bar([names[s] for s in shown], values, color=[color[s] for s in shown])
        for i, v in enumerate(values):
            ax.text(i, v, f"{v:.3f}" if v < 1 else f"{v:.2f}", ha="center", va="bottom",
                    fontsize=9)
        ax.set_title(title, fontsize=10)
    fig.suptitle("reportrag against the usual LangChain pipeline "
                 "(same run, same model, same Milvus Lite)", fontsize=10)
    fig.tight_layout()
    return _save(fig, "baseline.png")


def _save(fig, name: str) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / name
    fig.savefig(path)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


def main() -> int:
    for make in (recall_by_pair, http_latency, baseline):
        path = make()
        print(f"{make.__name__}: {path.relative_to(REPO) if path else 'no results, skipped'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
