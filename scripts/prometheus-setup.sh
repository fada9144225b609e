#!/usr/bin/env bash
# What the monitoring tests need: `prometheus` and `promtool` (Debian bookworm's package, 2.42)
# to check deploy/prometheus/ (config, alert rules and their unit tests). Only the binaries are
# wanted: no Prometheus service is left running. Idempotent; safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."

if command -v prometheus >/dev/null && command -v promtool >/dev/null; then
  exit 0
fi
if [[ "$(id -u)" -ne 0 ]]; then
  echo "prometheus-setup: need root to apt-get install prometheus" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
echo "prometheus-setup: apt-get install prometheus" >&2

# The package's postinst starts its service; policy-rc.d answering 101 forbids that. Use an
# existing policy as it is; one written here is removed again however the install ends.
policy=/usr/sbin/policy-rc.d
before="$(pgrep -x prometheus || true)"
if [[ ! -e "$policy" ]]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  trap 'rm -f "$policy"' EXIT
fi
# Refresh the package lists only when the install cannot find what it needs with them.
apt-get install -y -q --no-install-recommends prometheus >/dev/null \
  || { apt-get update -q >/dev/null \
       && apt-get install -y -q --no-install-recommends prometheus >/dev/null; } \
  || { echo "prometheus-setup: apt-get install prometheus failed" >&2; exit 1; }

# Belt and braces: should a daemon have started anyway, stop it (only one that was not
# running before the install).
if [[ -d /run/systemd/system ]] && systemctl is-active --quiet prometheus 2>/dev/null; then
  systemctl stop prometheus || true
fi
for pid in $(pgrep -x prometheus || true); do
  grep -qx "$pid" <<<"$before" || kill "$pid" 2>/dev/null || true
done

if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then
  echo "prometheus-setup: prometheus or promtool not on PATH after the install" >&2
  exit 1
fi
promtool --version 2>&1 | head -n1 >&2
