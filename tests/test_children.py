"""Child Python processes import this same reportrag (reportrag/children.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import reportrag
from reportrag import children


def test_a_child_imports_this_reportrag_before_another_on_its_path(tmp_path: Path) -> None:
    # Another reportrag (a decoy) on the path the child inherits would win without the
    # source tree first.
    other = tmp_path / "other"
    (other / "reportrag").mkdir(parents=True)
    (other / "reportrag" / "__init__.py").write_text("raise SystemExit('the decoy')\n")
    env = children.child_env({**os.environ, "PYTHONPATH": str(other)})
    assert env["PYTHONPATH"].split(os.pathsep) == [str(children.SOURCE_ROOT), str(other)]
    probe = [sys.executable, "-c", "import reportrag; print(reportrag.__file__)"]
    out = subprocess.run(probe, cwd=tmp_path, env=env, capture_output=True, text=True,
                         check=True)
    assert Path(out.stdout.strip()) == Path(reportrag.__file__).resolve()
    decoy = subprocess.run(probe, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(other)},
                           capture_output=True, text=True)
    assert decoy.returncode != 0 and "the decoy" in decoy.stderr  # what it guards against


def test_the_command_runs_a_module_with_this_interpreter() -> None:
    assert children.module_command("x.y", "--a", "1") == [
        sys.executable, "-P", "-m", "x.y", "--a", "1"]
    assert children.module_command("x.y", unbuffered=True) == [
        sys.executable, "-P", "-u", "-m", "x.y"]


def test_a_reportrag_in_the_working_directory_does_not_shadow_this_one(tmp_path: Path) -> None:
    # ``python -m`` puts the working directory first on the path: started from another
    # checkout, a child would import that checkout's reportrag (seen: a worktree's code made
    # its ONNX export with the parent directory's).
    (tmp_path / "reportrag").mkdir()
    (tmp_path / "reportrag" / "__init__.py").write_text("raise SystemExit('the decoy')\n")
    cmd = children.module_command("reportrag.children")
    out = subprocess.run(cmd, cwd=tmp_path, env=children.child_env(), capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stderr
    plain = subprocess.run([c for c in cmd if c != "-P"], cwd=tmp_path,
                           env=children.child_env(), capture_output=True, text=True)
    assert plain.returncode != 0 and "the decoy" in plain.stderr  # what -P guards against


def test_an_installed_reportrag_leaves_the_path_alone(monkeypatch) -> None:
    monkeypatch.setattr(children, "SOURCE_ROOT", Path("/usr/lib/python3/site-packages"))
    assert "PYTHONPATH" not in children.child_env({"HOME": "/root"})
