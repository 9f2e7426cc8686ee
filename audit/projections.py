"""Projections written in the journal's own transaction: a higher layer registers a function that
receives the rows just appended (the same plain rows `append_many` inserts, in chain order) and
keeps its read model in step — never behind, never ahead of, the journal it is derived from.

The journal knows nothing of what a projection holds, so the dependency direction stays as it is
(loans registers loans.status_history). A projector is called once per append, on the caller's
connection, so what it writes commits or rolls back with the entries themselves."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy.engine import Connection

Projector = Callable[[Connection, Sequence[Mapping[str, Any]]], None]

_PROJECTORS: list[Projector] = []


def register(projector: Projector) -> Projector:
    """Keep `projector` in step with every append from now on (registering twice is once)."""
    if projector not in _PROJECTORS:
        _PROJECTORS.append(projector)
    return projector


def project(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    for projector in _PROJECTORS:
        projector(conn, rows)
