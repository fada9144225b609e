"""The result tables in docs/ are the ones bench.tables prints from bench/results/*.json.

The figures in docs/benchmarks.md and docs/evaluation.md must come from the committed
results: a re-run that updates the JSON but not the doc (or a hand edit of a table) fails
here; ``python -m bench.tables --write`` fixes it.
"""

from __future__ import annotations

import json
import re
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
    dense, hybrid = (data["summary"][m]["overall"] for m in ("dense", "hybrid"))
    other = " | ".join(f"{m['recall@1']:.3f} / {m['recall@5']:.3f}" for m in (dense, hybrid))
    assert f"| **overall** | 16 | {other} | **0.500 / 1.000 / 1.000** |" in doc
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


def _section(text: str, heading: str) -> str:
    """The text under a ``## heading`` up to the next ``## `` heading."""
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end != -1 else None]


def test_the_summary_quotes_the_committed_results() -> None:
    # The summary is written by hand: a re-run that moves a result (and its table) must move
    # the summary's figure too, or this fails.
    summary = _section((ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8"), "Summary")

    def load(name: str) -> dict:
        return json.loads((RESULTS / f"{name}.json").read_text(encoding="utf-8"))

    http, server = load("http"), load("http-server")
    mem, ingest = load("serve-memory"), load("ingest")
    base, real = load("baseline"), load("realdocs")
    one, sixteen, s16 = http["closed"]["1"], http["closed"]["16"], server["closed"]["16"]
    cold = ingest["best"]["cold"]
    ratios = base["ratios"]
    ours_real = real["quality"]["auto"]["overall"]
    their_real = real["baseline"]["quality"]["overall"]
    dev = load("eval-dev")["summary"]["auto"]["overall"]
    quoted = [
        f"p50 **{one['p50_ms']:.1f} ms**, p99 {one['p99_ms']:.1f} ms",
        "server {:.1f} / {:.1f} ms".format(server["closed"]["1"]["p50_ms"],
                                           server["closed"]["1"]["p99_ms"]),
        f"**{sixteen['qps']:.1f} QPS** at p99 {sixteen['p99_ms']:.0f} ms",
        f"{http['max_sustainable_qps']:.0f} requests/s sustained",
        f"{s16['qps']:.1f} QPS at p99 {s16['p99_ms']:.0f} ms",
        f"**{mem['serve']['now']['ready']['api_mb']:.0f} MB** ready",
        "{:.0f} MB after {} searches".format(mem["serve"]["now"]["after_load"]["api_mb"],
                                            mem["serve"]["now"]["searches"]),
        f"Milvus Lite's process {mem['serve']['now']['ready']['lite_mb']:.0f} MB",
        f"**{cold['chunks'] / cold['wall_s']:.1f} chunks/s** cold",
        f"{cold['chunks']} chunks in {cold['wall_s']:.1f} s",
        f"{cold['chunks'] / cold['embed_s']:.1f}/s while embedding",
        f"re-run {ingest['best']['rerun']['wall_s']:.1f} s",
        f"dev set (16 queries) **{dev['recall@1']:.3f} / {dev['recall@5']:.3f}**",
        f"**{ours_real['recall@1']:.3f} / {ours_real['recall@5']:.3f}**",
        f"against its {their_real['recall@1']:.3f} / {their_real['recall@5']:.3f}",
        f"ingestion **{ratios['ingest_speedup']:.2f}×** faster",
        f"query p50 **{ratios['query_p50_ratio']:.2f}×**",
        f"({ratios['query_p50_ratio_dense']:.2f}× in `dense` mode)",
        f"R@5 +{ratios['recall@5_dev_delta']:.3f} (dev), +{ratios['recall@5_extended_delta']:.3f}",
    ]
    assert [q for q in quoted if q not in summary] == []
    # ... and names the commit of every run it quotes
    runs = {d["machine"]["commit"].removesuffix("+dirty")
            for d in (http, server, mem, ingest, base, real)}
    assert [c for c in sorted(runs) if f"`{c}`" not in summary] == []


def _anchors(text: str) -> set[str]:
    """The anchors GitHub gives a page's headings (lower case, punctuation dropped, spaces to
    hyphens, a repeated heading numbered), code blocks skipped."""
    found: set[str] = set()
    count: dict[str, int] = {}
    fenced = False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and (m := re.match(r"#{1,6} (.+?)\s*$", line)):
            slug = re.sub(r"[^\w\- ]", "", m.group(1).lower()).replace(" ", "-")
            n = count.get(slug, 0)
            count[slug] = n + 1
            found.add(slug if n == 0 else f"{slug}-{n}")
    return found


def test_links_to_the_benchmark_pages_resolve() -> None:
    # benchmarks.md was split (its per-round notes went to benchmarks-history.md): every link
    # into either page, from the docs, the README or the pages themselves, must land.
    targets = {name: _anchors((ROOT / "docs" / name).read_text(encoding="utf-8"))
               for name in ("benchmarks.md", "benchmarks-history.md")}
    broken, checked = [], 0
    for page in [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]:
        text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
        for link in re.findall(r"\]\(([^)\s]*)\)", text):
            file, _, anchor = link.partition("#")
            name = Path(file).name if file else page.name
            if name not in targets:
                continue
            checked += 1
            if (file and not (page.parent / file).exists()) or (
                    anchor and anchor not in targets[name]):
                broken.append(f"{page.relative_to(ROOT)}: {link}")
    assert broken == []
    assert checked > 10  # the README and the docs do link these pages
