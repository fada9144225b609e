"""What the serving process holds, component by component, and the query encoder's two
weight layouts side by side (issue #26).

    .venv/bin/python -m bench.serve_memory --data DATA_DIR [--json bench/results/serve-memory.json]

1. Components: a fresh child process imports and loads what ``reportrag serve`` does, in its
   order, printing the resident memory each step adds (VmRSS).
2. The int8 query encoder as one ONNX file (weights inline, copied into the process) and as
   a graph plus a ``.data`` file that onnxruntime maps (what ``INT8_VERSION`` 2 writes): RSS
   added by the session and by 21 queries, and whether the vectors are bit-identical.
3. ``reportrag serve`` on DATA_DIR: start-to-ready seconds and the API process's RSS ready
   and after 50 searches (the Milvus Lite child apart).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.common import REPO, machine, model_path, write_result
from bench.http_latency import free_port, stop_server, wait_ready

QUERIES = ["How many A100 GPUs does ChatGPT need?", "开源商业模式有哪些?",
           "Wie viele Entwickler nutzen Open Source?"]


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
import mcp.server.mcpserver; step("the MCP SDK")
from reportrag.embedding.base import shared_tokenizer
shared_tokenizer(sys.argv[1] + "/tokenizer.json"); step("tokenizer (XLM-R unigram, 250k)")
from reportrag.embedding.onnx_engine import OnnxEngine
engine = OnnxEngine(__import__("pathlib").Path(sys.argv[1]), precision="int8", threads=2)
engine.load(); step("int8 ONNX query encoder session")
for i in range(21): engine.encode(["query: " + "How many A100 GPUs? " * (i % 5 + 1)])
step("21 queries")
from reportrag.langid import default_detector
default_detector().warm_up(); step("lingua language detector (preloaded)")
print(json.dumps({"steps": steps, "total_mb": round(rss(), 1),
                  "torch_loaded": "torch" in sys.modules}))
"""

LAYOUT = _RSS + """
import numpy as np, onnxruntime as ort
from tokenizers import Tokenizer
tok = Tokenizer.from_file(sys.argv[2])
before = rss()
o = ort.SessionOptions(); o.intra_op_num_threads = 2; o.inter_op_num_threads = 1
o.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
s = ort.InferenceSession(sys.argv[1], o, providers=["CPUExecutionProvider"])
session = rss() - before
outs = []
for q in json.loads(sys.argv[4]) * 7:
    ids = np.array([tok.encode("query: " + q).ids], dtype=np.int64)
    feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
    if "token_type_ids" in [i.name for i in s.get_inputs()]:
        feeds["token_type_ids"] = np.zeros_like(ids)
    outs.append(s.run(None, feeds)[0].ravel()[:4096])
np.save(sys.argv[3], np.stack(outs))
print(json.dumps({"session_mb": round(session, 1), "after_queries_mb": round(rss() - before, 1)}))
"""


def layouts(model: Path) -> dict:
    import numpy as np
    import onnx

    from reportrag.embedding.onnx_engine import quantized_model

    external = quantized_model(model)  # the layout of INT8_VERSION 2
    with tempfile.TemporaryDirectory() as tmp:
        inline = Path(tmp) / "inline.onnx"
        onnx.save_model(onnx.load(str(external)), str(inline))  # the weights inside the file
        rows = {}
        for name, path in (("inline", inline), ("external", external)):
            rows[name] = _child(LAYOUT, str(path), str(model / "tokenizer.json"),
                                f"{tmp}/{name}.npy", json.dumps(QUERIES))
        same = bool(np.array_equal(np.load(f"{tmp}/inline.npy"), np.load(f"{tmp}/external.npy")))
    return {**rows, "vectors_identical": same}


def serve(data: Path, model: str, searches: int = 50) -> dict:
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "REPORTRAG_DATA_DIR": str(data),
           "REPORTRAG_MODEL": model}
    log = Path(tempfile.mkstemp(suffix=".log")[1])
    exe = str(Path(sys.executable).with_name("reportrag"))
    started = time.monotonic()
    proc = subprocess.Popen([exe, "serve", "--port", str(port), "--log-level", "warning"],
                            cwd=REPO, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(proc, url, log)
        ready_s = time.monotonic() - started
        ready = _rss_mb(proc.pid)
        for i in range(searches):
            httpx.post(f"{url}/v1/search", json={"query": QUERIES[i % 3]}, timeout=60)
        return {"ready_s": round(ready_s, 1), "api_rss_ready_mb": ready,
                "api_rss_after_searches_mb": _rss_mb(proc.pid), "searches": searches}
    finally:
        stop_server(proc)


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, required=True, help="an ingested data dir")
    p.add_argument("--model", default=None, help="the model dir (default: data/models/...)")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    model = args.model or model_path()
    result = {"machine": machine(),
              "components": _child(COMPONENTS, model),
              "query_encoder_layouts": layouts(Path(model)),
              "serve": serve(args.data, model)}
    print(json.dumps(result, indent=2, ensure_ascii=False))
    if args.json:
        write_result("serve-memory", result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
