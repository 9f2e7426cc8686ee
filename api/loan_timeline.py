"""The loan page's task list and timeline: every task of the loan (open ones first) and the
loan's journal merged with its tasks' journals (claims, delegations, assignments,
cancellations, with their reasons). A task's journal is found through the task row's loan."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlmodel import Session, col, select

from audit.journal import JournalEntry
from core.identity import User
from statemachines.enums import TaskState
from tasks.access import Actor, can_see
from tasks.journaling import MACHINE, TASK
from tasks.models import HumanTask

TASK_LIMIT = 200  # a loan's tasks over its life: monthly checks plus the cases around them


@dataclass(frozen=True)
class TimelineRow:
    entry: JournalEntry
    task: HumanTask | None  # None: an entry of the loan itself

    @property
    def sort_key(self) -> tuple[date, datetime, int]:
        return (self.entry.business_date, self.entry.wall_time, self.entry.id or 0)


def loan_tasks(session: Session, loan_id: int, actor: Actor) -> list[HumanTask]:
    """All tasks of the loan the actor may see: open ones first (by due date), then the
    closed ones, newest first."""
    rows = session.exec(
        select(HumanTask)
        .where(HumanTask.loan_id == loan_id)
        .order_by(col(HumanTask.due_date).desc(), col(HumanTask.id).desc())
        .limit(TASK_LIMIT)
    ).all()
    visible = [t for t in rows if can_see(actor, t)]
    active = sorted(
        (t for t in visible if TaskState(t.state).is_active), key=lambda t: (t.due_date, t.id)
    )
    return active + [t for t in visible if not TaskState(t.state).is_active]


def timeline(
    session: Session, loan_entries: list[JournalEntry], tasks: list[HumanTask], as_of: date | None
) -> list[TimelineRow]:
    """Newest first."""
    by_id = {str(t.id): t for t in tasks}
    query = select(JournalEntry).where(
        JournalEntry.aggregate_type == TASK,
        JournalEntry.machine == MACHINE,
        col(JournalEntry.aggregate_id).in_(list(by_id)),
    )
    if as_of is not None:
        query = query.where(JournalEntry.business_date <= as_of)
    task_entries = session.exec(query).all() if by_id else []
    rows = [TimelineRow(e, None) for e in loan_entries]
    rows += [TimelineRow(e, by_id[e.aggregate_id]) for e in task_entries]
    return sorted(rows, key=lambda r: r.sort_key, reverse=True)


def people(session: Session, tasks: list[HumanTask], rows: list[TimelineRow]) -> dict[str, Any]:
    """Full names for every user the list and the timeline mention: by id and by `u:name`."""
    ids = {i for t in tasks for i in (t.assignee_id, t.completed_by_id) if i is not None}
    names = {
        a.removeprefix("u:")
        for r in rows
        for a in (r.entry.actor, r.entry.on_behalf_of, (r.entry.payload or {}).get("to"))
        if isinstance(a, str)
    }
    users = session.exec(
        select(User).where(col(User.id).in_(ids) | col(User.username).in_(names))
    ).all()
    return {"by_id": {u.id: u for u in users}, "by_name": {u.username: u.full_name for u in users}}
