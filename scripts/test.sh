#!/usr/bin/env bash
# The whole test suite: install everything, start a real Milvus server on loopback, run
# pytest (unit, real model, Milvus Lite and server integration, browser), stop the server.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
# Chromium + playwright-core for the browser tests. If they cannot be installed, those tests
# must fail here, not skip: REPORTRAG_REQUIRE_BROWSER=1 turns their skip into a failure.
scripts/browser-setup.sh || echo "test: browser setup failed: the browser tests will fail" >&2
export REPORTRAG_REQUIRE_BROWSER=1
# Prometheus and promtool (Debian's package) for the monitoring tests: a real Prometheus
# scrapes a live server, promtool checks deploy/prometheus. Missing, those tests fail.
scripts/prometheus-setup.sh || echo "test: prometheus setup failed: the monitoring tests will fail" >&2
export REPORTRAG_REQUIRE_PROMETHEUS=1
# Tesseract with Chinese and English data for the OCR tests (scanned PDFs). Missing, they fail.
scripts/ocr-setup.sh || echo "test: OCR setup failed: the OCR tests will fail" >&2
export REPORTRAG_REQUIRE_OCR=1
scripts/milvus-server.sh install
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
.venv/bin/ruff check .
.venv/bin/python -m mypy  # the product package, as [tool.mypy] in pyproject.toml says
MILVUS_DATA="$(mktemp -d /tmp/reportrag-milvus.XXXXXX)"
cleanup() { scripts/milvus-server.sh stop "$MILVUS_DATA" || true; rm -rf "$MILVUS_DATA"; }
trap cleanup EXIT
export REPORTRAG_TEST_MILVUS_URI="$(scripts/milvus-server.sh start "$MILVUS_DATA" | tail -n1)"
echo "test: Milvus server at $REPORTRAG_TEST_MILVUS_URI" >&2
.venv/bin/python -m pytest "$@"
