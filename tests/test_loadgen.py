"""bench.loadgen against a small loopback HTTP server: counts, statuses, rates, RSS sampling."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bench import loadgen


class _Handler(BaseHTTPRequestHandler):
    seen: list[dict] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        self.seen.append({"path": self.path, "body": body, "key": self.headers.get("x-api-key")})
        status = 503 if "fail" in body["query"] else 200
        time.sleep(0.01)
        payload = b'{"hits": []}'
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def server() -> Iterator[str]:
    _Handler.seen = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_bodies_come_from_the_eval_queries_with_their_lang_filters() -> None:
    bodies = loadgen.load_bodies()
    rows = [
        json.loads(x)
        for p in loadgen.DEFAULT_QUERIES
        for x in p.read_text(encoding="utf-8").splitlines()
        if x.strip()
    ]
    assert len(bodies) == len(rows) > 100
    assert [b["query"] for b in bodies] == [r["q"] for r in rows]
    assert all(b["filters"]["lang"] == r["lang"] for b, r in zip(bodies, rows, strict=True))
    ctx = loadgen.load_bodies(endpoint="context", max_tokens=500)
    assert all(b["max_tokens"] == 500 for b in ctx)
    with pytest.raises(ValueError):
        loadgen.load_bodies(endpoint="nope")


def test_percentile_is_nearest_rank() -> None:
    xs = [float(i) for i in range(1, 101)]
    assert loadgen.percentile(xs, 50) == 50.0
    assert loadgen.percentile(xs, 99) == 99.0
    assert loadgen.percentile(xs, 100) == 100.0
    assert loadgen.percentile([7.0], 95) == 7.0
    assert loadgen.percentile([], 50) == 0.0


def test_closed_loop_sends_exactly_n_and_counts_errors_by_status(server: str) -> None:
    bodies = [{"query": "ok"}, {"query": "ok too"}, {"query": "please fail"}]
    samples, wall, cpu = loadgen.run_closed(
        server, bodies, concurrency=3, requests=30, headers={"X-API-Key": "k"}
    )
    report = loadgen.summarize(samples, planned=30, wall_s=wall, client_cpu_s=cpu)
    assert report["completed"] == report["planned"] == len(_Handler.seen) == 30
    assert report["by_status"] == {"200": 20, "503": 10}
    assert report["errors"] == 10 and report["ok"] == 20
    assert {s["path"] for s in _Handler.seen} == {"/v1/search"}
    assert {s["key"] for s in _Handler.seen} == {"k"}
    assert report["latency_ms"]["p50"] >= 10  # the handler sleeps 10 ms
    assert report["latency_ms"]["max"] >= report["latency_ms"]["p99"] >= report["latency_ms"]["p50"]


def test_open_loop_holds_the_rate_and_reports_connection_errors(server: str) -> None:
    samples, wall, cpu = loadgen.run_open(server, [{"query": "ok"}], rate=40, duration=1.0)
    report = loadgen.summarize(samples, planned=40, wall_s=wall, client_cpu_s=cpu)
    assert report["completed"] == 40 and report["errors"] == 0
    assert 0.9 <= wall < 2.0  # the last request is due at 0.975 s
    dead, _, _ = loadgen.run_open("http://127.0.0.1:9", [{"query": "x"}], rate=20, duration=0.2)
    assert {s.status for s in dead} == {"ConnectError"}


def test_rss_sampler_reads_proc(tmp_path: Path) -> None:
    sampler = loadgen.RssSampler(os.getpid(), interval=0.05).start()
    time.sleep(0.2)
    rss = sampler.stop()
    assert rss["start_mb"] > 10 and len(rss["samples"]) >= 3
    assert loadgen.read_rss_kb(2**22 + 12345) is None


def test_tree_rss_counts_a_child_in_a_session_of_its_own() -> None:
    # As serve's Milvus Lite process: started with a session of its own, holding memory.
    code = "b = bytearray(200 * 2**20); import sys; print('up', flush=True); sys.stdin.read()"
    child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, start_new_session=True)
    try:
        assert child.stdout is not None and child.stdout.readline() == b"up\n"
        assert child.pid in loadgen.process_tree(os.getpid())
        own, child_kb = loadgen.read_rss_kb(os.getpid()), loadgen.read_rss_kb(child.pid)
        assert own is not None and child_kb is not None and child_kb > 200 * 1024
        tree = loadgen.tree_rss_kb(os.getpid())
        assert tree is not None and tree >= own + child_kb - 10 * 1024  # sampled apart
        sampler = loadgen.RssSampler(os.getpid(), interval=0.05, tree=True).start()
        time.sleep(0.15)
        assert sampler.stop()["start_mb"] * 1024 >= own + child_kb - 10 * 1024
    finally:
        child.communicate(b"")
    assert child.pid not in loadgen.process_tree(os.getpid())
    assert loadgen.tree_rss_kb(2**22 + 12345) is None


def test_cli_writes_the_report_and_fails_on_errors(server: str, tmp_path: Path) -> None:
    queries = tmp_path / "q.jsonl"
    queries.write_text('{"q": "ok", "lang": ["en"]}\n{"q": "fail", "lang": []}\n')
    out = tmp_path / "r.json"
    code = loadgen.main(
        ["--url", server, "--queries", str(queries), "--pid", str(os.getpid()),
         "--json", str(out), "closed", "-c", "2", "-n", "10"]
    )
    report = json.loads(out.read_text())
    assert code == 1 and report["errors"] == 5 and report["server_rss"]["pid"] == os.getpid()
    # Two clients race, so the bodies arrive in either order; each query file line becomes one
    # body (an empty lang list means no filter), five times each.
    bodies = [json.dumps(s["body"], sort_keys=True) for s in _Handler.seen]
    want_ok = {"query": "ok", "top_k": 5, "filters": {"lang": ["en"]}}
    want_fail = {"query": "fail", "top_k": 5}
    assert sorted(bodies) == sorted([json.dumps(want_ok, sort_keys=True)] * 5
                                    + [json.dumps(want_fail, sort_keys=True)] * 5)
