"""What every benchmark script shares: the machine it ran on, timed child processes, output."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
VARIANT_SETTINGS = ("REPORTRAG_QUERY_PRECISION", "REPORTRAG_MODEL_ENGINE", "REPORTRAG_PRECISION",
                    "REPORTRAG_LITE_PROCESS", "REPORTRAG_WORKERS")


CPU_FLAGS = {"avx2", "avx512f", "avx512_bf16", "avx512_vnni", "avx_vnni", "amx_bf16", "amx_tile"}


def cpu_label(m: dict[str, Any]) -> str:
    """"AMD EPYC (AVX2)": the CPU of a result and its widest vector unit, where recorded."""
    flags = set(m.get("cpu_flags") or ())
    best = next((label for flag, label in (("amx_tile", "AMX"), ("avx512_bf16", "AVX-512 BF16"),
                                           ("avx512f", "AVX-512"), ("avx2", "AVX2"))
                 if flag in flags), "")
    cpu = m.get("cpu") or ""
    return f"{cpu} ({best})" if cpu and best else cpu


def machine() -> dict[str, Any]:
    """Cores, CPU model, Python, commit and load average: printed next to every figure."""
    cpu, flags = "", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and not cpu:
                cpu = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    try:
        commit = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        commit, dirty = "", ""
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        # what the model's speed depends on: bf16 passages need AVX-512 BF16 or AMX, int8
        # queries are fastest with VNNI ("AMD EPYC" alone names CPUs with and without them)
        "cpu_flags": sorted(flags & CPU_FLAGS),
        "python": platform.python_version(),
        "commit": commit + ("+dirty" if dirty else ""),
        "loadavg_1m": round(os.getloadavg()[0], 2),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        # the variant a run measured (query precision, engine, Lite process), where set
        "settings": {k: os.environ[k] for k in VARIANT_SETTINGS if k in os.environ},
    }


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (linear interpolation), 0 for no values."""
    if not values:
        return 0.0
    xs = sorted(values)
    k = (len(xs) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def latency_summary(ms: list[float]) -> dict[str, float]:
    """p50/p95/p99/max/mean of latencies in milliseconds, rounded."""
    return {
        "n": len(ms),
        "p50_ms": round(percentile(ms, 50), 2),
        "p95_ms": round(percentile(ms, 95), 2),
        "p99_ms": round(percentile(ms, 99), 2),
        "max_ms": round(max(ms), 2) if ms else 0.0,
        "mean_ms": round(sum(ms) / len(ms), 2) if ms else 0.0,
    }


@dataclass
class ChildRun:
    """A finished child process: exit code, wall seconds, peak RSS, output."""

    returncode: int
    wall_s: float
    peak_rss_mb: float
    stdout: str
    stderr: str


def run_measured(cmd: list[str], *, env: dict[str, str] | None = None, cwd: Path = REPO,
                 timeout: float = 3600) -> ChildRun:
    """Run ``cmd``; wall seconds and the child's own peak RSS (what ``/usr/bin/time`` shows)."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    # Read the pipes on threads so a chatty child cannot block, then reap it with wait4,
    # which reports the peak RSS of exactly this child.
    chunks: dict[str, list[str]] = {"out": [], "err": []}

    def drain(stream, key: str) -> None:
        for line in stream:
            chunks[key].append(line)

    readers = [
        threading.Thread(target=drain, args=(proc.stdout, "out"), daemon=True),
        threading.Thread(target=drain, args=(proc.stderr, "err"), daemon=True),
    ]
    for t in readers:
        t.start()
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            proc.kill()
            raise TimeoutError(f"{cmd[0]} ran past {timeout}s")
        time.sleep(0.02)
    wall = time.perf_counter() - started
    for t in readers:
        t.join(5)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return ChildRun(
        proc.returncode,
        wall,
        usage.ru_maxrss / 1024,  # kB on Linux
        "".join(chunks["out"]),
        "".join(chunks["err"]),
    )


def write_result(name: str, data: dict[str, Any], path: Path | None = None) -> Path:
    """Write ``bench/results/<name>.json`` (or ``path``) and return where it went."""
    out = path or RESULTS / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return out


def model_path() -> str:
    """The built model directory under ./data/models (``reportrag model info`` builds it)."""
    found = sorted((REPO / "data" / "models").glob("multilingual-e5-small-*"))
    dirs = [p for p in found if (p / "config.json").is_file()]
    if not dirs:
        raise SystemExit("no built model under data/models: run `.venv/bin/reportrag model info`")
    return str(dirs[-1])
