"""Where a search request's time goes: every embedder and store call of SearchService, timed.

    .venv/bin/python -m bench.stages [--rounds 3] [--json bench/results/stages.json]

In-process, over the ingested corpus (``reportrag ingest`` first), with Milvus Lite in a
process of its own as ``reportrag serve`` runs it (or ``--milvus-uri`` for a server): the
evaluation queries of both sets with their language filters, ``top_k`` 5, in ``auto`` and
``dense`` mode, one after another (no concurrency). The embedder and the store are wrapped
in timing proxies at their seam with the service, so the figures are the real calls: per
mode the service actually ran (``auto`` resolves to ``hybrid`` or ``crosslingual`` per
query), the request p50 and, per call, how many a request makes and their p50. Calls run
concurrently where the service overlaps them (the keyword search with the query embedding),
so the per-call figures add up to more than the request.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import REPO, latency_summary, machine, write_result

QUERY_SETS = (REPO / "eval" / "dev_queries.jsonl", REPO / "eval" / "queries_extended.jsonl")


class CallLog:
    """(name, ms) of every timed call since the last :meth:`take`, from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: list[tuple[str, float]] = []

    def add(self, name: str, ms: float) -> None:
        with self._lock:
            self._calls.append((name, ms))

    def take(self) -> list[tuple[str, float]]:
        with self._lock:
            calls, self._calls = self._calls, []
        return calls


class Timed:
    """A proxy that times every method call of the object it wraps; attributes pass through."""

    def __init__(self, inner: object, prefix: str, log: CallLog) -> None:
        self._inner, self._prefix, self._log = inner, prefix, log

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        if not callable(value):
            return value
        label, log = f"{self._prefix}.{name}", self._log

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return value(*args, **kwargs)
            finally:
                log.add(label, (time.perf_counter() - started) * 1000)

        return timed


def timed_function(fn: Callable[..., Any], label: str, log: CallLog) -> Callable[..., Any]:
    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            log.add(label, (time.perf_counter() - started) * 1000)

    return timed


def summarise(requests: list[tuple[str, float, list[tuple[str, float]]]]) -> dict[str, Any]:
    """Per mode that ran: requests, request latency, and per call: calls a request, p50 ms."""
    by_mode: dict[str, list[tuple[float, list[tuple[str, float]]]]] = defaultdict(list)
    for mode, ms, calls in requests:
        by_mode[mode].append((ms, calls))
    out: dict[str, Any] = {}
    for mode, rows in sorted(by_mode.items()):
        per_call: dict[str, list[float]] = defaultdict(list)
        for _, calls in rows:
            for name, ms in calls:
                per_call[name].append(ms)
        out[mode] = {
            "requests": len(rows),
            "request": latency_summary([ms for ms, _ in rows]),
            "calls": {name: {"per_request": round(len(v) / len(rows), 2),
                             "p50_ms": latency_summary(v)["p50_ms"]}
                      for name, v in sorted(per_call.items())},
        }
    return out


def run(rounds: int, milvus_uri: str | None) -> dict[str, Any]:
    import os

    if milvus_uri:
        os.environ["REPORTRAG_MILVUS_URI"] = milvus_uri
    from reportrag.search.filters import build_filters
    from reportrag.search.service import service_from_settings
    from reportrag.settings import get_settings
    from reportrag.store.lite_process import LiteProcess
    from reportrag.wiring import embedder_from_settings, open_collection

    settings = get_settings()
    lite = None
    if settings.milvus_uri is None and settings.lite_address is None:
        lite = LiteProcess(Path(settings.resolved_milvus_uri))
        settings = settings.model_copy(update={"lite_address": lite.start()})
    log = CallLog()
    embedder = embedder_from_settings(settings)
    store = open_collection(settings, embedder)
    service = service_from_settings(Timed(embedder, "embedder", log), Timed(store, "store", log),
                                    settings)
    service.detect_lang = timed_function(service.detect_lang, "detect_lang", log)
    queries = [json.loads(line) for path in QUERY_SETS
               for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    try:
        for q in queries[:5]:  # warm-up: the encoder's first runs and Lite's caches
            service.search(q["q"], top_k=5, filters=build_filters(lang=q.get("lang") or None))
        log.take()
        requests: dict[str, list[tuple[str, float, list[tuple[str, float]]]]] = {
            "auto": [], "dense": []}
        for _ in range(rounds):
            for asked in requests:
                for q in queries:
                    started = time.perf_counter()
                    res = service.search(q["q"], top_k=5, mode=asked,
                                         filters=build_filters(lang=q.get("lang") or None))
                    ms = (time.perf_counter() - started) * 1000
                    requests[asked].append((res.mode, ms, log.take()))
    finally:
        service.close()
        store.close()
        if lite is not None:
            lite.stop()
    return {
        "machine": machine(),
        "milvus": milvus_uri or "lite (own process)",
        "queries": len(queries),
        "rounds": rounds,
        "top_k": 5,
        "modes": {asked: summarise(reqs) for asked, reqs in requests.items()},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3, help="passes over the queries per mode")
    ap.add_argument("--milvus-uri", help="a Milvus server instead of the Lite file")
    ap.add_argument("--json", type=Path, help="write the result here (default: print only)")
    args = ap.parse_args(argv)
    if args.rounds < 1:
        ap.error("--rounds must be at least 1")
    result = run(args.rounds, args.milvus_uri)
    for asked, modes in result["modes"].items():
        for ran, m in modes.items():
            r = m["request"]
            print(f"{asked} -> {ran}: {m['requests']} requests, p50 {r['p50_ms']} ms, "
                  f"p95 {r['p95_ms']} ms")
            for name, c in m["calls"].items():
                print(f"    {name:32s} {c['per_request']:5.2f} a request, p50 {c['p50_ms']} ms")
    if args.json:
        write_result("stages", result, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
