"""The loan lifecycle diagram with the path one loan took highlighted (SVG, rendered server-side
by Graphviz `dot` from python-statemachine's own DOT export): the machine class stays the one
definition of the graph. One rendering per distinct path, cached; without `dot` (or pydot) the
page says so instead of showing a diagram."""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

from audit.journal import JournalEntry
from statemachines.loan_lifecycle import LoanLifecycle

MACHINE = "loan_lifecycle"
PATH_COLOR = "#c0392b"
VISITED_FILL = "#fdebd0"
CURRENT_FILL = "#f5b041"
FONT = "Noto Sans CJK SC"  # Debian's fonts-noto-cjk: the state names are Chinese first


class DiagramUnavailableError(RuntimeError):
    """Graphviz (`dot`) or pydot is not installed: the page shows a note instead."""


def lifecycle_path(entries: Iterable[JournalEntry]) -> tuple[tuple[str | None, str], ...]:
    """The (from, to) moves of the loan's lifecycle, in order (the opening has no `from`)."""
    return tuple((e.from_state, e.to_state) for e in entries if e.machine == MACHINE and e.to_state)


def available() -> bool:
    if shutil.which("dot") is None:
        return False
    try:
        import pydot  # noqa: F401
    except ImportError:
        return False
    return True


def _nodes(graph: Any) -> Iterable[Any]:
    yield from graph.get_nodes()
    for sub in graph.get_subgraphs():
        yield from _nodes(sub)


def _edges(graph: Any) -> Iterable[Any]:
    yield from graph.get_edges()
    for sub in graph.get_subgraphs():
        yield from _edges(sub)


def highlighted_dot(path: Sequence[tuple[str | None, str]]) -> str:
    """DOT source of the lifecycle with the states visited filled, the current one stronger, and
    the transitions taken drawn thick in red (numbered by when they were taken)."""
    from statemachine.contrib.diagram import DotGraphMachine

    class _Diagram(DotGraphMachine):
        font_name = FONT

    graph = _Diagram(LoanLifecycle).get_graph()
    visited = {to for _, to in path}
    current = path[-1][1] if path else None
    steps: dict[tuple[str, str], list[int]] = {}
    for n, (source, target) in enumerate(path, start=1):
        if source is not None:
            steps.setdefault((source, target), []).append(n)
    for node in _nodes(graph):
        name = node.get_name().strip('"')
        if name in visited:
            node.set("fillcolor", CURRENT_FILL if name == current else VISITED_FILL)
            node.set("color", PATH_COLOR)
    for edge in _edges(graph):
        key = (str(edge.get_source()).strip('"'), str(edge.get_destination()).strip('"'))
        if key in steps:
            edge.set("color", PATH_COLOR)
            edge.set("penwidth", "3")
            edge.set("fontcolor", PATH_COLOR)
            edge.set("xlabel", " ".join(f"#{n}" for n in steps[key]))
        elif key[0].startswith("__initial") and key[1] in visited:
            edge.set("color", PATH_COLOR)
            edge.set("penwidth", "3")
    graph.set("label", "")
    return str(graph.to_string())


@lru_cache(maxsize=256)
def lifecycle_svg(path: tuple[tuple[str | None, str], ...]) -> bytes:
    """The SVG for one path (cached: most loans share a handful of paths)."""
    if not available():
        raise DiagramUnavailableError("graphviz `dot` or pydot is not installed")
    from statemachine.contrib.diagram import GraphvizError, run_graphviz

    try:
        return bytes(run_graphviz(highlighted_dot(path), "svg"))
    except GraphvizError as exc:  # a broken install: the page degrades, as without `dot`
        raise DiagramUnavailableError(str(exc)) from exc
