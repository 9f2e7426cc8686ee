"""逾期收缴月报: the monthly overdue-collection report of the student-loan book (000 国家助学贷款
信息管理系统, 贷后管理→风险管理→逾期收缴月报), per handling institution (经办机构) and product,
for the month up to a date D: the book and its arrears at the end of D and of the month before,
loans newly overdue, cured or closed in the month, what was collected from loans in arrears,
the contacts recorded, and the in-school interest the state paid. Every figure is as of D
(status and bucket history, payments by value date, completions by registration date).
Imports no web or Prefect library."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Table, and_, case, func, select
from sqlmodel import Session

from core.settings import Settings, get_settings
from loans.models import Payment
from loans.status_history import BUCKETS
from reports.inspections import rate
from reports.student_book import (
    TASKS,
    Institution,
    Key,
    completed_between,
    institutions,
    student_book,
    student_loans,
    subsidy_between,
)

PAYMENTS: Table = Payment.__table__  # type: ignore[attr-defined]
CONTACT_KINDS = ("collection_contact", "student_contact")  # 催收时联系, 在校/毕业后联系


@dataclass
class CollectionRow:
    """One institution and product (institution None: the total of every row above)."""

    institution: Institution | None
    product: str
    loans: int = 0  # on the book at the end of D
    balance_cents: int = 0
    overdue_loans: int = 0  # in arrears at the end of D (the sweep's bucket)
    overdue_balance_cents: int = 0
    opening_overdue: int = 0  # in arrears at the end of the month before
    new_overdue: int = 0  # in arrears on D, not at the month's start
    cured: int = 0  # in arrears at the month's start, current on D, still on the book
    closed: int = 0  # in arrears at the month's start, settled or written off by D
    collected_cents: int = 0  # 收缴: payments valued in the month on loans in arrears in it
    collection_contacts: int = 0  # 催收联系 recorded in the month
    student_contacts: int = 0  # 联系记录 (yearly, after graduation) recorded in the month
    subsidy_cents: int = 0  # 财政贴息 of in-school periods ending in the month
    by_bucket: dict[str, int] = field(default_factory=dict)

    @property
    def overdue_rate(self) -> Decimal | None:
        return rate(self.overdue_balance_cents, self.balance_cents)


_ADDITIVE = ("loans", "balance_cents", "overdue_loans", "overdue_balance_cents",
             "opening_overdue", "new_overdue", "cured", "closed", "collected_cents",
             "collection_contacts", "student_contacts", "subsidy_cents")  # fmt: skip


def overdue_collection(
    session: Session,
    *,
    on: date,
    org_paths: Sequence[str] | None,
    settings: Settings | None = None,
) -> list[CollectionRow]:
    """The month of `on` up to `on`, one row per institution and product, then the total."""
    settings = settings or get_settings()
    start = on.replace(day=1)
    before_start = start - timedelta(days=1)
    now, before = student_book(on, org_paths, "now"), student_book(before_start, org_paths, "prev")
    students = student_loans(org_paths)
    rows: dict[Key, CollectionRow] = {}

    def row(institution_id: int, product: str) -> CollectionRow:
        return rows.setdefault((institution_id, product), CollectionRow(None, product))

    run = session.connection().execute
    overdue_now = now.c.bucket.is_not(None)
    for i, p, bucket, n, balance in run(
        select(now.c.institution_id, now.c.product, now.c.bucket, func.count(),
               func.coalesce(func.sum(now.c.balance_cents), 0))
        .group_by(now.c.institution_id, now.c.product, now.c.bucket)
    ):  # fmt: skip
        r = row(i, p)
        r.loans, r.balance_cents = r.loans + n, r.balance_cents + int(balance)
        if bucket is not None:
            r.overdue_loans += n
            r.overdue_balance_cents += int(balance)
            r.by_bucket[bucket] = r.by_bucket.get(bucket, 0) + n
    was_overdue = before.c.bucket.is_not(None)
    for i, p, opening, cured, closed in run(
        select(before.c.institution_id, before.c.product, func.count(),
               func.sum(case((and_(now.c.loan_id.is_not(None), ~overdue_now), 1), else_=0)),
               func.sum(case((now.c.loan_id.is_(None), 1), else_=0)))
        .select_from(before.outerjoin(now, now.c.loan_id == before.c.loan_id))
        .where(was_overdue).group_by(before.c.institution_id, before.c.product)
    ):  # fmt: skip
        r = row(i, p)
        r.opening_overdue, r.cured, r.closed = opening, int(cured or 0), int(closed or 0)
    for i, p, n in run(
        select(now.c.institution_id, now.c.product, func.count())
        .select_from(now.outerjoin(before, before.c.loan_id == now.c.loan_id))
        .where(overdue_now, before.c.bucket.is_(None))
        .group_by(now.c.institution_id, now.c.product)
    ):  # fmt: skip
        row(i, p).new_overdue = n
    for i, p, amount in run(_collected(students, before_start, start, on)):
        row(i, p).collected_cents = int(amount or 0)
    for i, p, kind, n in run(
        select(students.c.institution_id, students.c.product, TASKS.c.kind, func.count())
        .select_from(TASKS.join(students, students.c.loan_id == TASKS.c.loan_id))
        .where(TASKS.c.kind.in_(CONTACT_KINDS), completed_between(start, on, settings))
        .group_by(students.c.institution_id, students.c.product, TASKS.c.kind)
    ):  # fmt: skip
        r = row(i, p)
        if kind == "collection_contact":
            r.collection_contacts = n
        else:
            r.student_contacts = n
    subsidy = subsidy_between(students, start, on).subquery()
    for i, p, amount in run(
        select(subsidy.c.institution_id, subsidy.c.product, func.sum(subsidy.c.interest_cents))
        .group_by(subsidy.c.institution_id, subsidy.c.product)
    ):  # fmt: skip
        row(i, p).subsidy_cents = int(amount or 0)
    return _with_total(session, rows)


def _collected(students: Any, before_start: date, start: date, on: date) -> Any:
    """Payments valued in [start, on] of loans in arrears on some day from the month's start
    to `on` (a bucket row [entered_on, left_on) overlapping it)."""
    in_arrears = (
        select(BUCKETS.c.loan_id)
        .where(
            BUCKETS.c.entered_on <= on,
            (BUCKETS.c.left_on.is_(None)) | (BUCKETS.c.left_on > before_start),
        )
        .distinct()
    )
    return (
        select(students.c.institution_id, students.c.product, func.sum(PAYMENTS.c.amount_cents))
        .select_from(PAYMENTS.join(students, students.c.loan_id == PAYMENTS.c.loan_id))
        .where(PAYMENTS.c.value_date.between(start, on), PAYMENTS.c.loan_id.in_(in_arrears))
        .group_by(students.c.institution_id, students.c.product)
    )


def _with_total(session: Session, rows: dict[Key, CollectionRow]) -> list[CollectionRow]:
    names = institutions(session, {i for i, _ in rows})
    out = []
    for (i, _), r in rows.items():
        r.institution = names[i]
        out.append(r)
    out.sort(key=lambda r: (r.institution.code if r.institution else "", r.product))
    total = CollectionRow(None, "")
    for r in out:
        for name in _ADDITIVE:
            setattr(total, name, getattr(total, name) + getattr(r, name))
        for bucket, n in r.by_bucket.items():
            total.by_bucket[bucket] = total.by_bucket.get(bucket, 0) + n
    return [*out, total] if out else []
