"""The package's shape: one installed namespace, dependencies pointing one way.

docs/architecture.md draws the layers: ``reportrag.api`` on top, ``reportrag.search`` (read
path) and ``reportrag.ingest`` (write path) beside each other, the core (every other module of
``reportrag``) below. Every import statement of the product, at any depth (also inside
functions), is read from the source and checked against that drawing.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "reportrag"
EDGES = ("api", "search", "ingest")
# layer -> the layers it may import (besides itself and the core)
ALLOWED = {"api": {"search", "ingest"}, "search": set(), "ingest": set(), "core": set()}


def _layer(module: str) -> str | None:
    """The layer of a module of ours (``None`` for anything else)."""
    parts = module.split(".")
    if parts[0] != "reportrag":
        return None
    return parts[1] if len(parts) > 1 and parts[1] in EDGES else "core"


def _module_of(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """Absolute module names imported by a file (relative imports resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    module = _module_of(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                name = ".".join([*base, *([node.module] if node.module else [])])
            else:
                name = node.module or ""
            found.append((node.lineno, name))
    return found


def _product_files() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def test_the_layer_rule_sees_every_kind_of_import(tmp_path: Path) -> None:
    """The checker itself: it finds nested, relative and ``from x import y`` imports."""
    probe = PACKAGE / "search" / "_layers_probe_test.py"
    probe.write_text(
        "from reportrag.ingest import corpus\n"
        "def f():\n    import reportrag.api.app\n    from ..ingest.plan import x\n",
        encoding="utf-8",
    )
    try:
        names = [name for _, name in _imports(probe)]
    finally:
        probe.unlink()
    assert names == ["reportrag.ingest", "reportrag.api.app", "reportrag.ingest.plan"]


def test_dependencies_point_one_way() -> None:
    wrong = []
    files = _product_files()
    assert len(files) > 100, "the package tree was not found"
    for path in files:
        here = _layer(_module_of(path))
        assert here is not None
        for line, name in _imports(path):
            there = _layer(name)
            if there is None or there in (here, "core"):
                continue
            if there not in ALLOWED[here]:
                wrong.append(f"{path.relative_to(REPO)}:{line} ({here}) imports {name} ({there})")
    assert not wrong, "imports against the layers of docs/architecture.md:\n" + "\n".join(wrong)


def test_no_old_top_level_packages_are_imported() -> None:
    """``api``, ``search`` and ``ingest`` live only under ``reportrag``; nothing imports the
    old top-level names (they would collide with anything else so named)."""
    roots = [PACKAGE, REPO / "tests", REPO / "bench", REPO / "eval", REPO / "examples"]
    stale = []
    for root in roots:
        for path in root.rglob("*.py"):
            if "__pycache__" in path.parts or "docs" in path.relative_to(REPO).parts:
                continue
            for line, name in _imports(path):
                if name.split(".")[0] in EDGES:
                    stale.append(f"{path.relative_to(REPO)}:{line} imports {name}")
    assert not stale, "\n".join(stale)
    for edge in EDGES:
        assert not (REPO / edge / "__init__.py").exists(), f"a top-level {edge}/ package is back"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(out), str(REPO)],
        check=True, capture_output=True, text=True, timeout=300,
    )
    (built,) = out.glob("reportrag-*.whl")
    return built


def test_the_wheel_holds_only_the_reportrag_tree(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert tops == {"reportrag", "reportrag-0.1.0.dist-info"}, tops
    # the search page ships with the package; every product module is in it
    assert "reportrag/api/static/index.html" in names
    shipped = {n for n in names if n.endswith(".py")}
    expected = {p.relative_to(REPO).as_posix() for p in _product_files()}
    assert expected <= shipped, sorted(expected - shipped)[:5]
    entry = zipfile.ZipFile(wheel).read("reportrag-0.1.0.dist-info/entry_points.txt").decode()
    assert "reportrag = reportrag.api.cli:main" in entry


def test_pip_install_into_an_empty_venv_adds_only_reportrag(wheel: Path, tmp_path: Path) -> None:
    # a PYTHONPATH naming a checkout (with its egg-info) would make pip think it is installed
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py = env_dir / "bin" / "python"
    site = Path(subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True, env=clean).stdout.strip())
    before = {p.name for p in site.iterdir()}
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
                   check=True, capture_output=True, text=True, timeout=300, env=clean)
    added = {p.name for p in site.iterdir()} - before
    assert added == {"reportrag", "reportrag-0.1.0.dist-info"}, added
    # the installed tree is importable on its own (no dependency needed for these modules)
    check = subprocess.run(
        [str(py), "-I", "-c",
         "import reportrag.ids, reportrag.errors; print(reportrag.ids.__file__)"],
        capture_output=True, text=True, cwd=tmp_path, env=clean,
    )
    assert check.returncode == 0, check.stderr
    assert str(site) in check.stdout
