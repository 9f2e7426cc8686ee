"""STYLE: statemachines/, forms/, tasks/ (and core/, approvals/, cases/) are mypy-clean (strict, see pyproject.toml)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_mypy_strict_typed_packages_clean(backend: str) -> None:
    if backend != "sqlite":
        pytest.skip("backend-independent: checked in the SQLite run")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "statemachines",
            "forms",
            "tasks",
            "core",
            "approvals",
            "cases",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
