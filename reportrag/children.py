"""How reportrag starts its child Python processes (the Milvus Lite server, the
passage-embedding worker, the ONNX export): ``python -m <module>`` with this interpreter,
importing this same reportrag.

Run from a source tree, a child would otherwise import whatever ``reportrag`` its inherited
path offers first (an installed release, another checkout named on ``PYTHONPATH``); the
tree's root goes first on its ``PYTHONPATH``. An installed reportrag needs nothing:
site-packages is on every child's path already, and putting it first would let it shadow
the standard library.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

SOURCE_ROOT = Path(__file__).resolve().parent.parent  # the folder that holds reportrag/


def module_command(module: str, *args: str, unbuffered: bool = False) -> list[str]:
    """The command line that runs ``python -m module args`` with this interpreter.

    ``-P``: ``python -m`` would put the working directory first on the child's path, so a
    checkout there (another branch, a worktree's parent) would shadow this reportrag.
    """
    return [sys.executable, "-P", *(["-u"] if unbuffered else []), "-m", module, *args]


def child_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: this process's environment) with this reportrag importable first."""
    env = dict(os.environ if base is None else base)
    if SOURCE_ROOT.name not in ("site-packages", "dist-packages"):
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(SOURCE_ROOT), env.get("PYTHONPATH")) if p)
    return env
