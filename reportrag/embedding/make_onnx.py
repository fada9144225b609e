"""``python -m reportrag.embedding.make_onnx MODEL_DIR [--precision int8] [--fresh]``: make the
ONNX files of a model directory (what :func:`reportrag.embedding.onnx_export.model_file` runs
in a child process). A module of its own, which the package does not import, so that running
it does not execute a module the package has already imported."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from reportrag.embedding.onnx_export import PRECISIONS, exported_model, quantized_model
from reportrag.errors import ModelError


def main(argv: list[str] | None = None) -> int:
    """Make the files; exit 1 with one line on stderr when they cannot be made."""
    ap = argparse.ArgumentParser(prog="python -m reportrag.embedding.make_onnx")
    ap.add_argument("model_dir", type=Path)
    ap.add_argument("--precision", choices=PRECISIONS, default="int8")
    ap.add_argument("--fresh", action="store_true", help="make them even if up to date")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    make = quantized_model if args.precision == "int8" else exported_model
    try:
        print(make(args.model_dir, fresh=args.fresh))
    except (ModelError, OSError) as exc:
        print(f"make_onnx: {getattr(exc, 'message', exc)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
