"""Opening human tasks one at a time (a person's request, a flow's step): idempotent by key, the
business columns copied from the loan (and refreshed when the sweep changes it), journaled. Many
at once: tasks/bulk.py."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from core.identity import OrgUnit, Role, User
from loans import aging
from loans.book import installments_of
from loans.models import Borrower, Installment, Loan
from statemachines.enums import TaskState
from tasks.journaling import journal_task
from tasks.models import HumanTask


@dataclass(frozen=True)
class TaskSpec:
    """What a flow or a person asks for when opening a task."""

    kind: str
    key: str
    title: str
    due_date: date
    org_unit: OrgUnit  # candidates work in this unit's subtree
    candidate_role: Role | None = None
    candidate_user: User | None = None
    loan: Loan | None = None
    follow_up_date: date | None = None
    priority: int = 0
    context: Mapping[str, Any] | None = None
    requested_by: User | None = None
    chain_key: str | None = None
    chain_level: int | None = None


def open_task(
    session: Session, spec: TaskSpec, *, actor: str, now: datetime, business_date: date
) -> tuple[HumanTask, bool]:
    """Open the task once per key: a second call returns the existing one (created=False)."""
    existing = session.exec(select(HumanTask).where(HumanTask.key == spec.key)).first()
    if existing is not None:
        return existing, False
    if (spec.candidate_role is None) == (spec.candidate_user is None):
        raise ValueError("a task has either a candidate role or a named candidate user")
    task = HumanTask(
        key=spec.key,
        kind=spec.kind,
        title=spec.title,
        due_date=spec.due_date,
        follow_up_date=spec.follow_up_date,
        priority=spec.priority,
        candidate_role=spec.candidate_role,
        candidate_org_unit_id=spec.org_unit.id or 0,
        candidate_org_path=spec.org_unit.path,
        candidate_user_id=spec.candidate_user.id if spec.candidate_user else None,
        requested_by_id=spec.requested_by.id if spec.requested_by else None,
        chain_key=spec.chain_key,
        chain_level=spec.chain_level,
        context=dict(spec.context or {}),
        branch_path=spec.org_unit.path,
        created_at=now,
        updated_at=now,
    )
    if spec.loan is not None:
        _copy_business_columns(session, task, spec.loan, business_date)
    try:
        with session.begin_nested():  # a concurrent opener of the same key wins cleanly
            session.add(task)
    except IntegrityError:
        winner = session.exec(select(HumanTask).where(HumanTask.key == spec.key)).one()
        return winner, False
    journal_task(
        session,
        task,
        "open",
        None,
        TaskState.open,
        actor=actor,
        now=now,
        business_date=business_date,
        payload={"key": task.key, "kind": task.kind, "due_date": task.due_date},
    )
    return task, True


def _copy_business_columns(session: Session, task: HumanTask, loan: Loan, on: date) -> None:
    branch = session.get(OrgUnit, loan.branch_id)
    borrower = session.get(Borrower, loan.borrower_id)
    assert branch is not None and borrower is not None and loan.id is not None
    insts = installments_of(session, loan.id)
    task.loan_id, task.loan_no, task.borrower_name = loan.id, loan.loan_no, borrower.name
    task.branch_id, task.branch_path, task.product = branch.id, branch.path, loan.product
    task.risk_class = str(loan.risk_class)
    task.bucket = aging.bucket_for(aging.days_past_due(insts, on))
    task.exposure_cents = aging.outstanding_principal_cents(insts)


def refresh_business_columns(session: Session, loan_ids: Iterable[int]) -> int:
    """Copy the loans' current bucket, class and exposure onto their active tasks (set-based),
    so the inbox filters by today's values; the sweep calls it for the loans it changed. The
    bucket is the one the sweep stored (the configured bounds); only rows that differ are
    written. Returns the tasks updated."""
    ids = sorted(set(loan_ids))
    if not ids:
        return 0
    tasks, loans, insts = HumanTask.__table__, Loan.__table__, Installment.__table__  # type: ignore[attr-defined]
    exposure = (
        sa.select(
            sa.func.coalesce(
                sa.func.sum(insts.c.principal_due_cents - insts.c.principal_paid_cents), 0
            )
        )
        .where(insts.c.loan_id == tasks.c.loan_id)
        .scalar_subquery()
    )
    loan = loans.alias("l")
    bucket = sa.select(loan.c.bucket).where(loan.c.id == tasks.c.loan_id).scalar_subquery()
    risk = sa.select(loan.c.risk_class).where(loan.c.id == tasks.c.loan_id).scalar_subquery()
    updated = 0
    active = [s.value for s in TaskState if s.is_active]
    for start in range(0, len(ids), 5_000):
        part = ids[start : start + 5_000]
        stmt = (
            sa.update(tasks)
            .where(
                tasks.c.loan_id.in_(part),
                tasks.c.state.in_(active),
                sa.or_(
                    tasks.c.bucket.is_distinct_from(bucket),
                    tasks.c.risk_class.is_distinct_from(risk),
                    tasks.c.exposure_cents.is_distinct_from(exposure),
                ),
            )
            .values(bucket=bucket, risk_class=risk, exposure_cents=exposure)
        )
        updated += session.connection().execute(stmt).rowcount or 0
    return updated
