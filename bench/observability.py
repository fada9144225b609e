"""What request ids, metrics and (off) tracing cost a search over HTTP, old and new in one run.

    .venv/bin/python -m bench.observability [--data ./data] [--rounds 2] [--json OUT.json]

Three servers over the same ingested data, started one at a time and alternated ``--rounds``
times so that drift of the machine hits each alike:

- ``before``: the commit before issue #27 (``--before``, default f0b64ca), from a git
  worktree, with this venv;
- ``metrics off``: this tree with ``REPORTRAG_METRICS=false`` (request ids and the access
  line still run);
- ``metrics on``: this tree as shipped (metrics on, tracing off: no ``OTEL_*`` set).

Each is driven by bench/loadgen.py in a closed loop at concurrency 1 and 16 (the searches of
bench/http_latency.py). The issue's budget: p50 at c=1 up by at most 0.3 ms, QPS at c=16
down by at most 3 %, against ``before``. On a 2-vCPU VM the run-to-run noise of these HTTP
figures is larger than that budget, so the layer's own cost is also timed in-process
(:func:`micro`: microseconds per request and per stage, best of five batches).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import REPO, machine, write_result
from bench.http_latency import free_port, loadgen, stop_server, wait_ready

VARIANTS = ("before", "metrics off", "metrics on")


def _worktree(commit: str, work: Path) -> Path:
    path = work / "before"
    subprocess.run(["git", "worktree", "add", "--detach", str(path), commit], cwd=REPO,
                   check=True, capture_output=True)
    return path


def _start(variant: str, data: Path, tree: Path, log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "REPORTRAG_DATA_DIR": str(data),
           "PYTHONPATH": str(tree), "REPORTRAG_METRICS": "false" if variant == "metrics off"
           else "true"}
    for key in [k for k in env if k.startswith("OTEL_")]:
        del env[key]
    proc = subprocess.Popen(
        [sys.executable, "-m", "reportrag.api.cli", "serve", "--port", str(port), "--log-level",
         "warning"], cwd=tree, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
        start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    wait_ready(proc, url, log, f"{variant}: reportrag serve")
    return proc, url


def _measure(url: str, work: Path, n1: int, n16: int) -> dict[str, float]:
    loadgen(url, ["--warmup", "30", "closed", "-c", "1", "-n", "20"], work / "warm.json")
    one = loadgen(url, ["closed", "-c", "1", "-n", str(n1)], work / "c1.json")
    many = loadgen(url, ["closed", "-c", "16", "-n", str(n16)], work / "c16.json")
    return {"c1_p50_ms": one["latency_ms"]["p50"], "c1_qps": one["achieved_qps"],
            "c16_qps": many["achieved_qps"], "c16_p50_ms": many["latency_ms"]["p50"],
            "errors": one["errors"] + many["errors"]}


def _per_call_us(fn: Callable[[], object], n: int) -> float:
    best = float("inf")
    for _ in range(5):  # the best of five batches: the machine's noise only adds
        start = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - start) / n)
    return round(best * 1e6, 2)


def micro(n: int = 20000) -> dict[str, float]:
    """In-process cost of the observation layer, without the network's noise: one request
    through RequestContext around a do-nothing app (metrics on, off, and no middleware),
    and one ``telemetry.stage`` / ``milvus_call`` with tracing off (a search makes 4-8)."""
    import asyncio

    from reportrag import metrics, telemetry
    from reportrag.api.observability import RequestContext

    async def app(scope: dict, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    async def receive() -> dict:
        return {"type": "http.request", "body": b""}

    async def send(message: dict) -> None:
        return None

    wrapped = RequestContext(app)
    scope = {"type": "http", "method": "POST", "path": "/v1/search",
             "headers": [(b"x-request-id", b"bench-1")]}
    loop = asyncio.new_event_loop()

    def through(asgi: Any) -> Callable[[], object]:
        return lambda: loop.run_until_complete(asgi(dict(scope), receive, send))

    def one_stage() -> None:
        with telemetry.stage("encode_query"):
            pass

    def one_call() -> None:
        with telemetry.milvus_call("search_dense"):
            pass

    out = {"bare_app_us": _per_call_us(through(app), n)}
    metrics.set_enabled(False)
    out["request_context_metrics_off_us"] = _per_call_us(through(wrapped), n)
    out["stage_metrics_off_us"] = _per_call_us(one_stage, n)
    metrics.set_enabled(True)
    out["request_context_metrics_on_us"] = _per_call_us(through(wrapped), n)
    out["stage_metrics_on_us"] = _per_call_us(one_stage, n)
    out["milvus_call_metrics_on_us"] = _per_call_us(one_call, n)
    loop.close()
    # One hybrid search: the request, ~3 stages, ~3 Milvus calls, one hits observation.
    out["per_search_us"] = round(out["request_context_metrics_on_us"] - out["bare_app_us"]
                                 + 3 * out["stage_metrics_on_us"]
                                 + 3 * out["milvus_call_metrics_on_us"], 1)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=REPO / "data")
    ap.add_argument("--before", default="f0b64ca", help="the commit before issue #27")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--n1", type=int, default=400, help="requests at concurrency 1")
    ap.add_argument("--n16", type=int, default=1200, help="requests at concurrency 16")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    cost = micro()
    print("in-process: " + ", ".join(f"{k} {v}" for k, v in cost.items()), flush=True)
    work = Path(tempfile.mkdtemp(prefix="reportrag-bench-observability-"))
    before = _worktree(args.before, work)
    trees = {"before": before, "metrics off": REPO, "metrics on": REPO}
    runs: dict[str, list[dict[str, float]]] = {v: [] for v in VARIANTS}
    try:
        for r in range(args.rounds):
            for variant in VARIANTS:
                proc, url = _start(variant, args.data.resolve(), trees[variant],
                                   work / f"serve-{r}-{variant.replace(' ', '-')}.log")
                try:
                    m = _measure(url, work, args.n1, args.n16)
                finally:
                    stop_server(proc)
                runs[variant].append(m)
                print(f"round {r + 1} {variant:<12} c=1 p50 {m['c1_p50_ms']:>6} ms   "
                      f"c=16 {m['c16_qps']:>6} QPS   errors {m['errors']}", flush=True)
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(before)], cwd=REPO,
                       capture_output=True)
    summary: dict[str, Any] = {}
    for variant in VARIANTS:
        summary[variant] = {k: round(statistics.median(x[k] for x in runs[variant]), 3)
                            for k in ("c1_p50_ms", "c1_qps", "c16_qps", "c16_p50_ms")}
    base = summary["before"]
    for variant in VARIANTS[1:]:
        s = summary[variant]
        s["c1_p50_delta_ms"] = round(s["c1_p50_ms"] - base["c1_p50_ms"], 3)
        s["c16_qps_change_pct"] = round(100 * (s["c16_qps"] / base["c16_qps"] - 1), 2)
        print(f"{variant:<12} vs before: c=1 p50 {s['c1_p50_delta_ms']:+.3f} ms (budget +0.3), "
              f"c=16 QPS {s['c16_qps_change_pct']:+.2f} % (budget -3 %)")
    out = {"machine": machine(), "before": args.before, "rounds": args.rounds, "micro": cost,
           "n1": args.n1, "n16": args.n16, "summary": summary, "runs": runs}
    path = write_result("observability", out, args.json)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
