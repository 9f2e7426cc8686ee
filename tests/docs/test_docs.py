"""docs/ travels with the code: the generated pages (layers, state machines, settings) match what
the code makes now, and every relative link of README.md and docs/*.md names a file in the repo."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from statemachine import State
from typer.testing import CliRunner

from api import cli_docs
from api.cli import app
from core.settings import Settings
from statemachines import diagrams
from statemachines.base import StrictMachine
from statemachines.loan_lifecycle import LoanLifecycle

ROOT = Path(__file__).resolve().parents[2]
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
runner = CliRunner()


class _Toy(StrictMachine):
    """A machine the docs have never seen."""

    idle = State("空闲 idle", value="idle", initial=True)
    busy = State("忙 busy", value="busy", final=True)
    start = idle.to(busy, validators="check_ready")

    def check_ready(self) -> None:
        return None


def _copy_repo_docs(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_generated_pages_current_none_stale() -> None:
    stale = [str(p.relative_to(ROOT)) for p in cli_docs.stale(ROOT)]
    assert stale == [], f"run `postloan docs diagrams` and commit: {stale} are stale"


def test_machines_discovered_every_statemachine_class_listed() -> None:
    names = {m.__name__ for m in diagrams.machines()}
    assert {
        "LoanLifecycle",
        "RiskClassification",
        "HumanTaskLifecycle",
        "ApprovalRequestMachine",
        "WarningCaseLifecycle",
    } <= names


def test_transitions_table_each_machine_row_per_table_entry() -> None:
    for machine in diagrams.machines():
        rows = diagrams.transitions_table(machine)[2:]
        pairs = {(src, ev) for (src, ev), targets in machine.transition_table().items()}
        listed = {(row.split("|")[2].strip(" `"), row.split("|")[1].strip(" `")) for row in rows}
        assert listed == pairs, machine.__name__
        assert len(rows) == sum(len(t) for t in machine.transition_table().values())


def test_diagrams_module_imported_no_db_web_prefect_or_template_library() -> None:
    code = (
        "import sys; from statemachines.diagrams import state_machines_markdown as m; m(); "
        "print(sorted({n.split('.')[0] for n in sys.modules} & "
        "{'sqlmodel', 'sqlalchemy', 'fastapi', 'starlette', 'prefect', 'jinja2', 'pydot'}))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_stale_new_machine_added_page_reported(tmp_path, monkeypatch) -> None:
    root = _copy_repo_docs(tmp_path)
    assert cli_docs.stale(root) == []
    monkeypatch.setattr(diagrams, "machines", lambda: [LoanLifecycle, _Toy])
    assert cli_docs.stale(root) == [root / "docs" / "state-machines.md"]
    page = diagrams.state_machines_markdown()
    assert "| `start` | `idle` | `busy` | — | `check_ready` |" in page
    assert 'state "空闲 idle" as idle' in page


def test_stale_pyproject_layer_added_layers_page_reported(tmp_path) -> None:
    root = _copy_repo_docs(tmp_path)
    pyproject = root / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    pyproject.write_text(text.replace('"flows", "reports"', '"flows", "simulation", "reports"', 1))
    assert cli_docs.stale(root) == [root / "docs" / "layers.md"]


def test_settings_page_every_setting_with_env_name_and_default() -> None:
    page = cli_docs.settings_markdown()
    for name in Settings.model_fields:
        assert f"| `POSTLOAN_{name.upper()}` |" in page
    assert "| `POSTLOAN_COLLECTION_STEP_DAYS` | `[1, 16, 31, 61, 91]` |" in page
    assert "| `POSTLOAN_SECRET_KEY` | *(unset)* |" in page


def test_settings_page_setting_without_description_refused(monkeypatch) -> None:
    monkeypatch.setattr(cli_docs, "UNDESCRIBED", {})
    with pytest.raises(ValueError, match="default_currency"):
        cli_docs.settings_markdown()


def test_docs_diagrams_check_stale_exit_1_names_page(tmp_path, monkeypatch) -> None:
    root = _copy_repo_docs(tmp_path)
    (root / "docs" / "state-machines.md").write_text("# old\n", encoding="utf-8")
    monkeypatch.setattr(cli_docs, "ROOT", root)
    result = runner.invoke(app, ["docs", "diagrams", "--check"], env={"COLUMNS": "200"})
    assert result.exit_code == 1
    assert "docs/state-machines.md" in result.output


def test_docs_diagrams_write_then_check_exit_0(tmp_path, monkeypatch) -> None:
    root = _copy_repo_docs(tmp_path)
    (root / "docs" / "layers.md").unlink()
    monkeypatch.setattr(cli_docs, "ROOT", root)
    assert runner.invoke(app, ["docs", "diagrams"]).exit_code == 0
    assert (root / "docs" / "layers.md").exists()
    result = runner.invoke(app, ["docs", "diagrams", "--check"])
    assert result.exit_code == 0, result.output


def _markdown_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _without_code(text: str) -> str:
    return re.sub(r"```.*?```", "", text, flags=re.S)


def _relative_links(path: Path) -> list[tuple[str, str]]:
    """(path, fragment) of each link to a file of the repo; "" path: this page's own anchor."""
    links = []
    for target in LINK.findall(_without_code(path.read_text(encoding="utf-8"))):
        parts = urlsplit(target)
        if parts.scheme or parts.netloc:
            continue  # http(s)://, mailto:
        links.append((unquote(parts.path), unquote(parts.fragment)))
    return links


def _anchors(page: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    slugs: set[str] = set()
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*$", _without_code(page.read_text("utf-8")), re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        slugs.add(slug if slug not in slugs else f"{slug}-1")
    return slugs


def test_relative_links_readme_and_docs_each_resolves_in_repo() -> None:
    broken = []
    for page in _markdown_files():
        for link, fragment in _relative_links(page):
            target = (page.parent / link).resolve() if link else page
            if not target.exists() or (link and ROOT not in target.parents):
                broken.append(f"{page.relative_to(ROOT)}: {link}")
            elif fragment and target.suffix == ".md" and fragment not in _anchors(target):
                broken.append(f"{page.relative_to(ROOT)}: {link}#{fragment} (no such heading)")
    assert broken == []


def test_relative_links_broken_link_and_anchor_found(tmp_path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "# Top (顶部)\nsee [gone](../nowhere.md), [web](https://example.org), [me](#top-顶部)\n",
        encoding="utf-8",
    )
    assert _relative_links(page) == [("../nowhere.md", ""), ("", "top-顶部")]
    assert _anchors(page) == {"top-顶部"}


def test_readme_links_docs_not_shared_guidance() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in ("DESIGN.md", "DOMAIN.md", "STYLE.md", "../shared"):
        assert name not in readme
    assert "docs/index.md" in readme
