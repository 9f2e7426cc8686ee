"""机构考核: the yearly assessment of each handling institution (经办机构) of the student-loan book
(000 国家助学贷款信息管理系统, 贷后管理→机构考核管理), for the year up to a date D, per institution
and product: the year's lending, repayment and status changes (学籍异动, the year-end summary
the seeds describe), the overdue and default rates, contact coverage and graduation
confirmations on time — and the grade and the suspension the product's rule (data,
loans/student/rules.py) gives them. As of D like every report. Imports no web or Prefect."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Table, and_, case, distinct, exists, func, or_, select
from sqlmodel import Session

from core.settings import Settings, get_settings
from loans.aging import bucket_names
from loans.models import Installment, Payment
from loans.student.rules import Assessment, Grade, rules_for
from reports.inspections import ENDED, ENDING_EVENTS, _journaled, rate
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
from statemachines.enums import TaskState
from tasks.inspection_reports import registration_date

INSTALLMENTS: Table = Installment.__table__  # type: ignore[attr-defined]
PAYMENTS: Table = Payment.__table__  # type: ignore[attr-defined]
CONFIRMATION, CONTACT = "graduation_confirmation", "student_contact"


@dataclass
class AssessmentRow:
    institution: Institution
    product: str
    loans: int = 0  # on the book at the end of D
    balance_cents: int = 0
    overdue_balance_cents: int = 0
    disbursed: int = 0  # loans disbursed in the year, by D
    disbursed_cents: int = 0
    repaid_cents: int = 0  # principal repaid by payments valued in the year
    in_repayment: int = 0  # on the book with an installment due by D
    defaulters: int = 0  # of them, in the default buckets on D (the rule's default_from_bucket)
    due_contact: int = 0  # on the book on D and since before the year: due a contact this year
    contacted: int = 0  # of them, reached by a contact or confirmed graduation in the year
    confirmations_due: int = 0  # graduation confirmations due in the year, by D
    confirmations_on_time: int = 0  # of them, registered by their due date
    status_changes: int = 0  # 学籍异动: confirmations of the year other than "graduated"
    subsidy_cents: int = 0  # 财政贴息 of in-school periods ending in the year
    grade: Grade | None = None
    suspend: bool = False  # 暂停发放: default rate and defaulters above the rule's limits

    @property
    def overdue_rate(self) -> Decimal | None:
        return rate(self.overdue_balance_cents, self.balance_cents)

    @property
    def default_rate(self) -> Decimal | None:
        return rate(self.defaulters, self.in_repayment)

    @property
    def contact_coverage(self) -> Decimal | None:
        return rate(self.contacted, self.due_contact)

    @property
    def confirmation_on_time(self) -> Decimal | None:
        return rate(self.confirmations_on_time, self.confirmations_due)


def grade_of(row: AssessmentRow, rule: Assessment) -> Grade:
    """The first grade whose every limit holds; a measure with nothing to measure holds."""

    def holds(value: Decimal | None, limit: Decimal | None, most: bool) -> bool:
        if value is None or limit is None:
            return True
        return value <= limit if most else value >= limit

    for grade in rule.grades:
        if (
            holds(row.overdue_rate, grade.max_overdue_rate, True)
            and holds(row.contact_coverage, grade.min_contact_coverage, False)
            and holds(row.confirmation_on_time, grade.min_confirmation_on_time, False)
        ):
            return grade
    return rule.fallback


def institution_assessment(
    session: Session,
    *,
    on: date,
    org_paths: Sequence[str] | None,
    settings: Settings | None = None,
) -> list[AssessmentRow]:
    settings = settings or get_settings()
    first = date(on.year, 1, 1)
    book, students = student_book(on, org_paths, "now"), student_loans(org_paths)
    counts: dict[Key, dict[str, int]] = {}

    def add(i: int, p: str, name: str, value: int | None) -> None:
        figures = counts.setdefault((i, p), {})
        figures[name] = figures.get(name, 0) + int(value or 0)

    run = session.connection().execute
    billed = exists().where(INSTALLMENTS.c.loan_id == book.c.loan_id, INSTALLMENTS.c.due_date <= on)
    since_before = book.c.disbursement_date < first
    for i, p, bucket, repaying, old, n, balance in run(
        select(book.c.institution_id, book.c.product, book.c.bucket, billed, since_before,
               func.count(), func.coalesce(func.sum(book.c.balance_cents), 0))
        .group_by(book.c.institution_id, book.c.product, book.c.bucket, billed, since_before)
    ):  # fmt: skip
        add(i, p, "loans", n)
        add(i, p, "balance_cents", balance)
        add(i, p, "overdue_balance_cents", balance if bucket else 0)
        add(i, p, "in_repayment", n if repaying else 0)
        add(i, p, "due_contact", n if old else 0)
        rule = rules_for(p)
        if repaying and bucket and rule and _defaults(bucket, rule.assessment):
            add(i, p, "defaulters", n)
    reached = TASKS.c.result["reached"].as_boolean()
    contacted = exists().where(
        TASKS.c.loan_id == book.c.loan_id,
        or_(TASKS.c.kind == CONFIRMATION, and_(TASKS.c.kind == CONTACT, reached.is_(True))),
        completed_between(first, on, settings),
    )
    for i, p, n in run(
        select(book.c.institution_id, book.c.product, func.count(distinct(book.c.loan_id)))
        .where(since_before, contacted).group_by(book.c.institution_id, book.c.product)
    ):  # fmt: skip
        add(i, p, "contacted", n)
    _confirmations(session, students, first, on, settings, add)
    for i, p, n, cents in run(
        select(students.c.institution_id, students.c.product, func.count(),
               func.sum(students.c.principal_cents))
        .where(students.c.disbursement_date.between(first, on), students.c.booked_on <= on)
        .group_by(students.c.institution_id, students.c.product)
    ):  # fmt: skip
        add(i, p, "disbursed", n)
        add(i, p, "disbursed_cents", cents)
    for i, p, cents in run(
        select(students.c.institution_id, students.c.product,
               func.sum(PAYMENTS.c.principal_applied_cents))
        .select_from(PAYMENTS.join(students, students.c.loan_id == PAYMENTS.c.loan_id))
        .where(PAYMENTS.c.allocated.is_(True), PAYMENTS.c.value_date.between(first, on))
        .group_by(students.c.institution_id, students.c.product)
    ):  # fmt: skip
        add(i, p, "repaid_cents", cents)
    subsidy = subsidy_between(students, first, on).subquery()
    for i, p, cents in run(
        select(subsidy.c.institution_id, subsidy.c.product, func.sum(subsidy.c.interest_cents))
        .group_by(subsidy.c.institution_id, subsidy.c.product)
    ):  # fmt: skip
        add(i, p, "subsidy_cents", cents)
    return _graded(session, counts)


def _defaults(bucket: str, rule: Assessment) -> bool:
    names = bucket_names()
    start = names.index(rule.default_from_bucket) if rule.default_from_bucket in names else 0
    return bucket in names[start:]


def _confirmations(
    session: Session,
    students: Any,
    first: date,
    on: date,
    settings: Settings,
    add: Callable[[int, str, str, int | None], None],
) -> None:
    """Graduation confirmations due in [first, on] and still needed on `on`, on time when
    registered by their due date; and the year's registered ones that were not "graduated"."""
    registered = registration_date(session, TASKS.c.completed_at, settings)
    done_on_time = and_(TASKS.c.state == TaskState.completed.value, registered <= TASKS.c.due_date,
                        registered <= on)  # fmt: skip
    ended = and_(TASKS.c.state.in_(ENDED), _journaled(ENDING_EVENTS, on))
    join = TASKS.join(students, students.c.loan_id == TASKS.c.loan_id)
    for i, p, due, on_time in session.connection().execute(
        select(students.c.institution_id, students.c.product, func.count(),
               func.sum(case((done_on_time, 1), else_=0)))
        .select_from(join)
        .where(TASKS.c.kind == CONFIRMATION, TASKS.c.due_date.between(first, on),
               _journaled(("open",), on), ~ended)
        .group_by(students.c.institution_id, students.c.product)
    ):  # fmt: skip
        add(i, p, "confirmations_due", due)
        add(i, p, "confirmations_on_time", on_time)
    status = TASKS.c.result["status"].as_string()
    for i, p, n in session.connection().execute(
        select(students.c.institution_id, students.c.product, func.count())
        .select_from(join)
        .where(TASKS.c.kind == CONFIRMATION, completed_between(first, on, settings),
               status != "graduated")
        .group_by(students.c.institution_id, students.c.product)
    ):  # fmt: skip
        add(i, p, "status_changes", n)


def _graded(session: Session, counts: dict[Key, dict[str, int]]) -> list[AssessmentRow]:
    names = institutions(session, {i for i, _ in counts})
    out = []
    for (i, p), figures in counts.items():
        row = AssessmentRow(names[i], p)
        for name, value in figures.items():
            setattr(row, name, value)
        rule = rules_for(p)
        if rule is not None:
            a = rule.assessment
            row.grade = grade_of(row, a)
            row.suspend = (row.default_rate or 0) > a.suspend_above_default_rate and (
                row.defaulters > a.suspend_above_defaulters
            )
        out.append(row)
    return sorted(out, key=lambda r: (r.institution.code, r.product))
