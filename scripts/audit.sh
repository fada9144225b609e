#!/usr/bin/env bash
# Known-vulnerability check of every pinned dependency (requirements.lock) with pip-audit.
# Needs the PyPI JSON API (https://pypi.org/pypi/NAME/VERSION/json), where pip-audit's default
# vulnerability source lives; installs nothing from the lock. Exit 1 when something is found
# and (--strict) when a package could not be audited, so a blind run never passes.
#   scripts/audit.sh [extra pip-audit arguments, e.g. --format json]
set -euo pipefail
cd "$(dirname "$0")/.."
TOOL=.venv-audit
PIP_AUDIT_VERSION="2.10.1"
if ! "$TOOL/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('pip-audit') != '$PIP_AUDIT_VERSION')" 2>/dev/null; then
  python3 -m venv "$TOOL"
  "$TOOL/bin/python" -m pip install -q --disable-pip-version-check "pip-audit==$PIP_AUDIT_VERSION"
fi
exec "$TOOL/bin/pip-audit" --requirement requirements.lock --no-deps --disable-pip \
  --vulnerability-service pypi --strict --progress-spinner off "$@"
