"""Scale benchmark on a real Milvus server: N synthetic 384-d chunks through MilvusStore.

    .venv/bin/python -m bench.scale --uri http://127.0.0.1:19531 \\
        --milvus-dir /tmp/scaleout-milvus --n 100000 --json bench/results/scale-100k.json

Measures insert throughput (MilvusStore.upsert, the ingester's path), flush + index build per
index kind (HNSW, IVF_FLAT, IVF_SQ8, FLAT: built one after the other on the same rows), load
time, single-client top-10 latency (p50/p90/p99) and recall@10 against exact numpy search for
unfiltered, ``lang == zh``, ``doc_id in [10 docs]`` and one-year date-range queries, across
an ef / nprobe sweep; the server's RSS (the milvus process group) and the size of its data
dir; optionally a partition key on ``lang``. Writes one JSON file and (with --plots) PNGs.
The data generator is described in bench/scale_data.py. Not a test: it prints numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from bench.scale_data import LANGS, REPO, Synthetic, generate, load_centres, realism
from reportrag.rules import INDEX_DEFAULTS

K = 10
FILTERS = ("none", "lang_zh", "doc_ids", "date_1y")
SWEEP = {"HNSW": "ef", "IVF_FLAT": "nprobe", "IVF_SQ8": "nprobe", "FLAT": "-"}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# -- the server's footprint -------------------------------------------------------------------


def milvus_pids(milvus_dir: Path | None) -> list[int]:
    """The live processes of the server started by scripts/milvus-server.sh in ``milvus_dir``."""
    if milvus_dir is None or not (milvus_dir / "milvus.pid").exists():
        return []
    leader = int((milvus_dir / "milvus.pid").read_text().strip() or 0)
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[2]) == leader:  # process group id, as the script gives it
            pids.append(int(entry.name))
    return pids


def rss_bytes(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


def disk_bytes(path: Path | None) -> int:
    if path is None:
        return 0
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_blocks * 512
            except OSError:
                continue
    return total


class PeakRss(threading.Thread):
    """Samples the server's RSS every second; ``peak`` is the largest seen."""

    def __init__(self, pids: list[int]) -> None:
        super().__init__(daemon=True)
        self.pids, self.peak, self._stop = pids, 0, threading.Event()

    def run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes(self.pids))
            self._stop.wait(1.0)

    def stop(self) -> int:
        self._stop.set()
        return self.peak


# -- ground truth -------------------------------------------------------------------------------


def query_filters(data: Synthetic, seed: int) -> dict[str, list[Any]]:
    """Per filter kind, one (Filters, row mask or row indices) per query."""
    from reportrag.types import Filters

    rng = np.random.default_rng(seed + 1)
    q = len(data.queries)
    docs = len(data.doc_lang)
    years = rng.integers(2015, 2026, size=q)
    doc_sets = [rng.choice(docs, size=min(10, docs), replace=False) for _ in range(q)]
    return {
        "none": [Filters()] * q,
        "lang_zh": [Filters(lang=("zh",))] * q,
        "doc_ids": [Filters(doc_id=tuple(data.doc_id(int(d)) for d in ds)) for ds in doc_sets],
        "date_1y": [Filters(date_from=f"{y}-01-01", date_to=f"{y}-12-31") for y in years],
        "_years": list(years),
        "_doc_sets": doc_sets,
    }


def exact_top_k(data: Synthetic, fq: dict[str, list[Any]]) -> tuple[dict, dict]:
    """Exact top-K rows per filter kind and query, and each filter's mean selectivity."""
    n = data.n
    lang_mask = data.row_lang() == LANGS.index("zh")
    dates = data.row_date_int()
    year_masks = {
        y: (dates >= y * 10000 + 101) & (dates <= y * 10000 + 1231) for y in range(2015, 2026)
    }
    truth: dict[str, list[np.ndarray]] = {f: [] for f in FILTERS}
    selectivity = {f: [] for f in FILTERS}
    block = 64
    for s in range(0, len(data.queries), block):
        qb = data.queries[s : s + block]
        scores = qb @ data.vectors.T  # (b, n)
        for j in range(len(qb)):
            i = s + j
            row = scores[j]
            masks = {
                "none": None,
                "lang_zh": lang_mask,
                "date_1y": year_masks[int(fq["_years"][i])],
            }
            for name, mask in masks.items():
                cand = row if mask is None else np.where(mask, row, -np.inf)
                count = n if mask is None else int(mask.sum())
                top = np.argpartition(-cand, K)[:K]
                top = top[np.argsort(-cand[top])]
                truth[name].append(top[np.isfinite(cand[top])][: min(K, count)])
                selectivity[name].append(count / n)
            idx = np.concatenate(
                [np.arange(data.doc_offset[d], data.doc_offset[d + 1]) for d in fq["_doc_sets"][i]]
            )
            sub = row[idx]
            order = np.argsort(-sub)[:K]
            truth["doc_ids"].append(idx[order])
            selectivity["doc_ids"].append(len(idx) / n)
    return truth, {f: round(float(np.mean(v)), 5) for f, v in selectivity.items()}


# -- Milvus side ----------------------------------------------------------------------------------


def wait_for_index(client: Any, name: str, n: int, timeout: float = 7200) -> dict[str, Any]:
    """Poll until every sealed row of ``name`` is indexed; the last describe_index answer."""
    started = time.monotonic()
    while True:
        info = dict(client.describe_index(name, "vector"))
        total, indexed = int(info.get("total_rows", 0)), int(info.get("indexed_rows", 0))
        pending = int(info.get("pending_index_rows", 0))
        if total >= n and indexed >= total and pending == 0:
            return info
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"index on {name} not built after {timeout}s: {info}")
        time.sleep(1.0)


def rebuild_index(client: Any, name: str, kind: str, params: dict[str, Any], n: int) -> float:
    """Replace the vector index of ``name``; seconds until every row is indexed."""
    client.release_collection(name)
    client.drop_index(name, "vector")
    ip = client.prepare_index_params()
    ip.add_index("vector", index_type=kind, metric_type="COSINE", params=params)
    started = time.monotonic()
    client.create_index(name, ip, sync=False)
    wait_for_index(client, name, n)
    return time.monotonic() - started


def timed_load(client: Any, name: str) -> float:
    client.release_collection(name)
    started = time.monotonic()
    client.load_collection(name)
    return time.monotonic() - started


def index_params(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    if kind == "HNSW":
        return {"M": args.hnsw_m, "efConstruction": args.ef_construction}
    if kind.startswith("IVF"):
        return {"nlist": args.nlist}
    return {}


def insert_all(store: Any, data: Synthetic, batch: int) -> dict[str, float]:
    """Upsert every row in batches of ``batch``: seconds spent in MilvusStore.upsert."""
    spent, made = 0.0, 0.0
    for s in range(0, data.n, batch):
        e = min(data.n, s + batch)
        t0 = time.perf_counter()
        chunks = data.chunks(s, e)
        t1 = time.perf_counter()
        store.upsert(chunks, data.vectors[s:e])
        spent += time.perf_counter() - t1
        made += t1 - t0
        if (s // batch) % 50 == 0:
            log(f"  inserted {e}/{data.n} ({e / max(spent, 1e-9):.0f} rows/s)")
    return {"upsert_seconds": round(spent, 2), "rows_per_s": round(data.n / spent, 1),
            "chunk_build_seconds": round(made, 2)}


def search_run(
    store: Any, data: Synthetic, fq: dict, truth: dict, names: tuple[str, ...]
) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for name in names:
        lat, rec = [], []
        for i, q in enumerate(data.queries):
            t0 = time.perf_counter()
            hits = store.rank_dense(q, fq[name][i], K, rows=True)  # whole chunks, as recorded
            lat.append((time.perf_counter() - t0) * 1000)
            want = set(int(x) for x in truth[name][i])
            got = {data.row_index(h.chunk_id) for h in hits}
            rec.append(len(got & want) / len(want) if want else 1.0)
        a = np.array(lat)
        out[name] = {
            "p50_ms": round(float(np.percentile(a, 50)), 2),
            "p90_ms": round(float(np.percentile(a, 90)), 2),
            "p99_ms": round(float(np.percentile(a, 99)), 2),
            "mean_ms": round(float(a.mean()), 2),
            "recall@10": round(float(np.mean(rec)), 4),
        }
    return out


PROBE_EXPRESSIONS = {
    "none": "",
    "lang in [zh]": 'lang in ["zh"]',
    "date string range (1 year)": 'date >= "2021-01-01" and date <= "2021-12-31" and date != ""',
    "date like prefix (1 year)": 'date like "2021%"',
    "section string range": 'section >= "2 " and section < "2!"',
    "section like prefix": 'section like "2 %"',
}


def filter_probe(client: Any, name: str, data: Synthetic, ef: int) -> dict[str, dict]:
    """Raw search latency per filter expression: what 2.3 makes of string ranges vs LIKE."""
    out: dict[str, dict] = {}
    queries = data.queries[:200]
    for label, expr in PROBE_EXPRESSIONS.items():
        lat = []
        for q in queries:
            t0 = time.perf_counter()
            client.search(name, data=[q.tolist()], filter=expr, limit=K,
                          search_params={"metric_type": "COSINE", "params": {"ef": ef}},
                          consistency_level="Session")
            lat.append((time.perf_counter() - t0) * 1000)
        count = client.query(name, filter=expr or 'chunk_id != ""', output_fields=["count(*)"])
        a = np.array(lat)
        out[label] = {"expr": expr, "rows_matching": int(count[0]["count(*)"]),
                      "p50_ms": round(float(np.percentile(a, 50)), 2),
                      "p99_ms": round(float(np.percentile(a, 99)), 2)}
        log(f"  probe {label}: {out[label]}")
    return out


def open_for_search(args: argparse.Namespace, name: str, ef: int, nprobe: int) -> Any:
    from reportrag.store import IndexConfig, MilvusStore

    config = IndexConfig(search_ef=ef, ivf_nlist=args.nlist, ivf_nprobe=min(nprobe, args.nlist))
    return MilvusStore.open_existing(args.uri, name, timeout=120.0, index=config)


# -- the run --------------------------------------------------------------------------------------


def machine_info(uri: str) -> dict[str, Any]:
    import pymilvus
    from pymilvus import MilvusClient

    client = MilvusClient(uri=uri, timeout=30)
    version = client.get_server_version()
    client.close()
    mem = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem = int(line.split()[1]) * 1024
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                            capture_output=True, text=True).stdout.strip()
    dirty = bool(subprocess.run(["git", "status", "--porcelain"], cwd=REPO,
                                capture_output=True, text=True).stdout.strip())
    return {
        "cpus": os.cpu_count(),
        "mem_gib": round(mem / 2**30, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "milvus": version,
        "pymilvus": pymilvus.__version__,
        "commit": commit,
        "dirty_worktree": dirty,
    }


def make_collection(args: argparse.Namespace, name: str, kind: str, partition_key: bool) -> Any:
    from reportrag.store import IndexConfig, MilvusStore

    config = IndexConfig(kind=kind, hnsw_m=args.hnsw_m, hnsw_ef_construction=args.ef_construction,
                         ivf_nlist=args.nlist, ivf_nprobe=min(16, args.nlist))
    fingerprint = {"model": "synthetic/e5-small-like", "dim": 384, "generator": "bench.scale_data"}
    store = MilvusStore(args.uri, name, 384, timeout=120.0, index=config)
    store.connect()
    if store.has_collection():
        store.drop()
    if partition_key:
        _create_with_partition_key(store, config, fingerprint)
        store.close()
        store = MilvusStore.open_existing(args.uri, name, timeout=120.0, index=config)
    else:
        store.ensure_collection(fingerprint)
    return store


def _create_with_partition_key(store: Any, config: Any, fingerprint: dict) -> None:
    """The store's own schema and indexes, with ``lang`` as the partition key (bench only)."""
    from reportrag.store import schema as sc

    client, dialect = store._c(), store._require_dialect()
    text = sc.fingerprint_json(fingerprint)
    schema = sc.build_schema(384, dialect, description=text)
    for f in schema.fields:
        if f.name == "lang":
            f.is_partition_key = True
    client.create_collection(store.collection, schema=schema, consistency_level="Strong",
                             properties={sc.FINGERPRINT_PROPERTY: text}, num_partitions=16)
    client.create_index(store.collection, sc.build_index_params(dialect, config), sync=False)
    client.load_collection(store.collection)


def run(args: argparse.Namespace) -> dict[str, Any]:
    from pymilvus import MilvusClient

    import reportrag.store.writes as writes_module

    writes_module.UPSERT_BATCH = args.batch  # one RPC per bench batch: the size we report
    result: dict[str, Any] = {
        "bench": "scale",
        "n": args.n,
        "dim": 384,
        "docs": args.docs,
        "queries": args.queries,
        "batch": args.batch,
        "seed": args.seed,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "loadavg_start": list(os.getloadavg()),
        "machine": machine_info(args.uri),
        "command": " ".join([Path(sys.executable).name, "-m", "bench.scale", *sys.argv[1:]]),
        "variant": args.variant,
    }
    pids = milvus_pids(args.milvus_dir)
    result["rss_bytes"] = {"before": rss_bytes(pids)}
    result["disk_bytes"] = {"before": disk_bytes(args.milvus_dir)}
    peak = PeakRss(pids)
    peak.start()

    log(f"generating {args.n} rows")
    t0 = time.perf_counter()
    centres = load_centres(REPO / ".cache")
    data = generate(centres, args.n, docs=args.docs, queries=args.queries, seed=args.seed)
    result["generate_s"] = round(time.perf_counter() - t0, 1)
    texts = [len(data.text(i).encode()) for i in range(0, data.n, max(1, data.n // 5000))]
    result["generator"] = {**realism(data), "text_bytes_mean": round(float(np.mean(texts)), 1),
                           "langs": dict(zip(LANGS, np.bincount(data.row_lang(), minlength=3)
                                             .tolist(), strict=True))}
    fq = query_filters(data, args.seed)
    log("exact ground truth")
    t0 = time.perf_counter()
    truth, selectivity = exact_top_k(data, fq)
    result["ground_truth_s"] = round(time.perf_counter() - t0, 1)
    result["filter_selectivity"] = selectivity

    name = f"scale_{args.n}"
    kinds = args.indexes
    client = MilvusClient(uri=args.uri, timeout=600)
    if args.reuse:
        # The collection a previous run kept (--keep) or left behind: same seed, same rows.
        rows = client.query(name, filter="", output_fields=["count(*)"])[0]["count(*)"]
        if rows != args.n:
            raise SystemExit(f"--reuse: {name} holds {rows} rows, not {args.n}")
        result["reused_collection"] = True
        result["load_s"], result["search"] = {}, []
    else:
        store = make_collection(args, name, kinds[0], partition_key=False)
        log(f"inserting into {name} ({kinds[0]} index created up front)")
        result["insert"] = insert_all(store, data, args.batch)
        t0 = time.perf_counter()
        client.flush(name)
        result["flush_s"] = round(time.perf_counter() - t0, 2)
        t0 = time.perf_counter()
        wait_for_index(client, name, args.n)
        result["index_build_s"] = {kinds[0]: round(time.perf_counter() - t0, 2)}
        result["index_build_note"] = (
            f"{kinds[0]}: from the end of the flush (segments sealed during the insert were "
            "already being indexed); the others: from create_index on the flushed rows"
        )
        result["rss_bytes"]["after_insert"] = rss_bytes(pids)
        result["disk_bytes"]["after_insert_" + kinds[0]] = disk_bytes(args.milvus_dir)
        result["load_s"], result["search"] = {}, []
        store.close()
    if args.restart_server:
        client.close()
        result["restart"] = restart_and_load(args, name)
        pids = milvus_pids(args.milvus_dir)
        client = MilvusClient(uri=args.uri, timeout=600)

    for n_kind, kind in enumerate(kinds):
        if n_kind:
            log(f"building {kind}")
            seconds = rebuild_index(client, name, kind, index_params(kind, args), args.n)
            result["index_build_s"][kind] = round(seconds, 2)
            result["disk_bytes"][kind] = disk_bytes(args.milvus_dir)
        result["load_s"][kind] = round(timed_load(client, name), 2)
        result["rss_bytes"][kind] = rss_bytes(pids)
        sweep = {"HNSW": args.efs, "IVF_FLAT": args.nprobes, "IVF_SQ8": args.nprobes}
        values = sweep.get(kind, [0])
        for v in values:
            search = open_for_search(args, name, ef=v or 16, nprobe=v or 16)
            for q in data.queries[:30]:  # warm-up: caches, connections
                search.rank_dense(q, fq["none"][0], K, rows=True)
            log(f"searching {kind} {SWEEP[kind]}={v or '-'}")
            for filt, stats in search_run(search, data, fq, truth, FILTERS).items():
                result["search"].append({"index": kind, "param": SWEEP[kind], "value": v,
                                         "filter": filt, **stats})
                log(f"  {filt}: {stats}")
            search.close()
        if kind == "HNSW":
            log("filter expression probe (HNSW, ef=64)")
            result["filter_probe"] = filter_probe(client, name, data, ef=64)

    result["chosen_ef"] = choose_ef(result["search"], args.target_recall, args.target_p99_ms)
    if args.partition_key:
        result["partition_key"] = partition_key_run(args, data, fq, truth, client, pids, result)
    if not args.keep:
        client.drop_collection(name)
    client.close()
    result["rss_bytes"]["peak"] = peak.stop()
    result["loadavg_end"] = list(os.getloadavg())
    result["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    return result


def restart_and_load(args: argparse.Namespace, name: str) -> dict[str, Any]:
    """Restart the server (scripts/milvus-server.sh) and load the collection in a fresh process.

    The standalone process also builds indexes and buffers inserts; after a restart its RSS
    with the collection loaded is what a query node needs for these segments.
    """
    from pymilvus import MilvusClient

    script = REPO / "scripts" / "milvus-server.sh"
    env = {**os.environ, "MILVUS_PORT": str(args.uri.rsplit(":", 1)[1]),
           "MILVUS_START_TIMEOUT": "300"}
    t0 = time.perf_counter()
    subprocess.run([str(script), "stop", str(args.milvus_dir)], check=True, env=env,
                   capture_output=True)
    for attempt in range(3):  # ports of the killed server may take a while to free
        started = subprocess.run([str(script), "start", str(args.milvus_dir)], env=env,
                                 capture_output=True, text=True)
        if started.returncode == 0:
            break
        log(f"restart attempt {attempt + 1} failed: {started.stderr.strip()[-300:]}")
        time.sleep(20)
    else:
        raise RuntimeError("the Milvus server did not restart")
    out: dict[str, Any] = {"restart_s": round(time.perf_counter() - t0, 1)}
    pids = milvus_pids(args.milvus_dir)
    out["rss_bytes_idle"] = rss_bytes(pids)
    client = MilvusClient(uri=args.uri, timeout=600)
    t0 = time.perf_counter()
    client.load_collection(name)
    out["cold_load_s"] = round(time.perf_counter() - t0, 2)
    time.sleep(5)
    out["rss_bytes_loaded"] = rss_bytes(pids)
    client.close()
    log(f"restart: {out}")
    return out


def choose_ef(rows: list[dict], target_recall: float, target_p99: float) -> dict[str, Any]:
    """The smallest HNSW ef whose recall@10 >= target on every filter (and its p99s)."""
    by_ef: dict[int, list[dict]] = {}
    for r in rows:
        if r["index"] == "HNSW":
            by_ef.setdefault(int(r["value"]), []).append(r)
    for ef in sorted(by_ef):
        worst = min(r["recall@10"] for r in by_ef[ef])
        p99 = max(r["p99_ms"] for r in by_ef[ef] if r["filter"] != "none")
        if worst >= target_recall:
            return {"ef": ef, "min_recall@10": worst, "max_filtered_p99_ms": p99,
                    "meets_p99_target": p99 < target_p99}
    return {"ef": None, "note": f"no ef reached recall@10 >= {target_recall}"}


def partition_key_run(args, data, fq, truth, client, pids, result) -> dict[str, Any]:
    """The same rows with ``lang`` as partition key (HNSW): insert, build, filtered search.

    First a routing check: on Milvus 2.3.5 *upsert* (what MilvusStore writes with) puts rows
    of a partition-key collection in the wrong partitions, so a ``lang`` filter, pruned to the
    partition of "zh", misses most zh rows. The timed run therefore writes with plain
    ``insert``, to measure what a working partition key would buy.
    """
    from reportrag.store import schema as sc

    out: dict[str, Any] = {"upsert_routing_check": upsert_routing_check(args, data)}
    name = f"scale_{args.n}_pk"
    store = make_collection(args, name, "HNSW", partition_key=True)
    raw = store._c()
    log(f"partition key: inserting into {name}")
    spent = 0.0
    for s in range(0, data.n, args.batch):
        e = min(data.n, s + args.batch)
        rows = [sc.chunk_to_row(c, v) for c, v in zip(data.chunks(s, e), data.vectors[s:e],
                                                      strict=True)]
        t0 = time.perf_counter()
        raw.insert(name, rows)
        spent += time.perf_counter() - t0
    out["insert"] = {"insert_seconds": round(spent, 2), "rows_per_s": round(data.n / spent, 1),
                     "note": "raw client insert (rows prepared outside the timer)"}
    store.close()
    t0 = time.perf_counter()
    client.flush(name)
    wait_for_index(client, name, args.n)
    out["flush_and_index_s"] = round(time.perf_counter() - t0, 2)
    out["load_s"] = round(timed_load(client, name), 2)
    out["rss_bytes"] = rss_bytes(pids)
    out["search"] = []
    for ef in args.pk_efs:
        search = open_for_search(args, name, ef=ef, nprobe=16)
        for q in data.queries[:30]:
            search.rank_dense(q, fq["none"][0], K, rows=True)
        for filt, stats in search_run(search, data, fq, truth, ("none", "lang_zh")).items():
            out["search"].append({"index": "HNSW", "param": "ef", "value": ef, "filter": filt,
                                  **stats})
            log(f"  partition key ef={ef} {filt}: {stats}")
        search.close()
    client.drop_collection(name)
    return out


def upsert_routing_check(args: argparse.Namespace, data: Synthetic) -> dict[str, int]:
    """Rows written by MilvusStore.upsert into a partition-key collection, found by a filter."""
    name = f"scale_{args.n}_pk_check"
    rows = min(data.n, 5000)
    store = make_collection(args, name, "HNSW", partition_key=True)
    store.upsert(data.chunks(0, rows), data.vectors[:rows])
    store._c().flush(name)
    zh = int((data.row_lang()[:rows] == LANGS.index("zh")).sum())
    found = store._c().query(name, filter='lang == "zh"', output_fields=["count(*)"])
    store.drop()
    store.close()
    return {"rows": rows, "zh_rows": zh, "zh_rows_found_by_lang_filter": int(found[0]["count(*)"])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--uri", required=True, help="Milvus server, e.g. http://127.0.0.1:19531")
    ap.add_argument("--milvus-dir", type=Path, help="its data dir (for RSS and disk use)")
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--docs", type=int, default=3000)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=1000, help="rows per upsert RPC")
    ap.add_argument("--indexes", type=lambda s: s.split(","), default=["HNSW", "IVF_FLAT",
                                                                       "IVF_SQ8", "FLAT"])
    ap.add_argument("--efs", type=lambda s: [int(x) for x in s.split(",")],
                    default=[16, 32, 64, 128, 256])
    ap.add_argument("--nprobes", type=lambda s: [int(x) for x in s.split(",")],
                    default=[8, 16, 32, 64])
    ap.add_argument("--nlist", type=int, default=0, help="IVF lists (default ~4*sqrt(n))")
    ap.add_argument("--hnsw-m", type=int, default=INDEX_DEFAULTS["hnsw_m"])
    ap.add_argument("--ef-construction", type=int, default=INDEX_DEFAULTS["hnsw_ef_construction"])
    ap.add_argument("--partition-key", action="store_true", help="also try lang as partition key")
    ap.add_argument("--pk-efs", type=lambda s: [int(x) for x in s.split(",")], default=[64])
    ap.add_argument("--target-recall", type=float, default=0.95)
    ap.add_argument("--target-p99-ms", type=float, default=50.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", action="store_true", help="keep the collection afterwards")
    ap.add_argument("--restart-server", action="store_true",
                    help="after the first index: restart the server (needs --milvus-dir, "
                    "scripts/milvus-server.sh) and measure a cold load")
    ap.add_argument("--variant", default="", help="a label; variant runs stay out of the tables")
    ap.add_argument("--reuse", action="store_true",
                    help="search the scale_N collection a previous run left (no insert/build)")
    ap.add_argument("--json", type=Path, help="write the results here")
    ap.add_argument("--plots", type=Path, help="write PNGs here (installs matplotlib if needed)")
    args = ap.parse_args()
    if not args.nlist:
        args.nlist = int(2 ** round(np.log2(4 * np.sqrt(args.n))))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    result = run(args)
    text = json.dumps(result, indent=1, ensure_ascii=False)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n", encoding="utf-8")
    if args.plots:
        from bench.scale_report import plot_all

        plot_all(args.json.parent if args.json else Path("bench/results"), args.plots)


if __name__ == "__main__":
    main()
