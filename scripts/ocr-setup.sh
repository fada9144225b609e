#!/usr/bin/env bash
# Tesseract and its Chinese and English language data (Debian packages, offline): what
# reportrag uses to read PDFs without a text layer (ingest/ocr.py). Optional for running the
# service (without it such PDFs are refused with 422 no_text_layer); the tests need it.
# Idempotent; safe to re-run.
set -euo pipefail
need=()
command -v tesseract >/dev/null || need+=(tesseract-ocr tesseract-ocr-eng)
tesseract --list-langs 2>/dev/null | grep -qx chi_sim || need+=(tesseract-ocr-chi-sim)
if ((${#need[@]})); then
  if [[ "$(id -u)" -ne 0 ]]; then
    echo "ocr-setup: need root to apt-get install ${need[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  echo "ocr-setup: apt-get install ${need[*]}" >&2
  apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null \
    || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null; }
fi
tesseract --version 2>&1 | head -n1 >&2
