"""The outbox (DESIGN decision 2): a row asking Prefect for a deployment run, written in the same
transaction as the decision that needs it. `flows/dispatch.py` delivers it; the key makes a second
delivery of the same row, or a second enqueue of the same request, one run."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from audit.journal import jsonable
from tasks.models import Outbox

OUTBOX = Outbox.__table__  # type: ignore[attr-defined]
# built once per dialect: every completion that continues a flow runs it
_ENQUEUE: dict[str, Any] = {
    "postgresql": postgresql.insert(OUTBOX).on_conflict_do_nothing(index_elements=["key"]),
    "sqlite": sqlite.insert(OUTBOX).on_conflict_do_nothing(index_elements=["key"]),
}


def enqueue(
    session: Session,
    *,
    key: str,
    flow: str,
    parameters: Mapping[str, Any],
    now: datetime,
) -> None:
    """Ask for one run of `flow`'s deployment (idempotent by `key`: enqueued twice, delivered
    once). Only flows/launch.py knows deployment names: the row names the flow."""
    conn = session.connection()
    row = {
        "key": key,
        "token": uuid.uuid4().hex,
        "flow": flow,
        "parameters": jsonable(dict(parameters)),
        "created_at": now,
        "next_attempt_at": now,
        "attempts": 0,
    }
    conn.execute(_ENQUEUE[conn.dialect.name], row)
