#!/usr/bin/env bash
# The main job: install, ingest corpus/ into the embedded Milvus Lite, serve the API on :8000.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-0}"
.venv/bin/reportrag ingest
exec .venv/bin/reportrag serve --host "${HOST:-127.0.0.1}" --port "${PORT:-8000}"
