"""The result tables in docs/ are the ones bench.tables prints from bench/results/*.json.

The figures in docs/benchmarks.md and docs/evaluation.md must come from the committed
results: a re-run that updates the JSON but not the doc (or a hand edit of a table) fails
here; ``python -m bench.tables --write`` fixes it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bench import tables

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


def _copy(tmp_path: Path) -> tuple[Path, Path]:
    """A scratch root with the docs and the results, to change without touching the repo."""
    (tmp_path / "docs").mkdir()
    for doc in set(tables.DOCS.values()):
        shutil.copy(ROOT / doc, tmp_path / doc)
    results = tmp_path / "results"
    shutil.copytree(RESULTS, results)
    return tmp_path, results


def _written_benchmarks(tmp_path: Path) -> tuple[Path, Path, Path, str]:
    """A scratch copy with fresh tables; its docs/benchmarks.md path and text."""
    root, results = _copy(tmp_path)
    tables.update(root, results, write=True)  # the repo's docs may be mid-update
    doc = root / "docs" / "benchmarks.md"
    return root, results, doc, doc.read_text(encoding="utf-8")


def test_the_docs_hold_the_tables_of_the_committed_results() -> None:
    assert tables.update(ROOT, RESULTS, write=False) == ([], [])


def test_every_table_with_a_result_is_marked_in_its_doc() -> None:
    marked = {name for doc in set(tables.DOCS.values())
              for name in tables.blocks((ROOT / doc).read_text(encoding="utf-8"))}
    with_results = {name for name in tables.DOCS if tables.render(RESULTS, name) is not None}
    # The evaluation and the HTTP, baseline and scale runs are committed: the check covers them.
    assert {"eval-dev", "eval-extended", "http", "baseline", "scale"} <= with_results
    assert with_results <= marked


def test_a_moved_figure_is_stale_until_written(tmp_path: Path) -> None:
    root, results = _copy(tmp_path)
    stale, problems = tables.update(root, results, write=False)  # empty unless mid-update
    data = json.loads((results / "eval-dev.json").read_text(encoding="utf-8"))
    data["summary"]["auto"]["overall"]["recall@1"] = 0.5
    (results / "eval-dev.json").write_text(json.dumps(data), encoding="utf-8")

    # The summary of targets reads the dev set's recall@1 too.
    assert tables.update(root, results, write=False) == (
        sorted([*stale, "docs/benchmarks.md: targets", "docs/evaluation.md: eval-dev"]),
        problems)
    assert tables.main(["--root", str(root), "--results", str(results), "--check"]) == 1
    assert tables.main(["--root", str(root), "--results", str(results), "--write"]) == 0
    assert tables.update(root, results, write=False) == ([], [])
    doc = (root / "docs" / "evaluation.md").read_text(encoding="utf-8")
    assert "| **overall** | 16 | 0.562 / 0.938 | 0.688 / 0.938 | **0.500 / 1.000 / 1.000** |" in doc
    # Only the marked block changed: the rest of the page is as it was.
    before = (ROOT / "docs" / "evaluation.md").read_text(encoding="utf-8")
    assert len(doc.splitlines()) == len(before.splitlines())
    changed = [a for a, b in zip(doc.splitlines(), before.splitlines(), strict=True) if a != b]
    assert len(changed) == 1 and changed[0].startswith("| **overall** | 16 |")


def test_a_result_without_a_block_is_reported(tmp_path: Path) -> None:
    root, results, doc, text = _written_benchmarks(tmp_path)
    body = tables.blocks(text)["soak"]
    doc.write_text(text.replace(f"<!-- bench.tables soak -->\n\n{body}\n\n<!-- /bench.tables -->",
                                body), encoding="utf-8")
    assert tables.update(root, results, write=True) == (
        [], ["docs/benchmarks.md: no block for soak (its result file exists)"])
    assert tables.main(["--root", str(root), "--results", str(results), "--write"]) == 1


def test_an_empty_block_is_filled_and_nothing_after_it_is_touched(tmp_path: Path) -> None:
    root, results, doc, before = _written_benchmarks(tmp_path)
    body = tables.blocks(before)["stages"]
    doc.write_text(before.replace(body + "\n\n<!-- /bench.tables -->", "<!-- /bench.tables -->"),
                   encoding="utf-8")
    emptied = doc.read_text(encoding="utf-8")
    assert tables.blocks(emptied)["stages"] == ""
    assert tables.blocks(emptied).keys() == tables.blocks(before).keys()
    assert tables.update(root, results, write=True) == (["docs/benchmarks.md: stages"], [])
    assert doc.read_text(encoding="utf-8") == before


def test_a_begin_marker_without_its_end_swallows_nothing() -> None:
    text = ("<!-- bench.tables soak -->\n\nleft open\n\n"
            "<!-- bench.tables http -->\n\nthe http table\n\n<!-- /bench.tables -->\n")
    assert tables.blocks(text) == {"http": "the http table"}


def test_a_block_marked_twice_is_an_error() -> None:
    one = "<!-- bench.tables soak -->\n\nx\n\n<!-- /bench.tables -->\n"
    with pytest.raises(ValueError, match="marked twice"):
        tables.blocks(one + "\n" + one)


def test_unknown_tables_are_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        tables.main(["--results", str(RESULTS), "nope"])
    assert exc.value.code == 2
    assert "unknown table(s) nope" in capsys.readouterr().err
