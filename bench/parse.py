"""Parser throughput (MB/s) on hostile inputs and on real documentation pages.

Run: ``.venv/bin/python -m bench.parse [--scale 0.1] [--no-eval]``. Each hostile input is
parsed at two sizes; a linear parser keeps its MB/s as the input grows, so the ratio column
(large / small throughput) should stay near 1. The generators are shared with the tests.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

from reportrag.ingest.document import ParsedDocument, parse_document

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "data" / "markdown"
EVAL_DOCS = REPO / "eval" / "realdocs" / "docs"


def one_line(size: int) -> str:
    """A file that is a single line of prose (no line break at all), with some markup."""
    prose = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod " * 14
    unit = "lorem ipsum *dolor* sit `amet` [link](https://example.com/x) consectetur " + prose
    return (unit * (size // len(unit) + 1))[:size]


def nested_divs(depth: int) -> str:
    """``depth`` nested, never closed ``<div>`` elements around one sentence."""
    return "<div>" * depth + "deep text" + "</div>" * (depth // 2)


def long_list(items: int) -> str:
    """A flat bullet list."""
    return "".join(f"- item number {i} with *some* text\n" for i in range(items))


def giant_table(rows: int) -> str:
    """A pipe table with ``rows`` body rows."""
    head = "| id | name | value |\n|---|---|---|\n"
    return head + "".join(f"| {i} | name `{i}` | **{i * 3}** |\n" for i in range(rows))


def giant_code(lines: int) -> str:
    """One fenced code block of ``lines`` lines."""
    body = "".join(f"x_{i} = compute({i}) * 2  # <b>not html</b>\n" for i in range(lines))
    return "```python\n" + body + "```\n"


def emphasis_bomb(n: int) -> str:
    """Unmatched emphasis, link and tag openers: classic backtracking triggers."""
    return "*a _b [c <d " * n


def invisible_mix(n: int) -> str:
    """Zero-width, bidi and right-to-left text mixed into Markdown."""
    unit = "# عنوان\u200f\n\nשלום\u200b world \u202eevil\u202c **bold**\u2066x\u2069 ‎\n\n"
    return unit * n


HOSTILE: dict[str, tuple[Callable[[int], str], str, int]] = {
    "one-line 10 MB": (one_line, ".md", 10_000_000),
    "100k nested <div> (html)": (nested_divs, ".html", 100_000),
    "100k nested <div> (md)": (nested_divs, ".md", 100_000),
    "10k-item list": (long_list, ".md", 10_000),
    "giant table": (giant_table, ".md", 50_000),
    "giant code block": (giant_code, ".md", 100_000),
    "emphasis/link/tag openers": (emphasis_bomb, ".md", 100_000),
    "zero-width + RTL": (invisible_mix, ".md", 20_000),
}


def timed(raw: str, suffix: str) -> tuple[float, ParsedDocument]:
    """Seconds to parse ``raw``, and the result."""
    start = time.perf_counter()
    doc = parse_document(raw, suffix=suffix)
    return time.perf_counter() - start, doc


def mb_per_s(raw: str, seconds: float) -> float:
    """Throughput in MB (of UTF-8) per second."""
    return len(raw.encode()) / 1e6 / max(seconds, 1e-9)


def main() -> None:
    """Print MB/s for the hostile inputs (two sizes) and the real pages."""
    args = argparse.ArgumentParser(description=__doc__)
    args.add_argument("--scale", type=float, default=1.0, help="multiply the hostile sizes")
    args.add_argument("--no-eval", action="store_true", help="skip eval/realdocs/docs")
    opts = args.parse_args()
    print(f"{'input':32} {'MB':>8} {'MB/s':>8} {'MB/s at 1/10':>13} {'ratio':>6} {'blocks':>7}")
    for name, (make, suffix, size) in HOSTILE.items():
        full = max(int(size * opts.scale), 10)
        small_raw, raw = make(max(full // 10, 1)), make(full)
        small_s, _ = timed(small_raw, suffix)
        seconds, doc = timed(raw, suffix)
        speed, small_speed = mb_per_s(raw, seconds), mb_per_s(small_raw, small_s)
        print(
            f"{name:32} {len(raw.encode()) / 1e6:8.2f} {speed:8.2f} {small_speed:13.2f}"
            f" {speed / small_speed:6.2f} {len(doc.blocks):7}"
        )
    for label, folder in (("fixtures", FIXTURES), ("eval/realdocs", EVAL_DOCS)):
        if opts.no_eval and folder == EVAL_DOCS:
            continue
        pages = sorted(p for p in folder.glob("*") if p.suffix in (".md", ".html"))
        if not pages:
            continue
        total_bytes = total_s = 0.0
        for page in pages:
            raw = page.read_text(encoding="utf-8")
            seconds, _ = timed(raw, page.suffix)
            total_bytes += len(raw.encode())
            total_s += seconds
        print(
            f"{label + f' ({len(pages)} pages)':32} {total_bytes / 1e6:8.2f}"
            f" {total_bytes / 1e6 / total_s:8.2f}"
        )


if __name__ == "__main__":
    main()
