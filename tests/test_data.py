"""The hand-built data sets stay consistent with the corpus they were written from."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("script", ["tests/data/check_gold.py", "eval/check_queries.py"])
def test_checker_passes(script: str) -> None:
    proc = subprocess.run([sys.executable, str(REPO / script)], capture_output=True, text=True,
                          cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
