"""Query latency over HTTP against ``reportrag serve``, from a second process on loopback.

    .venv/bin/python -m bench.http_latency [--data ./data] [--workers 1] [--json OUT.json]

Starts ``reportrag serve`` over an ingested data directory (``--data``, default ./data;
``--milvus-uri`` for a Milvus server), waits until ``/readyz`` answers, records the server's
resident memory with the model loaded, then drives it with ``bench/loadgen.py`` in its own
process:

1. closed loop at concurrency 1, 4 and 16 (a fixed request count each): p50/p95/p99, QPS;
2. open loop at increasing fixed rates (``--rates``, ``--step-s`` seconds each): the highest
   rate served with no error, at least 95 % of the offered rate, and p99 under 250 ms is the
   maximum sustainable QPS.

Requests are ``POST /v1/search`` with the evaluation queries and their language filters,
``top_k`` 5, mode ``auto`` (hybrid, or cross-lingual when the language filter excludes the
query's language), cycled.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.common import REPO, machine, write_result
from bench.loadgen import tree_rss_kb

P99_LIMIT_MS = 250.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(data: Path, port: int, *, workers: int, milvus_uri: str | None,
                 log: Path, code: Path | None = None,
                 entry: str = "reportrag.api.cli") -> subprocess.Popen:
    """``reportrag serve`` in its own process group; returns once /readyz says ready.

    ``code``: a directory holding another version's packages (``git archive REF``), run
    through its CLI module ``entry`` instead of this tree's."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "REPORTRAG_DATA_DIR": str(data)}
    if milvus_uri:
        env["REPORTRAG_MILVUS_URI"] = milvus_uri
    cmd = [str(Path(sys.executable).with_name("reportrag"))]
    if code is not None:
        env["PYTHONPATH"] = str(code)
        cmd = [sys.executable, "-c", f"import sys; from {entry} import main; sys.exit(main())"]
    proc = subprocess.Popen(
        [*cmd, "serve", "--port", str(port), "--workers", str(workers), "--log-level", "warning"],
        cwd=code or REPO, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    wait_ready(proc, f"http://127.0.0.1:{port}", log)
    return proc


def wait_ready(proc: subprocess.Popen, url: str, log: Path, what: str = "reportrag serve",
               timeout: float = 300) -> None:
    """Until ``/readyz`` answers 200; a server that exits or stays unready is stopped and
    ends the benchmark with a line naming its log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited ({proc.returncode}); see {log}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    stop_server(proc)
    raise SystemExit(f"{what} was not ready within {timeout:g} s; see {log}")


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def server_rss_mb(proc: subprocess.Popen) -> float:
    """Resident memory of the server with its workers and its Milvus Lite process together."""
    return round((tree_rss_kb(proc.pid) or 0) / 1024, 1)


def _lite_layout() -> str:
    """How the served Milvus Lite runs: in a process of its own (the default) or in the API's."""
    from reportrag.settings import Settings

    return "lite (own process)" if Settings().lite_process else "lite (in the API process)"


def loadgen(url: str, args: list[str], out: Path) -> dict[str, Any]:
    """One bench.loadgen run in a separate process; its JSON report."""
    cmd = [sys.executable, "-m", "bench.loadgen", "--url", url, "--json", str(out), *args]
    subprocess.run(cmd, cwd=REPO, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return json.loads(out.read_text(encoding="utf-8"))


def _row(report: dict[str, Any]) -> dict[str, Any]:
    lat = report.get("latency_ms") or {}
    return {
        "completed": report["completed"],
        "errors": report["errors"],
        "qps": report["achieved_qps"],
        "p50_ms": lat.get("p50"),
        "p95_ms": lat.get("p95"),
        "p99_ms": lat.get("p99"),
        "max_ms": lat.get("max"),
        "client_cpu_ms_per_request": report["client_cpu_ms_per_request"],
        "loadavg_start": report.get("loadavg_start"),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=REPO / "data")
    ap.add_argument("--milvus-uri", default=None)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--requests", type=int, default=400, help="closed-loop requests per level")
    ap.add_argument("--concurrency", default="1,4,16")
    ap.add_argument("--rates", default="5,10,15,20,25,30,40,50,60,70,80,100")
    ap.add_argument("--step-s", type=float, default=20.0)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--name", default="http", help="result file name under bench/results")
    ap.add_argument("--code", type=Path, default=None,
                    help="serve another version's code (a `git archive REF` tree) instead")
    ap.add_argument("--entry", default="reportrag.api.cli",
                    help="its CLI module (api.cli before the reportrag.* namespace)")
    args = ap.parse_args(argv)

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    work = Path(tempfile.mkdtemp(prefix="reportrag-bench-http-"))
    proc = start_server(args.data.resolve(), port, workers=args.workers,
                        milvus_uri=args.milvus_uri, log=work / "serve.log",
                        code=args.code and args.code.resolve(), entry=args.entry)
    out: dict[str, Any] = {"machine": machine(), "workers": args.workers,
                           "code": str(args.code) if args.code else "this tree",
                           "milvus": args.milvus_uri or _lite_layout(), "closed": {}, "open": {}}
    try:
        loadgen(url, ["--warmup", "30", "closed", "-c", "1", "-n", "20"], work / "warm.json")
        out["server_rss_mb_ready"] = server_rss_mb(proc)
        for c in (int(x) for x in args.concurrency.split(",")):
            n = max(args.requests, 25 * c)
            rep = loadgen(url, ["closed", "-c", str(c), "-n", str(n)], work / f"c{c}.json")
            out["closed"][str(c)] = _row(rep)
            r = out["closed"][str(c)]
            print(f"c={c:<3} n={n:<5} qps {r['qps']:>7}  p50 {r['p50_ms']:>7}  p95 "
                  f"{r['p95_ms']:>7}  p99 {r['p99_ms']:>7}  errors {r['errors']}", flush=True)
        best = 0.0
        for rate in (float(x) for x in args.rates.split(",")):
            rep = loadgen(url, ["open", "--rate", str(rate), "--duration", str(args.step_s)],
                          work / f"r{rate:g}.json")
            r = out["open"][f"{rate:g}"] = _row(rep)
            ok = (r["errors"] == 0 and r["qps"] >= 0.95 * rate
                  and (r["p99_ms"] or 1e9) < P99_LIMIT_MS)
            print(f"rate {rate:>5g}/s: qps {r['qps']:>7}  p50 {r['p50_ms']:>7}  p99 "
                  f"{r['p99_ms']:>8}  errors {r['errors']}  {'ok' if ok else 'over'}", flush=True)
            if not ok:
                break
            best = rate
        out["max_sustainable_qps"] = best
        out["server_rss_mb_end"] = server_rss_mb(proc)
    finally:
        stop_server(proc)
    best = out.get("max_sustainable_qps")
    print(f"max sustainable QPS (p99 < {P99_LIMIT_MS:g} ms, no errors): {best}")
    print(f"server RSS: {out['server_rss_mb_ready']} MB ready, {out['server_rss_mb_end']} MB end")
    path = write_result(args.name, out, args.json)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
