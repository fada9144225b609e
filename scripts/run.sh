#!/usr/bin/env bash
# The main job: install, ingest corpus/ into the embedded Milvus Lite, serve the API on :8000.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-0}"
# --upgrade: a collection built by an older reportrag is rebuilt from the corpus and uploads
.venv/bin/reportrag ingest --upgrade
exec .venv/bin/reportrag serve --host "${HOST:-127.0.0.1}" --port "${PORT:-8000}"
