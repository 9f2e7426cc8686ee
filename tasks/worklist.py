"""Worklists (viewflow words): queue — I may claim; inbox — claimed by me; archive — done by me;
all — everything in my org subtree (heads, auditors). Typed columns only, one query per page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, false, func, or_
from sqlmodel import Session, col, select

from core.db import subtree
from core.identity import Principal
from statemachines.enums import TaskState
from tasks.access import Actor
from tasks.models import HumanTask

ACTIVE = (TaskState.open, TaskState.claimed, TaskState.escalated)
WAITING = (TaskState.open, TaskState.escalated)


class View(StrEnum):
    queue = "queue"
    inbox = "inbox"
    archive = "archive"
    all = "all"


@dataclass(frozen=True)
class TaskFilter:
    kind: str | None = None
    loan_no: str | None = None
    branch_path: str | None = None
    bucket: str | None = None
    risk_class: str | None = None
    due_before: date | None = None
    due_after: date | None = None
    overdue: bool | None = None


def _candidate(p: Principal) -> Any:
    by_role = [
        and_(
            col(HumanTask.candidate_role) == role.value,
            subtree(HumanTask.candidate_org_path, p.org_path),
        )
        for role in p.roles
    ]
    return or_(col(HumanTask.candidate_user_id) == p.user.id, *by_role)


def _view(actor: Actor, view: View) -> Any:
    ids = actor.user_ids
    if view is View.queue:
        if actor.read_only:
            return false()
        return and_(
            col(HumanTask.state).in_(WAITING),
            or_(*(_candidate(p) for p in actor.principals)),
        )
    if view is View.inbox:
        return and_(col(HumanTask.state) == TaskState.claimed, col(HumanTask.assignee_id).in_(ids))
    if view is View.archive:
        return and_(
            col(HumanTask.state) == TaskState.completed,
            col(HumanTask.completed_by_id) == actor.me.user.id,
        )
    if actor.me.is_auditor:
        return True
    return or_(*(subtree(HumanTask.branch_path, p.org_path) for p in actor.principals))


def _filters(f: TaskFilter, today: date) -> list[Any]:
    clauses: list[Any] = []
    for column, value in (
        (HumanTask.kind, f.kind),
        (HumanTask.loan_no, f.loan_no),
        (HumanTask.bucket, f.bucket),
        (HumanTask.risk_class, f.risk_class),
    ):
        if value:
            clauses.append(column == value)
    if f.branch_path:
        clauses.append(subtree(HumanTask.branch_path, f.branch_path))
    if f.due_before:
        clauses.append(HumanTask.due_date <= f.due_before)
    if f.due_after:
        clauses.append(HumanTask.due_date >= f.due_after)
    if f.overdue is not None:
        late = and_(
            col(HumanTask.state).in_(ACTIVE),
            col(HumanTask.due_date) < today,
        )
        clauses.append(late if f.overdue else ~late)
    return clauses


def worklist(
    session: Session,
    actor: Actor,
    view: View,
    *,
    today: date,
    filters: TaskFilter = TaskFilter(),
    limit: int = 50,
    offset: int = 0,
    with_total: bool = True,
) -> tuple[list[HumanTask], int | None]:
    where = and_(_view(actor, view), *_filters(filters, today))
    order = (
        (col(HumanTask.completed_at).desc(), col(HumanTask.id).desc())
        if view is View.archive
        else (col(HumanTask.due_date), col(HumanTask.priority).desc(), col(HumanTask.id))
    )
    rows = list(
        session.exec(
            select(HumanTask).where(where).order_by(*order).limit(limit).offset(offset)
        ).all()
    )
    total = None
    if with_total:
        total = session.exec(select(func.count()).select_from(HumanTask).where(where)).one()
    return rows, total


def counts(session: Session, actor: Actor, *, today: date) -> dict[str, int]:
    """Tab counts, plus how many of the actor's open and claimed tasks are overdue."""
    result = {
        v.value: int(
            session.exec(select(func.count()).select_from(HumanTask).where(_view(actor, v))).one()
        )
        for v in (View.queue, View.inbox, View.archive)
    }
    late = and_(
        or_(_view(actor, View.queue), _view(actor, View.inbox)), col(HumanTask.due_date) < today
    )
    result["overdue"] = int(
        session.exec(select(func.count()).select_from(HumanTask).where(late)).one()
    )
    return result


def is_overdue(task: HumanTask, today: date) -> bool:
    return TaskState(task.state) in ACTIVE and task.due_date < today
