"""What the serving process holds, component by component, and the query encoder's two
weight layouts side by side (issue #26).

    .venv/bin/python -m bench.serve_memory --data DATA_DIR [--model MODEL_DIR]
        [--baseline REF] [--load-s 300] [--json bench/results/serve-memory.json]

1. Components: a fresh child process imports and loads what ``reportrag serve`` does, in its
   order, printing the resident memory each step adds (VmRSS).
2. The int8 query encoder with its token-embedding table in the weights file onnxruntime
   maps (``INT8_VERSION`` 2) and read row by row from its own file (3): RSS added by the
   session and by every evaluation query, and whether the vectors are bit-identical.
3. What serving held before: the library's tokenizer and lingua with preloaded models,
   each in a fresh process.
4. ``reportrag serve`` on a copy of DATA_DIR, this tree's code and (``--baseline``) the code
   of a git ref side by side, at the same time: start-to-ready seconds, the RSS of the API
   process and of its Milvus Lite child when ready, then during ``--load-s`` seconds of
   back-to-back searches (every evaluation query in turn, both servers alike) and at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.common import REPO, machine, model_path, write_result
from bench.http_latency import free_port, stop_server, wait_ready
from bench.loadgen import process_tree, read_rss_kb


def _child(code: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code, *args], cwd=REPO, check=False,
                         capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    if out.returncode:
        raise SystemExit(f"serve_memory: a measuring child failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


_RSS = """
import os, json, sys
def rss():
    for line in open(f"/proc/{os.getpid()}/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
"""

COMPONENTS = _RSS + """
steps, last = [], rss()
def step(name):
    global last
    now = rss(); steps.append([name, round(now - last, 1)]); last = now
import fastapi, uvicorn; step("fastapi, uvicorn")
import pymilvus; step("pymilvus (imports pandas)")
import onnxruntime; step("onnxruntime")
import reportrag.api.app; step("reportrag's API modules")
from reportrag.embedding.query_tokenizer import shared_query_tokenizer
shared_query_tokenizer(sys.argv[1] + "/tokenizer.json"); step("lean query tokenizer (250k pieces)")
from reportrag.embedding.onnx_engine import OnnxEngine
engine = OnnxEngine(__import__("pathlib").Path(sys.argv[1]), precision="int8", threads=2,
                    lean_tokenizer=True)
engine.load(); step("int8 ONNX query encoder session")
for i in range(21): engine.encode(["query: " + "How many A100 GPUs? " * (i % 5 + 1)])
step("21 queries")
from reportrag.langid import default_detector
default_detector().warm_up(); step("lingua (the models queries use, loaded by warm_up)")
import mcp.server.mcpserver; step("the MCP SDK (loaded by the first call to /mcp only)")
print(json.dumps({"steps": steps, "total_mb": round(rss(), 1),
                  "torch_loaded": "torch" in sys.modules}))
"""

BEFORE = _RSS + """
import tokenizers, lingua
what, last = sys.argv[2], rss()
if what == "tokenizer":
    tokenizers.Tokenizer.from_file(sys.argv[1] + "/tokenizer.json")
else:
    from reportrag.langid import CJK_CODES, DEFAULT_LANGUAGES
    codes = sorted(set(DEFAULT_LANGUAGES) - set(CJK_CODES))
    builder = lingua.LanguageDetectorBuilder.from_iso_codes_639_1(
        *[getattr(lingua.IsoCode639_1, c.upper()) for c in codes])
    builder.with_preloaded_language_models().build()
print(json.dumps({"mb": round(rss() - last, 1)}))
"""

LAYOUT = _RSS + """
import numpy as np, onnxruntime as ort
from pathlib import Path
from reportrag.embedding.query_tokenizer import shared_query_tokenizer
from reportrag.embedding.token_table import TOKEN_EMBEDDINGS, TokenTable, table_file
tok = shared_query_tokenizer(sys.argv[2])
before = rss()
o = ort.SessionOptions(); o.intra_op_num_threads = 1; o.inter_op_num_threads = 1
o.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
s = ort.InferenceSession(sys.argv[1], o, providers=["CPUExecutionProvider"])
table = (TokenTable(table_file(Path(sys.argv[1])))
         if TOKEN_EMBEDDINGS in [i.name for i in s.get_inputs()] else None)
session = rss() - before
outs = []
for q in json.loads(sys.argv[4]):
    ids = np.array([tok.encode_ids("query: " + q)], dtype=np.int64)
    feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
    if table is not None:
        feeds[TOKEN_EMBEDDINGS] = table.lookup(ids)
    outs.append(s.run(None, feeds)[0].mean(axis=1)[0])
np.save(sys.argv[3], np.stack(outs))
print(json.dumps({"session_mb": round(session, 1), "after_queries_mb": round(rss() - before, 1),
                  "queries": len(outs)}))
"""


def layouts(model: Path) -> dict:
    """The int8 encoder with its token-embedding table inside the mapped weights file
    (INT8_VERSION 2) and read row by row from its own file (3, what serving runs): RSS the
    session adds, then after every evaluation query once; bit-identical outputs or not."""
    import numpy as np

    from reportrag.embedding.onnx_export import (
        exported_model,
        int8_reduce_range,
        quantize,
        quantized_model,
    )

    rows_layout = quantized_model(model)
    with tempfile.TemporaryDirectory() as tmp:
        mapped = Path(tmp) / "mapped.onnx"
        quantize(exported_model(model), mapped, reduce_range=int8_reduce_range(),
                  split_table=False)
        out = {}
        for name, path in (("table_mapped", mapped), ("table_rows", rows_layout)):
            out[name] = _child(LAYOUT, str(path), str(model / "tokenizer.json"),
                               f"{tmp}/{name}.npy", json.dumps(_queries()))
        same = bool(np.array_equal(np.load(f"{tmp}/table_mapped.npy"),
                                   np.load(f"{tmp}/table_rows.npy")))
    return {**out, "vectors_identical": same}


def _queries() -> list[str]:
    out = []
    for path in ("eval/dev_queries.jsonl", "eval/queries_extended.jsonl",
                 "eval/realdocs/queries.jsonl", "eval/pairs-dev/queries.jsonl"):
        for line in (REPO / path).read_text(encoding="utf-8").splitlines():
            if line.strip():
                out.append(json.loads(line)["q"])
    return out


class _Server:
    """``reportrag serve`` on its own copy of the data, from this tree or from ``code``."""

    def __init__(self, name: str, data: Path, model: str, work: Path, code: Path | None) -> None:
        copy = work / f"data-{name}"
        copy.mkdir()
        for item in data.iterdir():  # the collection; the models are read where they are
            if item.name != "models":
                (shutil.copytree if item.is_dir() else shutil.copy2)(item, copy / item.name)
        self.name, self.port = name, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "REPORTRAG_DATA_DIR": str(copy),
               "REPORTRAG_MODEL": model, "PYTHONPATH": str(code or REPO)}
        self.log = work / f"{name}.log"
        exe = str(Path(sys.executable).with_name("reportrag"))
        self.started = time.monotonic()
        self.proc = subprocess.Popen([exe, "serve", "--port", str(self.port), "--log-level",
                                      "warning"], cwd=work, env=env, stdout=self.log.open("w"),
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self.row: dict = {}
        self.samples: list[dict[str, float]] = []

    def ready(self) -> None:
        wait_ready(self.proc, self.url, self.log, f"reportrag serve ({self.name})")
        self.row["ready_s"] = round(time.monotonic() - self.started, 1)
        self.row["ready"] = self.rss()

    def rss(self) -> dict[str, float]:
        """The API process's RSS, its anonymous and file-backed parts (mapped weights the
        queries have read), and the Milvus Lite child's RSS, in MB."""
        kb = _status_kb(self.proc.pid)
        lite = sum(read_rss_kb(p) or 0 for p in process_tree(self.proc.pid) - {self.proc.pid})
        return {"api_mb": round(kb.get("VmRSS", 0) / 1024, 1),
                "api_anon_mb": round(kb.get("RssAnon", 0) / 1024, 1),
                "api_file_mb": round(kb.get("RssFile", 0) / 1024, 1),
                "lite_mb": round(lite / 1024, 1)}


def serve(data: Path, model: str, baseline: str | None, load_s: float) -> dict:
    queries = _queries()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        code = None
        if baseline:
            code = work / "baseline"
            code.mkdir()
            archive = subprocess.run(["git", "archive", baseline, "reportrag"], cwd=REPO,
                                     check=True, capture_output=True).stdout
            subprocess.run(["tar", "-x", "-C", str(code)], input=archive, check=True)
        servers = [_Server("now", data, model, work, None)]
        if code is not None:
            servers.append(_Server(f"baseline {baseline}", data, model, work, code))
        try:
            for s in servers:
                s.ready()
            done = 0
            started = time.monotonic()
            next_sample = started
            with httpx.Client(timeout=60) as client:
                while time.monotonic() - started < load_s:
                    q = queries[done % len(queries)]
                    for s in servers:
                        client.post(f"{s.url}/v1/search", json={"query": q}).raise_for_status()
                    done += 1
                    if time.monotonic() >= next_sample:
                        for s in servers:
                            s.samples.append(s.rss())
                        next_sample += 10
            out = {}
            for s in servers:
                end, ready = s.rss(), s.row["ready"]
                out[s.name] = {
                    **s.row, "load_s": load_s, "searches": done, "after_load": end,
                    "api_max_mb": max([x["api_mb"] for x in s.samples] + [end["api_mb"]]),
                    "api_growth_pct": round(100 * (end["api_mb"] / ready["api_mb"] - 1), 1),
                    "api_anon_growth_pct": round(
                        100 * (end["api_anon_mb"] / ready["api_anon_mb"] - 1), 1),
                    "api_mb_every_10s": [x["api_mb"] for x in s.samples],
                }
            return out
        finally:
            for s in servers:
                stop_server(s.proc)


def _status_kb(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile"):
            out[key] = int(value.split()[0])
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, required=True, help="an ingested data dir")
    p.add_argument("--model", default=None, help="the model dir (default: data/models/...)")
    p.add_argument("--baseline", default=None, help="a git ref whose code serves alongside")
    p.add_argument("--load-s", type=float, default=300.0, help="seconds of searches")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    model = args.model or model_path()
    result = {"machine": machine(),
              "components": _child(COMPONENTS, model),
              "before": {"library tokenizer": _child(BEFORE, model, "tokenizer")["mb"],
                         "lingua, preloaded models": _child(BEFORE, model, "lingua")["mb"]},
              "query_encoder_layouts": layouts(Path(model)),
              "serve": serve(args.data, model, args.baseline, args.load_s)}
    print(json.dumps(result, indent=2, ensure_ascii=False))
    if args.json:
        write_result("serve-memory", result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
