#!/usr/bin/env bash
# Create .venv and install reportrag with pinned dependencies. Idempotent; safe to re-run.
#   scripts/setup.sh          runtime dependencies
#   scripts/setup.sh --test   plus the test tools
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
EXTRAS=""
[[ "${1:-}" == "--test" ]] && EXTRAS="[test]"

if [[ ! -x .venv/bin/python ]]; then
  echo "setup: creating .venv" >&2
  "$PY" -m venv .venv
fi
PIP=(.venv/bin/python -m pip --disable-pip-version-check -q)
# torch first, CPU build: otherwise the resolver pulls a multi-GB CUDA build.
# Elsewhere set TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu (or a CUDA index for GPUs).
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  echo "setup: installing torch (CPU)" >&2
  if [[ -n "${TORCH_INDEX_URL:-}" ]]; then
    "${PIP[@]}" install "torch==2.13.0" --index-url "$TORCH_INDEX_URL"
  else
    "${PIP[@]}" install "torch==2.13.0"
  fi
fi
echo "setup: installing reportrag${EXTRAS} (constraints: requirements.lock)" >&2
"${PIP[@]}" install -c requirements.lock -e ".${EXTRAS}"
