#!/usr/bin/env bash
# Regenerate docs/screenshots/*.png (the search page, desktop and phone): ingest corpus/ into
# ./data (idempotent: nothing changes when it is there already), serve it on a free loopback
# port, take the screenshots in headless Chromium, stop the server.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/browser-setup.sh
export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}" TOKENIZERS_PARALLELISM=false
.venv/bin/reportrag ingest >/dev/null
PORT="$(.venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
LOG="$(mktemp /tmp/reportrag-screenshots.XXXXXX)"
.venv/bin/reportrag serve --host 127.0.0.1 --port "$PORT" >"$LOG" 2>&1 &
PID=$!
cleanup() { kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; rm -f "$LOG"; }
trap cleanup EXIT
.venv/bin/python - "$PORT" "$PID" "$LOG" <<'PY'
import os, sys, time, httpx
port, pid, log = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
for _ in range(480):
    try:
        if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
            sys.exit(0)
    except httpx.TransportError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        sys.exit("screenshots: the server exited:\n" + open(log).read()[-2000:])
    time.sleep(0.25)
sys.exit("screenshots: the server was not ready after 120 s")
PY
node tests/browser/screenshots.mjs "http://127.0.0.1:$PORT" docs/screenshots
