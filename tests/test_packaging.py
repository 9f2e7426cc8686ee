"""The package as pip builds it: pyproject in the shape setuptools takes without a warning (an SPDX
license string; every package and data folder found, none listed by hand)."""

from __future__ import annotations

import tomllib
from pathlib import Path

from setuptools import find_namespace_packages

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
SKIP = {"__pycache__", "tests", "bench", "docs", "samples", "var", "build"}


def _shipped_dirs() -> set[str]:
    """Every folder under a top-level package that holds a file the product needs at run time."""
    tops = PYPROJECT["tool"]["importlinter"]["root_packages"] + ["migrations"]
    found = set()
    for top in tops:
        for path in (ROOT / top).rglob("*"):
            if path.is_file() and not (SKIP & set(path.relative_to(ROOT).parts)):
                if path.suffix not in {".pyc"}:
                    found.add(".".join(path.parent.relative_to(ROOT).parts))
    return found


def test_pyproject_license_is_spdx_string():
    assert PYPROJECT["project"]["license"] == "Apache-2.0"
    requires = PYPROJECT["build-system"]["requires"]
    assert any(r.startswith("setuptools>=") and int(r.split(">=")[1]) >= 77 for r in requires)


def test_pyproject_packages_found_cover_every_shipped_folder():
    setup = PYPROJECT["tool"]["setuptools"]
    find = setup["packages"]["find"]  # not a list by hand: subpackages were missed that way
    packages = set(
        find_namespace_packages(str(ROOT), include=find["include"], exclude=find["exclude"])
    )
    missing = _shipped_dirs() - packages
    assert not missing, f"folders pip would leave out or warn about: {sorted(missing)}"


def test_pyproject_data_folders_declared_as_package_data():
    data = PYPROJECT["tool"]["setuptools"]["package-data"]
    for folder in _shipped_dirs():
        path = ROOT.joinpath(*folder.split("."))
        if not any(path.glob("*.py")):  # a data folder: its files must be declared
            assert folder in data, f"{folder}: no package-data entry"
