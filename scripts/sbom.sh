#!/usr/bin/env bash
# A CycloneDX SBOM (JSON) of everything installed in .venv, written to sbom.cdx.json (or $1).
# The generator lives in its own throwaway virtualenv, .venv-sbom, so it never touches .venv.
#   scripts/setup.sh && scripts/sbom.sh [OUT]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-sbom.cdx.json}"
TOOL=.venv-sbom
CYCLONEDX_BOM_VERSION="7.5.0"
[[ -x .venv/bin/python ]] || { echo "sbom.sh: no .venv; run scripts/setup.sh first" >&2; exit 1; }
if ! "$TOOL/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('cyclonedx-bom') != '$CYCLONEDX_BOM_VERSION')" 2>/dev/null; then
  python3 -m venv "$TOOL"
  "$TOOL/bin/python" -m pip install -q --disable-pip-version-check "cyclonedx-bom==$CYCLONEDX_BOM_VERSION"
fi
"$TOOL/bin/cyclonedx-py" environment --output-format JSON --output-file "$OUT" \
  --pyproject pyproject.toml .venv/bin/python
echo "sbom.sh: wrote $OUT ($("$TOOL/bin/python" -c "import json,sys; print(len(json.load(open(sys.argv[1]))['components']))" "$OUT") components)" >&2
