"""The lock file covers what is installed, and every declared dependency has bounded versions."""

from __future__ import annotations

import importlib.metadata as md
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parent.parent
BOOTSTRAP = {"pip", "setuptools", "wheel"}  # come with the virtualenv, not from the lock


def _lock() -> dict[str, str]:
    pins = {}
    for line in (REPO / "requirements.lock").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"requirements.lock: {line!r} is not pinned with =="
            pins[canonicalize_name(name)] = version.strip()
    return pins


def test_every_installed_package_is_pinned_in_the_lock() -> None:
    pins = _lock()
    problems = []
    for dist in md.distributions():
        name = canonicalize_name(dist.metadata["Name"])
        if name in BOOTSTRAP or name == "reportrag":
            continue
        installed = Version(dist.version).public  # torch's "+cpu" build is still 2.13.0
        if name not in pins:
            problems.append(f"{name} {dist.version} is installed but not in requirements.lock")
        elif Version(pins[name]) != Version(installed):
            problems.append(f"{name}: installed {dist.version}, locked {pins[name]}")
    assert problems == [], "\n".join(problems)


def test_every_declared_dependency_has_an_upper_bound() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        declared += extra
    pins = _lock()
    open_ended = []
    for text in declared:
        req = Requirement(text)
        ops = {s.operator for s in req.specifier}
        if not (ops & {"<", "<=", "==", "~="}):
            open_ended.append(text)
        locked = pins.get(canonicalize_name(req.name))
        assert locked is not None, f"{req.name} is declared but not locked"
        assert req.specifier.contains(locked, prereleases=True), f"{req.name}=={locked} vs {text}"
    assert open_ended == [], open_ended
