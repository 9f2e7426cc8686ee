"""Scheduled post-loan work (DOMAIN §4): which inspection tasks a business date opens, on the
business calendar, set-based and idempotent by key, one chunk of borrowers at a time; and the
cancellation of open ones a loan no longer needs (settled, written off, handed to disposal).
The periods are in tasks/periods.py, the loan rows in tasks/loan_rows.py, the reports in
reports/inspections.py. Imports no web or Prefect library."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from functools import cache
from itertools import groupby
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exists, or_
from sqlmodel import Session, col, select

from core.calendar import BusinessCalendar
from core.identity import OrgUnit
from core.settings import Settings, get_settings
from forms.visits import INSPECTORS_ON_SITE
from loans.models import Borrower, Loan
from loans.schedule import add_months
from statemachines.enums import LoanState, RiskClass, TaskState
from tasks import student_work
from tasks.bulk import CHUNK, TaskRow, existing_keys, open_tasks_bulk
from tasks.inspection_reports import CLOSED, INSPECTION_KINDS
from tasks.loan_rows import (
    LoanRow,
    amounts_by_loan,
    loan_row,
    loan_row_columns,
    needs_work,
    task_row,
)
from tasks.models import HumanTask
from tasks.periods import Period, current_period, dekad, half_month, monthly, quarterly
from tasks.service import cancel_as_system

TITLES = {
    "first_usage_check": "首次用途检查",
    "loan_card_check": "贷款卡检索",
    "customer_visit": "客户拜访",
    "phone_follow_up": "电话回访",
    "onsite_revisit": "现场回访",
}
# a scheduled task's key starts with its rule; the student-loan work is scheduled here too
RULES = (*TITLES, *student_work.RULES)
SCHEDULED_KINDS = (*INSPECTION_KINDS, *student_work.RULES)
# The credit-reference (loan card) check and the visit are of the borrower, whatever the number
# of its loans; the first usage check and intensive monitoring are per loan.
PER_BORROWER = ("loan_card_check", "customer_visit")
BORROWER_MARK = "borrower"  # in the key: {rule}:borrower:{customer_no}:{period}
EVERY_BORROWER = (0, 2**31 - 1)  # borrower ids are 32-bit integers


def borrower_key(rule: str, customer_no: str, period: str) -> str:
    return f"{rule}:{BORROWER_MARK}:{customer_no}:{period}"


def borrower_chunks(session: Session, on: date, size: int = 20_000) -> list[tuple[int, int]]:
    """Borrower id ranges of about `size` borrowers that have loans needing work on `on`: the
    scheduler's unit of work (like the sweep's chunks; a borrower's loans stay in one chunk)."""
    ids = session.exec(
        select(Loan.borrower_id).where(*needs_work(on)).distinct().order_by(col(Loan.borrower_id))
    ).all()
    return [(ids[i], ids[min(i + size, len(ids)) - 1]) for i in range(0, len(ids), size)]


def _open_loans(session: Session, on: date, lo: int, hi: int) -> list[LoanRow]:
    session.flush()  # the core queries below do not autoflush
    where = (
        *needs_work(on),
        col(Loan.borrower_id).between(lo, hi),
        col(Loan.product).not_in(student_work.standard_inspections_skip()),
    )
    query = (
        sa.select(*loan_row_columns())
        .join(Borrower, col(Borrower.id) == col(Loan.borrower_id))
        .join(OrgUnit, col(OrgUnit.id) == col(Loan.branch_id))
        .where(*where)
        .order_by(col(Loan.borrower_id), col(Loan.loan_no))
    )
    rows = session.connection().execute(query).all()
    amounts = amounts_by_loan(session, select(Loan.id).where(*where), on)
    return [loan_row(row, amounts, on) for row in rows]


def _monthly_visit_reason(loans: Sequence[LoanRow]) -> str | None:
    """Why a borrower is visited monthly rather than quarterly (000 §1.2), or None."""
    if any(loan.is_key_client for loan in loans):
        return "key_client"  # 重点客户
    if any(RiskClass(loan.risk_class).rank >= RiskClass.special_mention.rank for loan in loans):
        return "risk_class"  # a loan 关注 or worse
    if any(loan.state == LoanState.watched.value for loan in loans):
        return "watch_list"  # on the 关注 list though not yet reclassified
    return None


def _borrower_row(loans: Sequence[LoanRow]) -> LoanRow:
    """The borrower as one task's subject: the task goes to the manager of its largest loan and
    shows the borrower's total exposure, worst class and worst bucket."""
    lead = max(loans, key=lambda loan: (loan.exposure_cents, loan.loan_no))
    worst = max(loans, key=lambda loan: RiskClass(loan.risk_class).rank)
    oldest = max(loans, key=lambda loan: loan.days_past_due)
    return replace(
        lead,
        exposure_cents=sum(loan.exposure_cents for loan in loans),
        risk_class=worst.risk_class,
        bucket=oldest.bucket,
        days_past_due=oldest.days_past_due,
    )


@dataclass(frozen=True)
class _Periods:
    """The current periods of a business date: computed once per run, not per loan."""

    month: Period
    quarter: Period
    dekad: Period
    half: Period

    @classmethod
    def on(cls, calendar: BusinessCalendar, day: date) -> _Periods:
        return cls(
            current_period(monthly, calendar, day),
            current_period(quarterly, calendar, day),
            current_period(dekad, calendar, day),
            current_period(half_month, calendar, day),
        )


def _loan_rows(
    loan: LoanRow,
    on: date,
    periods: _Periods,
    first_usage_due: Callable[[date], date],
    intensive: bool,
) -> list[TaskRow]:
    rows: list[TaskRow] = []

    def add(rule: str, period: Period | None, due: date, kind: str = "", **context: Any) -> None:
        if period is not None and not period.is_open(on):
            return
        label = period.label if period else None
        suffix = f":{label}" if label else ""
        title = f"{TITLES[rule]} {label}" if label else TITLES[rule]
        context = {"period": label, **context} if label else context
        key = f"{rule}:{loan.loan_no}{suffix}"
        rows.append(
            task_row(loan, kind=kind or rule, key=key, title=title, due=due, context=context)
        )

    # 首次用途检查: within one month of disbursement; opened once, while it is not yet due.
    due = first_usage_due(loan.disbursement_date)
    if on <= due:
        add("first_usage_check", None, due, disbursement_date=loan.disbursement_date.isoformat())
    if intensive and loan.state == LoanState.watched.value:
        # Intensive monitoring (000 XX银行贷后管理流程): 电话回访 1次/10天, 现场回访 2次/月.
        slot, half = periods.dekad, periods.half
        add("phone_follow_up", slot, slot.deadline, intensive_monitoring=True)
        add(
            "onsite_revisit", half, half.deadline, kind="customer_visit",
            intensive_monitoring=True, checklist="onsite_revisit",
            inspectors_required=INSPECTORS_ON_SITE,
        )  # fmt: skip
    return rows


def _borrower_rows(loans: Sequence[LoanRow], on: date, periods: _Periods) -> list[TaskRow]:
    """The loan-card check (monthly) and the customer visit (monthly or quarterly) of one
    borrower. Periodic work applies to borrowers already on the book when its period opened; a
    loan disbursed since is covered by its first usage check until the next period."""
    subject = _borrower_row(loans)
    since = min(loan.disbursement_date for loan in loans)
    loan_nos = [loan.loan_no for loan in loans]
    rows: list[TaskRow] = []

    def add(rule: str, period: Period, **context: Any) -> None:
        if not period.is_open(on) or since >= period.opens:
            return
        title = f"{TITLES[rule]} {period.label}"
        if len(loans) > 1:
            title += f"（{len(loans)} 笔贷款）"
        context = {"period": period.label, "loans": loan_nos, **context}
        key = borrower_key(rule, subject.customer_no, period.label)
        rows.append(
            task_row(subject, kind=rule, key=key, title=title, due=period.deadline, context=context)
        )

    add("loan_card_check", periods.month)
    reason = _monthly_visit_reason(loans)
    add(
        "customer_visit", periods.month if reason else periods.quarter,
        cadence="monthly" if reason else "quarterly", reason=reason or "normal",
        inspectors_required=INSPECTORS_ON_SITE,  # 二人实地检查 (000 §1.2)
    )  # fmt: skip
    return rows


def plan_inspections(
    session: Session,
    *,
    on: date,
    calendar: BusinessCalendar,
    settings: Settings | None = None,
    intensive_monitoring: bool = False,
    borrowers: tuple[int, int] = EVERY_BORROWER,
) -> list[TaskRow]:
    """Every inspection task `on` calls for, for the loans needing work of the borrowers with ids
    in `borrowers` (existing keys included: opening is idempotent). Two queries: loans with
    borrowers and branches, one grouped amounts query."""
    settings = settings or get_settings()
    months = settings.first_usage_check_months

    @cache
    def first_usage_due(disbursed: date) -> date:  # many loans share a disbursement date
        return calendar.roll(add_months(disbursed, months), "previous")

    periods = _Periods.on(calendar, on)
    rows: list[TaskRow] = []
    loans = _open_loans(session, on, *borrowers)
    for _, group in groupby(loans, key=lambda loan: loan.borrower_id):
        of_borrower = list(group)
        for loan in of_borrower:
            rows += _loan_rows(loan, on, periods, first_usage_due, intensive_monitoring)
        rows += _borrower_rows(of_borrower, on, periods)
    return rows


def _covered_per_loan(session: Session, rows: Sequence[TaskRow]) -> set[str]:
    """Borrower rows whose period already has a per-loan task (keys written before checks were
    per borrower): the period is covered, not opened twice."""
    legacy: dict[str, str] = {}
    for row in rows:
        if f":{BORROWER_MARK}:" in row.key and row.context:
            rule, period = row.key.split(":", 1)[0], row.context["period"]
            for loan_no in row.context["loans"]:
                legacy[f"{rule}:{loan_no}:{period}"] = row.key
    found = existing_keys(session, list(legacy))
    return {legacy[key] for key in found}


@dataclass(frozen=True)
class InspectionResult:
    """Ids created, per rule (the key's prefix; `onsite_revisit` tasks are of kind
    customer_visit). `planned` counts the tasks due, created now or before; `cancelled` the open
    ones of loans that no longer need work."""

    planned: int
    created: dict[str, list[int]] = field(default_factory=dict)
    cancelled: int = 0


def created_by_rule(session: Session, ids: Sequence[int]) -> dict[str, list[int]]:
    by_rule: dict[str, list[int]] = {}
    for start in range(0, len(ids), CHUNK):
        part = list(ids[start : start + CHUNK])
        rows = session.exec(select(HumanTask.id, HumanTask.key).where(col(HumanTask.id).in_(part)))
        for task_id, key in rows:
            by_rule.setdefault(key.split(":", 1)[0], []).append(int(task_id or 0))
    return {rule: sorted(found) for rule, found in sorted(by_rule.items())}


_NO_MORE_WORK = {
    LoanState.settled.value: "贷款已结清，不再需要贷后检查 (the loan is settled: no more checks)",
    LoanState.written_off.value: "贷款已核销，不再需要贷后检查 (the loan is written off: no more "
    "checks)",
}
_HANDED_OVER = "贷款已移交资产处置，不再需要贷后检查 (the loan was handed to asset disposal)"


def cancel_unneeded_inspections(
    session: Session,
    *,
    on: date,
    actor: str,
    now: datetime,
    borrowers: tuple[int, int] = EVERY_BORROWER,
) -> int:
    """Cancel, with the reason, the open scheduled checks of loans that are settled, written off
    or handed to asset disposal; a borrower's check stays while another of its loans needs work.
    Returns the number cancelled."""
    loan, other = Loan.__table__.alias("l"), Loan.__table__.alias("o")  # type: ignore[attr-defined]
    still_needed = exists().where(
        other.c.borrower_id == loan.c.borrower_id,
        other.c.state.not_in(CLOSED),
        other.c.handed_over.is_(False),
    )
    tasks = HumanTask.__table__  # type: ignore[attr-defined]
    found = session.connection().execute(
        sa.select(tasks.c.id, tasks.c.key, loan.c.state, loan.c.handed_over, still_needed)
        .join(loan, loan.c.id == tasks.c.loan_id)
        .where(
            tasks.c.state.in_([s.value for s in TaskState if s.is_active]),
            tasks.c.kind.in_([*SCHEDULED_KINDS]),
            or_(loan.c.state.in_(CLOSED), loan.c.handed_over.is_(True)),
            loan.c.borrower_id.between(*borrowers),
        )
        .order_by(tasks.c.id)
    )
    cancelled = 0
    for task_id, key, state, handed_over, needed in found.all():
        if key.split(":", 1)[0] not in RULES:
            continue  # not the scheduler's (a person's task on the loan)
        if f":{BORROWER_MARK}:" in key and needed:
            continue  # the borrower still has a loan that needs the check
        task = session.get(HumanTask, task_id)
        assert task is not None
        reason = _HANDED_OVER if handed_over else _NO_MORE_WORK[state]
        cancel_as_system(session, task, actor=actor, reason=reason, now=now, business_date=on)
        cancelled += 1
    return cancelled


def schedule_inspections(
    session: Session,
    *,
    on: date,
    calendar: BusinessCalendar,
    actor: str,
    now: datetime,
    settings: Settings | None = None,
    intensive_monitoring: bool = False,
    borrowers: tuple[int, int] = EVERY_BORROWER,
) -> InspectionResult:
    """Cancel what is no longer needed, then open what `plan_inspections` asks for in one bulk
    call, for one chunk of borrowers (all by default); re-running a date opens nothing."""
    cancelled = cancel_unneeded_inspections(
        session, on=on, actor=actor, now=now, borrowers=borrowers
    )
    rows = plan_inspections(
        session,
        on=on,
        calendar=calendar,
        settings=settings,
        intensive_monitoring=intensive_monitoring,
        borrowers=borrowers,
    )
    covered = _covered_per_loan(session, rows)
    rows = [row for row in rows if row.key not in covered]
    rows += student_work.plan_student_work(session, on=on, calendar=calendar, borrowers=borrowers)
    ids = open_tasks_bulk(session, rows, actor=actor, now=now, business_date=on)
    return InspectionResult(
        planned=len(rows), created=created_by_rule(session, ids), cancelled=cancelled
    )
