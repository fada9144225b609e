#!/usr/bin/env bash
# What the browser tests need: Debian's Chromium (+ CJK fonts, so Chinese renders as it does
# for readers) and playwright-core at the version pinned in tests/browser/package-lock.json.
# No browser is downloaded: playwright drives /usr/bin/chromium. Idempotent; safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
[[ -x /usr/bin/chromium ]] || need+=(chromium)
fc-list :lang=zh 2>/dev/null | grep -q . || need+=(fonts-noto-cjk)
if ((${#need[@]})); then
  if [[ "$(id -u)" -ne 0 ]]; then
    echo "browser-setup: need root to apt-get install ${need[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  echo "browser-setup: apt-get install ${need[*]}" >&2
  # Refresh the package lists only when the install cannot find what it needs with them.
  apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null \
    || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null; }
fi

if ! command -v npm >/dev/null; then
  echo "browser-setup: node and npm are needed (Node.js >= 20)" >&2
  exit 1
fi
lock=tests/browser/package-lock.json
stamp=tests/browser/node_modules/.lock-installed
if ! cmp -s "$lock" "$stamp" 2>/dev/null; then
  echo "browser-setup: npm ci (tests/browser)" >&2
  (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
  cp "$lock" "$stamp"
fi
/usr/bin/chromium --version >&2
