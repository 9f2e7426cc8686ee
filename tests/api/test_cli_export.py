"""`postloan audit export`: the file written, the count said in Chinese first, bad input refused."""

from __future__ import annotations

import csv
import json

import pytest

from tests.api.test_cli import run


@pytest.fixture
def seeded(engine):
    result = run("demo", "seed", "--loans", "6", "--today", "2026-11-23")
    assert result.exit_code == 0, result.output
    return engine


@pytest.mark.parametrize("fmt", ["csv", "xes", "ocel"])
def test_audit_export_writes_file_and_says_how_many(seeded, tmp_path, fmt):
    out = tmp_path / f"journal.{fmt}"
    result = run("audit", "export", "--format", fmt, "-o", str(out))
    assert result.exit_code == 0, result.output
    assert result.output.startswith("已写入 wrote ")
    events = int(result.output.split("wrote ")[1].split(" ")[0])
    assert events > 0
    text = out.read_text(encoding="utf-8")
    if fmt == "csv":
        assert len(list(csv.reader(text.splitlines()))) == events + 1
    elif fmt == "xes":
        assert text.count("<event>") == events
    else:
        assert len(json.loads(text)["events"]) == events


def test_audit_export_unknown_format_or_branch_refused(seeded, tmp_path):
    bad = run("audit", "export", "--format", "pdf", "-o", str(tmp_path / "x"))
    assert bad.exit_code == 2 and "未知格式" in bad.output
    branch = run(
        "audit", "export", "--format", "csv", "--branch", "NOPE", "-o", str(tmp_path / "y")
    )
    assert branch.exit_code == 1 and "unknown branch" in branch.output
    assert not (tmp_path / "y").exists()
