"""Every domain error a user can see says it in Chinese first (issue #9, point 8): the source is
walked for `SomeError("…")` (raised, returned or built) (and error classes' `super().__init__("…")`) of PostloanError
subclasses, and each literal or f-string message must open in Chinese, its English after it in
brackets, "中文 (English)", the form api/i18n_messages.py splits per page language."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from pathlib import Path

from core.errors import PostloanError

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("core", "statemachines", "forms", "audit", "loans", "tasks", "approvals", "cases")
_WORD = re.compile(r"[A-Za-z\u3400-\u9fff]")
_CJK = re.compile(r"[\u3400-\u9fff]")


def _domain_error_names() -> set[str]:
    for folder in FOLDERS:
        package = importlib.import_module(folder)
        for info in pkgutil.walk_packages(package.__path__, f"{folder}."):
            importlib.import_module(info.name)
    names: set[str] = set()
    todo: list[type] = [PostloanError]
    while todo:
        cls = todo.pop()
        names.add(cls.__name__)
        todo.extend(cls.__subclasses__())
    return names


def _text(node: ast.expr) -> str | None:
    """The message's literal text, `{…}` for each formatted value; None when not literal."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "{…}" for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):  # "…" + (…)
        left = _text(node.left)
        return None if left is None else left + (_text(node.right) or "{…}")
    return None


def _messages() -> list[tuple[str, str]]:
    names = _domain_error_names()
    found: list[tuple[str, str]] = []
    for folder in FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for cls in [n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)]:
                if cls.name not in names:
                    continue
                for node in ast.walk(cls):  # super().__init__("…") inside an error class
                    if (
                        isinstance(node, ast.Call)
                        and isinstance(node.func, ast.Attribute)
                        and node.func.attr == "__init__"
                        and node.args
                        and (text := _text(node.args[0])) is not None
                    ):
                        found.append((f"{path.relative_to(ROOT)}:{node.lineno}", text))
            for node in ast.walk(tree):  # raise / return / build SomeError("…")
                if not isinstance(node, ast.Call):
                    continue
                name = node.func.id if isinstance(node.func, ast.Name) else ""
                name = name or getattr(node.func, "attr", "")
                if name in names and node.args and (text := _text(node.args[0])):
                    found.append((f"{path.relative_to(ROOT)}:{node.lineno}", text))
    return found


def english_only(messages: list[tuple[str, str]]) -> list[str]:
    """Messages whose first word is not Chinese (one made only of its arguments, `f"{zh} ({en})"`,
    has no word of its own to judge)."""
    bad = []
    for where, text in messages:
        first = _WORD.search(text.replace("{…}", ""))
        if first is not None and not _CJK.match(first.group()):
            bad.append(f"{where}: {text!r}")
    return bad


def test_domain_error_messages_walked_finds_the_raises() -> None:
    messages = _messages()
    assert len(messages) > 100  # the walk sees the codebase's raises, not an empty list
    assert any(where.startswith("tasks/errors.py") for where, _ in messages)


def test_domain_error_messages_english_only_none() -> None:
    bad = english_only(_messages())
    assert not bad, f"{len(bad)} domain errors without Chinese first:\n" + "\n".join(bad)


def test_english_only_new_raise_flagged() -> None:
    assert english_only([("x.py:1", "no loan {…}")]) == ["x.py:1: 'no loan {…}'"]
    assert english_only([("x.py:1", "{…} 没有贷款 {…} (no loan {…})")]) == []
    assert english_only([("x.py:1", "{…} ({…})")]) == []
