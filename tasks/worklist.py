"""Worklists (viewflow words): queue — I may claim; inbox — claimed by me; archive — done by me;
all — everything in my org subtree (heads, auditors). Typed columns only, one query per page."""

from __future__ import annotations

import operator
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from functools import reduce
from typing import Any

from sqlalchemy import and_, func, literal, true, union_all
from sqlmodel import Session, col, select

from core.db import subtree
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


def _branches(actor: Actor, view: View) -> list[Any]:
    """The view as disjoint conditions, each served by one index in the order pages are read:
    a page is a UNION ALL of per-branch top-N index scans and a total a sum of (index-only)
    counts. An OR across them instead makes Postgres fetch and sort every matching row.
    Disjoint because a task has a candidate role or a named user, never both (opening.open_task),
    and org subtrees nest or are disjoint, so a subtree inside another one is dropped."""
    if view is View.queue:
        if actor.read_only:
            return []
        waiting = col(HumanTask.state).in_(WAITING)
        named = sorted(set(actor.user_ids))
        branches = [and_(waiting, col(HumanTask.candidate_user_id) == i) for i in named]
        for role in sorted({r for p in actor.principals for r in p.roles}):
            paths = _outermost(p.org_path for p in actor.principals if role in p.roles)
            branches += [
                and_(
                    waiting,
                    col(HumanTask.candidate_role) == role.value,
                    subtree(HumanTask.candidate_org_path, path),
                )
                for path in paths
            ]
        return branches
    if view is View.inbox:
        ids = actor.user_ids
        return [
            and_(col(HumanTask.state) == TaskState.claimed, col(HumanTask.assignee_id).in_(ids))
        ]
    if view is View.archive:
        return [
            and_(
                col(HumanTask.state) == TaskState.completed,
                col(HumanTask.completed_by_id) == actor.me.user.id,
            )
        ]
    if actor.me.is_auditor:
        return [true()]
    paths = _outermost(p.org_path for p in actor.principals)
    return [subtree(HumanTask.branch_path, path) for path in paths]


def _outermost(paths: Iterable[str]) -> list[str]:
    unique = set(paths)
    return sorted(p for p in unique if not any(p != q and p.startswith(q) for q in unique))


def _total(branches: list[Any], clauses: list[Any]) -> Any:
    """One scalar: the sum of the branches' counts (they are disjoint)."""
    counts = [
        select(func.count()).select_from(HumanTask).where(b, *clauses).scalar_subquery()
        for b in branches
    ]
    return reduce(operator.add, counts) if counts else literal(0)


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
    branches, clauses = _branches(actor, view), _filters(filters, today)
    order = (
        (col(HumanTask.completed_at).desc(), col(HumanTask.id).desc())
        if view is View.archive
        else (col(HumanTask.due_date), col(HumanTask.priority).desc(), col(HumanTask.id))
    )
    if not branches:
        return [], 0 if with_total else None
    if len(branches) == 1:
        where = and_(branches[0], *clauses)
    else:  # each branch's first offset+limit rows, read in index order; the page is among them
        tops = [
            select(HumanTask.id)
            .where(b, *clauses)
            .order_by(*order)
            .limit(offset + limit)
            .subquery()
            for b in branches
        ]
        where = col(HumanTask.id).in_(union_all(*(select(t.c.id) for t in tops)))
    rows = list(
        session.exec(
            select(HumanTask).where(where).order_by(*order).limit(limit).offset(offset)
        ).all()
    )
    total = None
    if with_total:
        total = int(session.exec(select(_total(branches, clauses))).one())
    return rows, total


def counts(session: Session, actor: Actor, *, today: date) -> dict[str, int]:
    """Tab counts, plus how many of the actor's open and claimed tasks are overdue (one query)."""
    queue, inbox, archive = (_branches(actor, v) for v in (View.queue, View.inbox, View.archive))
    late = [col(HumanTask.due_date) < today]
    row = session.exec(
        select(
            _total(queue, []), _total(inbox, []), _total(archive, []), _total(queue + inbox, late)
        )
    ).one()
    return dict(zip(("queue", "inbox", "archive", "overdue"), map(int, row), strict=True))


def is_overdue(task: HumanTask, today: date) -> bool:
    return TaskState(task.state) in ACTIVE and task.due_date < today
