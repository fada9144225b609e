"""Soak: `reportrag serve` under a steady request rate for 5 minutes — errors, latency, RSS.

    .venv/bin/reportrag ingest      # once: the corpus into ./data (Milvus Lite)
    .venv/bin/python -m bench.soak --json bench/results/soak.json
    .venv/bin/python -m bench.soak --url http://127.0.0.1:8000 --pid PID   # a running server

Starts the server itself (unless --url), warms it up with one pass over the query pool
(caches fill on first use), then runs bench.loadgen's open loop at --rate for --duration
seconds from this process, sampling the server's RSS every 5 s. Prints one summary; with
--json writes the report (machine, load average, commit, settings and every RSS sample).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from bench import loadgen
from bench.common import REPO, machine


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_server(data_dir: Path, log: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = {**os.environ, "REPORTRAG_DATA_DIR": str(data_dir.resolve()), "HF_HUB_OFFLINE": "1"}
    with log.open("wb") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "reportrag.api.cli", "serve", "--port", str(port), "--log-level",
             "warning"], cwd=REPO, env=env, stdout=fh, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"soak: server exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(1)
    proc.kill()
    raise SystemExit("soak: server not ready after 300 s")


def soak(url: str, pid: int, *, rate: float, duration: float, endpoint: str) -> dict[str, Any]:
    """Warm up, then the steady open loop; the loadgen report plus the warm-up's RSS."""
    bodies = loadgen.load_bodies(endpoint=endpoint)
    # The server with its children: serve's Milvus Lite process holds the collection.
    cold = loadgen.tree_rss_kb(pid)
    loadgen.run_closed(url, bodies, concurrency=1, requests=len(bodies), endpoint=endpoint)
    warm = loadgen.tree_rss_kb(pid)
    sampler = loadgen.RssSampler(pid, interval=5.0, tree=True).start()
    load0 = os.getloadavg()
    samples, wall, cpu = loadgen.run_open(url, bodies, rate=rate, duration=duration,
                                          endpoint=endpoint)
    report = loadgen.summarize(samples, planned=max(1, round(rate * duration)), wall_s=wall,
                               client_cpu_s=cpu)
    report.update(
        url=url, endpoint=loadgen.ENDPOINTS[endpoint], rate=rate, duration_s=duration,
        queries=len(bodies),
        rss_before_warmup_mb=round((cold or 0) / 1024, 1),
        rss_after_warmup_mb=round((warm or 0) / 1024, 1),
        server_rss=sampler.stop(),
        loadavg_start=[round(x, 2) for x in load0],
        loadavg_end=[round(x, 2) for x in os.getloadavg()],
    )
    return report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench.soak", description=__doc__.split("\n\n")[0])
    p.add_argument("--url", help="a running server (default: start one over --data-dir)")
    p.add_argument("--pid", type=int, help="its pid, for RSS (with --url)")
    p.add_argument("--data-dir", type=Path, default=Path(os.environ.get("REPORTRAG_DATA_DIR",
                                                                        REPO / "data")))
    p.add_argument("--rate", type=float, default=5.0, help="requests per second")
    p.add_argument("--duration", type=float, default=300.0, help="seconds")
    p.add_argument("--endpoint", choices=sorted(loadgen.ENDPOINTS), default="search")
    p.add_argument("--json", type=Path, help="write the report here")
    args = p.parse_args(argv)
    proc = None
    if args.url:
        if not args.pid:
            p.error("--url needs --pid (the server's RSS is part of the report)")
        url, pid = args.url, args.pid
    else:
        proc, url = _start_server(args.data_dir, Path("/tmp") / f"soak-serve-{os.getpid()}.log")
        pid = proc.pid
    try:
        report = soak(url, pid, rate=args.rate, duration=args.duration, endpoint=args.endpoint)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=60)
    report["machine"] = {**machine(), "platform": platform.platform()}
    rss, lat = report["server_rss"], report["latency_ms"]
    print(f"soak {report['endpoint']} at {args.rate}/s for {args.duration:.0f} s: "
          f"{report['completed']}/{report['planned']} requests, {report['errors']} errors "
          f"{report['by_status']}, {report['achieved_qps']} QPS", file=sys.stderr)
    print(f"latency ms p50 {lat['p50']} p95 {lat['p95']} p99 {lat['p99']} max {lat['max']}; "
          f"RSS MB after warm-up {report['rss_after_warmup_mb']}, soak start {rss['start_mb']} "
          f"end {rss['end_mb']} max {rss['max_mb']}; load avg {report['loadavg_start']} -> "
          f"{report['loadavg_end']}", file=sys.stderr)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0 if report["errors"] == 0 and report["completed"] == report["planned"] else 1


if __name__ == "__main__":
    sys.exit(main())
