"""HTTP load generator for the reportrag API, run in its own process against a base URL.

    # closed loop: C workers send N requests back to back
    .venv/bin/python -m bench.loadgen --url http://127.0.0.1:8000 closed -c 4 -n 400
    # open loop: R requests/s for T seconds, whatever the server's latency
    .venv/bin/python -m bench.loadgen --url http://127.0.0.1:8000 open --rate 5 --duration 60 \
        --pid "$(pgrep -f 'reportrag serve')" --json out.json

Request bodies cycle through the real evaluation queries (eval/dev_queries.jsonl and
eval/queries_extended.jsonl) with their language filters. The report has the count, errors
by status, achieved QPS, latency percentiles, the client's own CPU time per request (its
overhead) and, with ``--pid``, the server's RSS at start, during and at the end.

Open-loop latency is measured from the moment a request was *due*, not from when a worker
got to send it, so a server that falls behind shows its queueing delay (no coordinated
omission); ``service_ms`` is the time from actually sending to the response.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
DEFAULT_QUERIES = (REPO / "eval" / "dev_queries.jsonl", REPO / "eval" / "queries_extended.jsonl")
ENDPOINTS = {"search": "/v1/search", "context": "/v1/context"}

__all__ = [
    "RssSampler",
    "Sample",
    "load_bodies",
    "percentile",
    "process_tree",
    "read_rss_kb",
    "run_closed",
    "run_open",
    "summarize",
    "tree_rss_kb",
]


def load_bodies(
    paths: Iterable[Path] = DEFAULT_QUERIES,
    *,
    endpoint: str = "search",
    top_k: int = 5,
    max_tokens: int = 800,
) -> list[dict[str, Any]]:
    """Request bodies for ``endpoint`` from JSONL query files (fields ``q`` and ``lang``)."""
    if endpoint not in ENDPOINTS:
        raise ValueError(f"endpoint must be one of {sorted(ENDPOINTS)}, not {endpoint!r}")
    bodies: list[dict[str, Any]] = []
    for path in paths:
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            body: dict[str, Any] = {"query": row["q"], "top_k": top_k}
            if row.get("lang"):
                body["filters"] = {"lang": list(row["lang"])}
            if endpoint == "context":
                body["max_tokens"] = max_tokens
            bodies.append(body)
    if not bodies:
        raise ValueError("no queries in the query files")
    return bodies


@dataclass(slots=True)
class Sample:
    """One request: its status (or the exception's name) and its timings in seconds."""

    status: int | str
    latency_s: float  # from when it was due (closed loop: when it was sent)
    service_s: float  # from when it was sent


def read_rss_kb(pid: int) -> int | None:
    """VmRSS of ``pid`` in kB from /proc, or None when the process is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def process_tree(pid: int) -> set[int]:
    """``pid`` and every live descendant of it, found by parent pid in /proc.

    By parentage, not process group or session: ``reportrag serve`` starts its Milvus Lite
    process in a session of its own.
    """
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as fh:
                # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    tree, todo = {pid}, [pid]
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in tree:
                tree.add(child)
                todo.append(child)
    return tree


def tree_rss_kb(pid: int) -> int | None:
    """Summed VmRSS in kB of ``pid`` and its descendants, or None when ``pid`` is gone."""
    own = read_rss_kb(pid)
    if own is None:
        return None
    return own + sum(read_rss_kb(p) or 0 for p in process_tree(pid) - {pid})


class RssSampler:
    """Samples the RSS of a process (with ``tree``, of it and its descendants together)
    every ``interval`` seconds in a daemon thread."""

    def __init__(self, pid: int, interval: float = 1.0, *, tree: bool = False) -> None:
        self.pid = pid
        self.interval = interval
        self._read = tree_rss_kb if tree else read_rss_kb
        self.samples: list[tuple[float, int]] = []  # (seconds since start, kB)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._t0 = 0.0

    def _sample(self) -> None:
        kb = self._read(self.pid)
        if kb is not None:
            self.samples.append((round(time.monotonic() - self._t0, 3), kb))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def start(self) -> RssSampler:
        self._t0 = time.monotonic()
        self._sample()
        self._thread.start()
        return self

    def stop(self) -> dict[str, Any]:
        """Stop sampling; the start / end / max RSS in MB and every sample."""
        self._stop.set()
        self._thread.join()
        self._sample()
        if not self.samples:
            return {"pid": self.pid, "error": "process not found"}
        kbs = [kb for _, kb in self.samples]
        return {
            "pid": self.pid,
            "start_mb": round(kbs[0] / 1024, 1),
            "end_mb": round(kbs[-1] / 1024, 1),
            "max_mb": round(max(kbs) / 1024, 1),
            "growth_mb": round((kbs[-1] - kbs[0]) / 1024, 1),
            "samples": [[t, round(kb / 1024, 1)] for t, kb in self.samples],
        }


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (0 < p <= 100) of an ascending list; 0.0 when empty."""
    if not sorted_values:
        return 0.0
    rank = max(1, min(len(sorted_values), int(-(-p * len(sorted_values) // 100))))
    return sorted_values[rank - 1]


def _ms_stats(values_s: list[float]) -> dict[str, float]:
    xs = sorted(v * 1000 for v in values_s)
    if not xs:
        return {}
    return {
        "min": round(xs[0], 2),
        "mean": round(sum(xs) / len(xs), 2),
        "p50": round(percentile(xs, 50), 2),
        "p95": round(percentile(xs, 95), 2),
        "p99": round(percentile(xs, 99), 2),
        "max": round(xs[-1], 2),
    }


def summarize(
    samples: list[Sample], *, planned: int, wall_s: float, client_cpu_s: float
) -> dict[str, Any]:
    """Counts, errors by status, achieved QPS and latency percentiles of a run."""
    by_status = Counter(str(s.status) for s in samples)
    ok = sum(n for status, n in by_status.items() if status.isdigit() and int(status) < 400)
    return {
        "planned": planned,
        "completed": len(samples),
        "ok": ok,
        "errors": len(samples) - ok,
        "by_status": dict(sorted(by_status.items())),
        "wall_s": round(wall_s, 3),
        "achieved_qps": round(len(samples) / wall_s, 2) if wall_s > 0 else 0.0,
        "latency_ms": _ms_stats([s.latency_s for s in samples]),
        "service_ms": _ms_stats([s.service_s for s in samples]),
        "client_cpu_ms_per_request": round(1000 * client_cpu_s / max(1, len(samples)), 3),
    }


def _client(base_url: str, headers: dict[str, str], timeout: float) -> httpx.Client:
    # One connection per worker, kept alive: the client should cost the server nothing extra.
    return httpx.Client(
        base_url=base_url,
        headers=headers,
        timeout=timeout,
        limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
    )


def _send(client: httpx.Client, path: str, body: dict[str, Any], due: float) -> Sample:
    sent = time.perf_counter()
    try:
        status: int | str = client.post(path, json=body).status_code
    except httpx.HTTPError as exc:
        status = type(exc).__name__
    done = time.perf_counter()
    return Sample(status, done - due, done - sent)


def run_closed(
    base_url: str,
    bodies: Sequence[dict[str, Any]],
    *,
    concurrency: int,
    requests: int,
    endpoint: str = "search",
    headers: dict[str, str] | None = None,
    timeout: float = 30.0,
) -> tuple[list[Sample], float, float]:
    """``requests`` requests from ``concurrency`` workers, each sending its next at once.

    Returns (samples, wall seconds, client CPU seconds).
    """
    if concurrency < 1 or requests < 1:
        raise ValueError("concurrency and requests must be at least 1")
    path = ENDPOINTS[endpoint]
    counter = itertools.count()
    lock = threading.Lock()
    per_worker: list[list[Sample]] = [[] for _ in range(concurrency)]

    def worker(out: list[Sample]) -> None:
        with _client(base_url, headers or {}, timeout) as client:
            while True:
                with lock:
                    i = next(counter)
                if i >= requests:
                    return
                out.append(_send(client, path, bodies[i % len(bodies)], time.perf_counter()))

    cpu0, t0 = time.process_time(), time.perf_counter()
    threads = [threading.Thread(target=worker, args=(out,)) for out in per_worker]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    return [s for out in per_worker for s in out], wall, cpu


def run_open(
    base_url: str,
    bodies: Sequence[dict[str, Any]],
    *,
    rate: float,
    duration: float,
    endpoint: str = "search",
    headers: dict[str, str] | None = None,
    timeout: float = 30.0,
    max_in_flight: int = 64,
    on_tick: Callable[[int], None] | None = None,
) -> tuple[list[Sample], float, float]:
    """``rate`` requests per second for ``duration`` seconds (at most ``max_in_flight`` open).

    Returns (samples, wall seconds, client CPU seconds).
    """
    if rate <= 0 or duration <= 0:
        raise ValueError("rate and duration must be positive")
    path = ENDPOINTS[endpoint]
    total = max(1, round(rate * duration))
    local = threading.local()
    clients: list[httpx.Client] = []
    clients_lock = threading.Lock()
    samples: list[Sample] = []

    def job(i: int, due: float) -> None:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = _client(base_url, headers or {}, timeout)
            with clients_lock:
                clients.append(client)
        samples.append(_send(client, path, bodies[i % len(bodies)], due))  # list.append: atomic

    cpu0, t0 = time.process_time(), time.perf_counter()
    with ThreadPoolExecutor(max_workers=max_in_flight, thread_name_prefix="loadgen") as pool:
        for i in range(total):
            due = t0 + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            pool.submit(job, i, due)
            if on_tick is not None:
                on_tick(i)
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    for c in clients:
        c.close()
    return samples, wall, cpu


def _loadavg() -> list[float]:
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except (OSError, ValueError):
        return []


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the mode the arguments name; the full report."""
    bodies = load_bodies(
        args.queries or DEFAULT_QUERIES, endpoint=args.endpoint, top_k=args.top_k
    )
    headers = {"X-API-Key": args.api_key} if args.api_key else {}
    report: dict[str, Any] = {
        "url": args.url,
        "endpoint": ENDPOINTS[args.endpoint],
        "mode": args.mode,
        "queries": len(bodies),
        "loadavg_start": _loadavg(),
        "cpus": os.cpu_count(),
    }
    if args.warmup:
        run_closed(args.url, bodies, concurrency=1, requests=args.warmup, endpoint=args.endpoint,
                   headers=headers, timeout=args.timeout)
    sampler = RssSampler(args.pid, args.rss_interval).start() if args.pid else None
    if args.mode == "closed":
        report.update(concurrency=args.concurrency, requests=args.requests)
        samples, wall, cpu = run_closed(
            args.url, bodies, concurrency=args.concurrency, requests=args.requests,
            endpoint=args.endpoint, headers=headers, timeout=args.timeout,
        )
        planned = args.requests
    else:
        report.update(rate=args.rate, duration_s=args.duration, max_in_flight=args.max_in_flight)
        samples, wall, cpu = run_open(
            args.url, bodies, rate=args.rate, duration=args.duration, endpoint=args.endpoint,
            headers=headers, timeout=args.timeout, max_in_flight=args.max_in_flight,
        )
        planned = max(1, round(args.rate * args.duration))
    report.update(summarize(samples, planned=planned, wall_s=wall, client_cpu_s=cpu))
    if sampler is not None:
        report["server_rss"] = sampler.stop()
    report["loadavg_end"] = _loadavg()
    return report


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bench.loadgen", description=__doc__.split("\n\n")[0])
    p.add_argument("--url", required=True, help="base URL, e.g. http://127.0.0.1:8000")
    p.add_argument("--endpoint", choices=sorted(ENDPOINTS), default="search")
    p.add_argument("--queries", type=Path, nargs="*", help="JSONL query files (default: eval/)")
    p.add_argument("--top-k", type=int, default=5)
    p.add_argument("--api-key", default=os.environ.get("LOADGEN_API_KEY"),
                   help="sent as X-API-Key (default: $LOADGEN_API_KEY)")
    p.add_argument("--timeout", type=float, default=30.0, help="per request, seconds")
    p.add_argument("--warmup", type=int, default=0, help="requests sent before measuring")
    p.add_argument("--pid", type=int, help="server pid whose RSS to sample")
    p.add_argument("--rss-interval", type=float, default=1.0, help="seconds between samples")
    p.add_argument("--json", type=Path, help="also write the report here")
    sub = p.add_subparsers(dest="mode", required=True)
    c = sub.add_parser("closed", help="C workers, N requests back to back")
    c.add_argument("-c", "--concurrency", type=int, default=4)
    c.add_argument("-n", "--requests", type=int, default=200)
    o = sub.add_parser("open", help="a fixed request rate for a fixed duration")
    o.add_argument("--rate", type=float, required=True, help="requests per second")
    o.add_argument("--duration", type=float, required=True, help="seconds")
    o.add_argument("--max-in-flight", type=int, default=64)
    return p


def _print(report: dict[str, Any]) -> None:
    lat = report["latency_ms"]
    print(
        f"{report['mode']} {report['endpoint']}: {report['completed']}/{report['planned']} "
        f"requests, {report['errors']} errors {report['by_status']}, "
        f"{report['achieved_qps']} QPS over {report['wall_s']} s",
        file=sys.stderr,
    )
    if lat:
        print(
            f"latency ms: p50 {lat['p50']}  p95 {lat['p95']}  p99 {lat['p99']}  max {lat['max']}"
            f"  (client CPU {report['client_cpu_ms_per_request']} ms/request)",
            file=sys.stderr,
        )
    rss = report.get("server_rss")
    if rss and "start_mb" in rss:
        print(
            f"server RSS MB: start {rss['start_mb']}  end {rss['end_mb']}  max {rss['max_mb']}",
            file=sys.stderr,
        )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        report = run(args)
    except (OSError, ValueError, KeyError) as exc:
        print(f"loadgen: error: {exc}", file=sys.stderr)
        return 2
    _print(report)
    text = json.dumps(report, ensure_ascii=False, indent=2)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n", encoding="utf-8")
    else:
        print(text)
    return 0 if report["errors"] == 0 and report["completed"] == report["planned"] else 1


if __name__ == "__main__":
    sys.exit(main())
