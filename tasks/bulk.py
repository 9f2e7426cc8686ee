"""Opening many tasks at once (inspection schedules, sweep proposals): set-based, idempotent by
key (INSERT … ON CONFLICT DO NOTHING), journaled with `append_many`. Never a row at a time."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from audit import journal
from statemachines.enums import TaskState
from tasks.journaling import MACHINE, TASK
from tasks.models import HumanTask

TASKS: Table = HumanTask.__table__  # type: ignore[attr-defined]
CHUNK = 1000


@dataclass(frozen=True)
class TaskRow:
    """One task to open, with its business columns already resolved (no ORM objects)."""

    kind: str
    key: str
    title: str
    due_date: date
    candidate_org_unit_id: int
    candidate_org_path: str
    branch_path: str
    candidate_role: str | None = None
    candidate_user_id: int | None = None
    branch_id: int | None = None
    loan_id: int | None = None
    loan_no: str | None = None
    borrower_name: str | None = None
    product: str | None = None
    bucket: str | None = None
    risk_class: str | None = None
    exposure_cents: int | None = None
    priority: int = 0
    follow_up_date: date | None = None
    requested_by_id: int | None = None
    chain_key: str | None = None
    chain_level: int | None = None
    context: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if (self.candidate_role is None) == (self.candidate_user_id is None):
            raise ValueError(f"task {self.key}: a candidate role or a named user, not both/none")


def existing_keys(session: Session, keys: Sequence[str]) -> set[str]:
    """Which of these task keys are already open (chunked IN lookups, never one per key)."""
    found: set[str] = set()
    for start in range(0, len(keys), CHUNK):
        part = list(keys[start : start + CHUNK])
        found.update(session.exec(select(HumanTask.key).where(col(HumanTask.key).in_(part))))
    return found


def open_tasks_bulk(
    session: Session, rows: Sequence[TaskRow], *, actor: str, now: datetime, business_date: date
) -> list[int]:
    """Open every task whose key is new; returns the ids created (re-running creates none)."""
    unique = list({r.key: r for r in reversed(rows)}.values())[::-1]  # first of each key
    keys = [r.key for r in unique]
    existing = existing_keys(session, keys)
    todo = [r for r in unique if r.key not in existing]
    if not todo:
        return []
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    values = [
        {
            **asdict(r),
            "state": TaskState.open.value,
            "version": 1,
            "created_at": now,
            "updated_at": now,
        }
        for r in todo
    ]
    conn = session.connection()
    created: list[tuple[int, str]] = []
    for start in range(0, len(values), CHUNK):
        stmt = (
            insert(TASKS)
            .on_conflict_do_nothing(index_elements=["key"])
            .returning(TASKS.c.id, TASKS.c.key)
        )
        created += [(row.id, row.key) for row in conn.execute(stmt, values[start : start + CHUNK])]
    by_key = {r.key: r for r in todo}
    journal.append_many(
        session,
        [
            {
                "aggregate_type": TASK,
                "aggregate_id": str(task_id),
                "machine": MACHINE,
                "event": "open",
                "from_state": None,
                "to_state": TaskState.open.value,
                "actor": actor,
                "payload": {
                    "key": key,
                    "kind": by_key[key].kind,
                    "due_date": by_key[key].due_date,
                    "context": by_key[key].context,
                },
            }
            for task_id, key in sorted(created)
        ],
        now=now,
        business_date=business_date,
    )
    return sorted(task_id for task_id, _ in created)
