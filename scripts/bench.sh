#!/usr/bin/env bash
# The benchmarks behind docs/benchmarks.md and docs/evaluation.md, run on this machine and
# written to bench/results/*.json, then the plots in docs/img/. Run it on an idle machine.
#
#   scripts/bench.sh                 eval tuning ingest embedding http baseline plots tables
#   scripts/bench.sh NAME...         only these, in this order; NAME is one of
#       eval        reportrag eval on the dev and extended query sets (every mode)
#       tuning      the ranking knobs swept on both query sets (quality only, bench/tuning.py)
#       ingest      whole-corpus ingestion: cold, unchanged re-run, --full re-run
#       uploads     POST /v1/documents throughput: the report as PDFs, 50 small files
#       embedding   engines and precisions: passages/s, single-query latency
#       stages      where a search request's time goes: each store and embedder call, in-process
#       http        HTTP latency at concurrency 1/4/16 and max QPS (Milvus Lite)
#       http-fp32   the Lite run with the fp32 query encoder (REPORTRAG_QUERY_PRECISION=fp32)
#       http-inline the Lite run with Lite inside the API process (REPORTRAG_LITE_PROCESS=false)
#       http-server the same against a Milvus server started here, 1 worker (serve's default)
#       http-server-2w  the same with 2 workers (they split keep-alive connections unevenly)
#       baseline    the LangChain pipeline side by side (installs .venv-baseline)
#       soak        5 minutes at a steady rate: errors, RSS at start and end
#       scale       1M synthetic vectors on a Milvus server started here (long)
#       chunking    chunk size swept: a fresh ingestion and both evaluations per size (quality)
#       plots       docs/img/*.png from the results
#       tables      the result tables in docs/benchmarks.md and docs/evaluation.md, rewritten
#                   from the results (python -m bench.tables --write)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/python -m pip install -q --disable-pip-version-check -c requirements.lock -e ".[bench]"
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
PY=.venv/bin/python
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(eval tuning ingest embedding http baseline plots tables)

ensure_ingested() { .venv/bin/reportrag ingest --no-progress >/dev/null; }

with_server() {  # run "$@" with REPORTRAG_BENCH_MILVUS_URI set to a fresh Milvus server
    scripts/milvus-server.sh install >/dev/null
    local dir; dir="$(mktemp -d /tmp/reportrag-bench-milvus.XXXXXX)"
    local uri; uri="$(MILVUS_PORT="${MILVUS_PORT:-19700}" scripts/milvus-server.sh start "$dir" | tail -n1)"
    trap 'MILVUS_PORT="${MILVUS_PORT:-19700}" scripts/milvus-server.sh stop "'"$dir"'" >/dev/null; rm -rf "'"$dir"'"' RETURN
    REPORTRAG_BENCH_MILVUS_URI="$uri" REPORTRAG_BENCH_MILVUS_DIR="$dir" "$@"
}

http_server() {  # http_server WORKERS NAME
    REPORTRAG_MILVUS_URI="$REPORTRAG_BENCH_MILVUS_URI" REPORTRAG_COLLECTION=bench_http \
        .venv/bin/reportrag ingest --no-progress >/dev/null
    REPORTRAG_COLLECTION=bench_http $PY -m bench.http_latency --milvus-uri "$REPORTRAG_BENCH_MILVUS_URI" \
        --workers "$1" --name "$2"
}

for name in "${names[@]}"; do
    echo "== bench: $name" >&2
    case "$name" in
        eval)
            ensure_ingested
            .venv/bin/reportrag eval eval/dev_queries.jsonl --json bench/results/eval-dev.json
            .venv/bin/reportrag eval eval/queries_extended.jsonl --json bench/results/eval-extended.json
            $PY -m bench.alignment ;;
        tuning) ensure_ingested; $PY -m bench.tuning --pairs-dev .cache/pairs-dev --json bench/results/tuning.json ;;
        ingest) $PY -m bench.ingest ;;
        uploads) $PY -m bench.uploads ;;
        embedding) $PY -m bench.embedding --json bench/results/embedding.json ;;
        stages) ensure_ingested; $PY -m bench.stages --json bench/results/stages.json ;;
        http) ensure_ingested; $PY -m bench.http_latency ;;
        http-fp32) ensure_ingested
            REPORTRAG_QUERY_PRECISION=fp32 $PY -m bench.http_latency --name http-fp32 ;;
        http-inline) ensure_ingested
            REPORTRAG_LITE_PROCESS=false $PY -m bench.http_latency --name http-inline ;;
        http-server) with_server http_server 1 http-server ;;
        http-server-2w) with_server http_server 2 http-server-2w ;;
        baseline) $PY -m bench.baseline ;;
        soak) ensure_ingested; $PY -m bench.soak --json bench/results/soak.json ;;
        scale)  # the 1M run of docs/benchmarks.md (about 45 min); the other runs are listed there
            with_server sh -c '$0 -m bench.scale --uri "$REPORTRAG_BENCH_MILVUS_URI" \
                --milvus-dir "$REPORTRAG_BENCH_MILVUS_DIR" --n 1000000 --efs 16,32,64,128,256,512 \
                --nprobes 8,16,32,64,128 --json bench/results/scale-1m.json' "$PY"
            $PY -m bench.scale_report --out docs/img ;;
        chunking) $PY -m bench.chunking --json bench/results/chunking.json ;;
        plots) $PY -m bench.plots ;;
        tables) $PY -m bench.tables --write ;;
        *) echo "bench.sh: unknown benchmark $name" >&2; exit 2 ;;
    esac
done
