"""Upload throughput: documents and chunks a second through ``POST /v1/documents`` and its jobs.

    .venv/bin/python -m bench.uploads [--small 50] [--json bench/results/uploads.json]

A fresh ``reportrag serve`` (Milvus Lite, an empty corpus folder, an admin key) on a
temporary data directory. Three workloads, each timed from its first POST to its last job
``done`` (the jobs run one at a time, as the server runs them):

* ``warm-up``: one tiny file; the serving process loads the passage model for it (reported,
  not counted in the others);
* ``report PDFs``: the English and the Chinese editions of the annual report, printed to PDF
  by headless Chromium from ``corpus/`` (tens of pages each);
* ``small files``: N Markdown files of a few paragraphs each (passages of the corpus
  articles), sent back to back: they queue and finish in order.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.common import REPO, machine, model_path, write_result

KEY = "bench-admin-key"
ADMIN = {"X-API-Key": KEY}
EDITIONS = {"report-en": "000_a4d6d44b88908d33.txt", "report-zh": "001_01d7e7f86c812082.txt"}
ARTICLES = ("002_e3e1792454d159ff.txt", "003_18194aaf734a0421.txt", "004_17b3d39a7c38cc16.txt")


def print_pdf(text: str, out: Path, lang: str) -> None:
    """The text as an HTML page (a paragraph a line) printed to PDF by Chromium."""
    paras = "".join(f"<p>{html.escape(line)}</p>" for line in text.splitlines() if line.strip())
    page = out.with_suffix(".html")
    page.write_text(
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8"><style>body{{'
        "font-family:'Noto Serif CJK SC',serif;font-size:11pt}</style></head>"
        f"<body>{paras}</body></html>", encoding="utf-8",
    )
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
             f"--user-data-dir={profile}", f"--print-to-pdf={out}", page.as_uri()],
            check=True, capture_output=True, timeout=300,
        )


def small_files(n: int) -> list[tuple[str, bytes]]:
    """N Markdown files of 3 paragraphs each, cut from the corpus articles."""
    paras = [
        line.strip()
        for name in ARTICLES
        for line in (REPO / "corpus" / name).read_text(encoding="utf-8").splitlines()
        if len(line.strip()) > 80
    ]
    out = []
    for i in range(n):
        body = "\n\n".join(paras[(3 * i + j) % len(paras)] for j in range(3))
        out.append((f"note-{i:03d}.md", f"# Note {i}\n\n{body}\n".encode()))
    return out


class Server:
    def __init__(self, work: Path) -> None:
        (work / "corpus").mkdir(parents=True)
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("REPORTRAG_")}
        env.update(
            HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false",
            REPORTRAG_DATA_DIR=str(work / "data"), REPORTRAG_CORPUS_DIR=str(work / "corpus"),
            REPORTRAG_MODEL=model_path(), REPORTRAG_API_KEY=KEY,
        )
        exe = str(Path(sys.executable).with_name("reportrag"))
        self.log = (work / "serve.log").open("wb")
        self.proc = subprocess.Popen(
            [exe, "serve", "--port", str(self.port)], cwd=work, env=env,
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise SystemExit("reportrag serve did not start")

    def stop(self) -> None:
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(server: Server, files: list[tuple[str, bytes]]) -> dict[str, Any]:
    """POST every file back to back, then wait for every job: the workload's figures."""
    started = time.perf_counter()
    jobs, post_ms = [], []
    with httpx.Client(timeout=120) as client:
        for name, data in files:
            t = time.perf_counter()
            r = client.post(f"{server.url}/v1/documents", headers=ADMIN,
                            files={"file": (name, data)})
            post_ms.append((time.perf_counter() - t) * 1000)
            if r.status_code != 202:
                raise SystemExit(f"{name}: {r.status_code} {r.text[:300]}")
            jobs.append(r.json()["job_id"])
        done: dict[str, dict[str, Any]] = {}
        while len(done) < len(jobs):
            for job_id in jobs:
                if job_id in done:
                    continue
                job = client.get(f"{server.url}/v1/jobs/{job_id}", headers=ADMIN).json()
                if job["state"] == "failed":
                    raise SystemExit(f"job failed: {job['error']}")
                if job["state"] == "done":
                    done[job_id] = job
            time.sleep(0.2)
    wall = time.perf_counter() - started
    chunks = sum(j["result"]["chunks"] for j in done.values())
    # Jobs of one batch share its timings: count each batch once.
    batches = {(j["started_at"], json.dumps(j["timings"], sort_keys=True)): j["timings"]
               for j in done.values()}
    stages = {k: round(sum(t.get(k, 0.0) for t in batches.values()), 2)
              for k in ("parsing_s", "embedding_s", "writing_s")}
    return {
        "documents": len(files), "bytes": sum(len(d) for _, d in files), "chunks": chunks,
        "wall_s": round(wall, 2), "documents_per_s": round(len(files) / wall, 2),
        "chunks_per_s": round(chunks / wall, 1),
        "post_ms_p50": round(sorted(post_ms)[len(post_ms) // 2], 1),
        "post_ms_max": round(max(post_ms), 1), "batches": len(batches),
        "batch_stage_seconds": stages,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", type=int, default=50, help="how many small files")
    ap.add_argument("--json", type=Path, default=None, help="write the results here")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="reportrag-bench-uploads-") as tmp:
        work = Path(tmp)
        pdfs = []
        for doc, name in EDITIONS.items():
            out = work / f"{doc}.pdf"
            print_pdf((REPO / "corpus" / name).read_text(encoding="utf-8"), out, doc[-2:])
            pdfs.append((out.name, out.read_bytes()))
        from reportrag.ingest.pdf import parse_pdf

        pages = {name: len(parse_pdf(data, source=name).page_starts) for name, data in pdfs}
        server = Server(work / "serve")
        try:
            results = {
                "warm_up": run(server, [("warm-up.md", b"# Warm up\n\nA first passage.\n")]),
                "report_pdfs": {**run(server, pdfs), "pages": pages},
                "small_files": run(server, small_files(args.small)),
            }
        finally:
            server.stop()
    out = {"machine": machine(), "results": results}
    print(json.dumps(out, ensure_ascii=False, indent=1))
    path = write_result("uploads", out, args.json)
    print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
