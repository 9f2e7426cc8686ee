"""Inspection figures the bank is assessed on (DOMAIN §4), as of any past date D: late inspections
per branch and account manager by the registration date (分行以登记日期作为上报日期考核, 000), and
the annual on-site coverage per branch against its goal (≥ 50 %, 贷款后管理办法).

As of D means from facts later work cannot rewrite: a task's due date, its completion time (set
once; completed is final), the journal's business dates of its opening, cancellation or expiry,
the branch and the first named candidate copied onto the task when it was opened. Never the
current state: a task open and late on D that is completed on D+3 was still open and late on D.
Imports no web or Prefect library."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy import String, and_, case, cast, distinct, exists, func, or_
from sqlmodel import Session, col, select

from audit.journal import JournalEntry
from core.db import subtree
from core.identity import OrgUnit, User
from core.settings import Settings, get_settings
from loans.book import LOAN
from loans.models import Loan
from statemachines.enums import TaskState
from tasks.inspection_reports import CLOSED, INSPECTION_KINDS, registration_date
from tasks.journaling import TASK
from tasks.models import HumanTask

ENDED = (TaskState.cancelled.value, TaskState.expired.value)  # no longer needed: not counted
ENDING_EVENTS = ("cancel", "expire")
ONSITE_KINDS = ("customer_visit",)  # 二人实地检查 with photos (000 §1.2); 现场回访 is one too
_TASKS = HumanTask.__table__  # type: ignore[attr-defined]


def rate(part: int, whole: int) -> Decimal | None:
    """A share to 4 places (0.1234 = 12.34 %); None when there is nothing to divide by."""
    if not whole:
        return None
    return (Decimal(part) / Decimal(whole)).quantize(Decimal("0.0001"), ROUND_HALF_UP)


def in_scope(column: Any, org_paths: Sequence[str] | None) -> Any:
    """`column` (an org path) lies in one of the subtrees; None: everything (auditors)."""
    if org_paths is None:
        return sa.true()
    return or_(*(subtree(column, p) for p in org_paths)) if org_paths else sa.false()


def first_candidate() -> Any:
    """The account manager a task was opened for: its named candidate, or — once the SLA ladder
    escalated it to a head (tasks/escalation.py) — the one it was escalated from."""
    escalated_from = _TASKS.c.context[("escalated_from", "user_id")].as_integer()
    return func.coalesce(escalated_from, col(HumanTask.candidate_user_id))


def day_start_utc(day: date, settings: Settings) -> datetime:
    """The first instant of a business day (bank time zone), in UTC."""
    return datetime.combine(day, time(), settings.tz).astimezone(UTC)


def _journaled(events: Sequence[str], on: date) -> Any:
    """The task's journal has one of `events` on a business date up to `on` (a task's chain is
    a few entries, found by the chain's index)."""
    return exists().where(
        col(JournalEntry.aggregate_type) == TASK,
        col(JournalEntry.aggregate_id) == cast(col(HumanTask.id), String),
        col(JournalEntry.event).in_(list(events)),
        col(JournalEntry.business_date) <= on,
    )


@dataclass(frozen=True)
class LateRow:
    """One branch (manager None: the branch's total) or one account manager in it."""

    branch: str  # org unit code
    branch_name: str
    manager: str | None  # username; "" for tasks opened for a role, not a person
    manager_name: str | None
    due: int  # fell due in the period and still needed on D
    on_time: int  # registered by the due date
    late: int  # registered after the due date, by D
    open_late: int  # not registered by D, due before D
    pending: int  # due on D itself and not yet registered: not late yet
    late_registered: int  # registered in the period after its due date, whenever it was due

    @property
    def late_rate(self) -> Decimal | None:
        return rate(self.late + self.open_late, self.due)

    @property
    def on_time_rate(self) -> Decimal | None:
        return rate(self.on_time, self.due)


def late_inspections(
    session: Session,
    *,
    on: date,
    start: date,
    org_paths: Sequence[str] | None = None,
    kinds: Sequence[str] = INSPECTION_KINDS,
    settings: Settings | None = None,
) -> list[LateRow]:
    """Inspections due in [start, on] per branch and account manager as they stood on `on`, each
    branch's total row first. Late means registered (the completion's business date in bank
    time) after the due date, or not registered at all by `on`."""
    settings = settings or get_settings()
    registered = registration_date(session, col(HumanTask.completed_at), settings)
    done = and_(col(HumanTask.state) == TaskState.completed.value, registered <= on)
    ended = and_(col(HumanTask.state).in_(ENDED), _journaled(ENDING_EVENTS, on))
    due_in = and_(col(HumanTask.due_date).between(start, on), _journaled(("open",), on), ~ended)
    manager = first_candidate().label("manager_id")
    sums = [
        func.sum(case((due_in, 1), else_=0)),
        func.sum(case((and_(due_in, done, registered <= col(HumanTask.due_date)), 1), else_=0)),
        func.sum(case((and_(due_in, done, registered > col(HumanTask.due_date)), 1), else_=0)),
        func.sum(case((and_(due_in, ~done, col(HumanTask.due_date) < on), 1), else_=0)),
        func.sum(case((and_(due_in, ~done, col(HumanTask.due_date) == on), 1), else_=0)),
        func.sum(
            case(
                (and_(done, registered >= start, registered > col(HumanTask.due_date)), 1),
                else_=0,
            )
        ),
    ]
    # completions registered in the period are read by their (indexed) completion time
    registered_in = and_(
        col(HumanTask.state) == TaskState.completed.value,
        col(HumanTask.completed_at) >= day_start_utc(start, settings),
        col(HumanTask.completed_at) < day_start_utc(on + timedelta(days=1), settings),
    )
    grouped = (
        sa.select(col(HumanTask.branch_path), manager, *sums)
        .where(
            col(HumanTask.kind).in_(list(kinds)),
            in_scope(col(HumanTask.branch_path), org_paths),
            or_(col(HumanTask.due_date).between(start, on), registered_in),
        )
        .group_by(col(HumanTask.branch_path), manager)
        .subquery()
    )
    rows = session.connection().execute(
        sa.select(
            col(OrgUnit.code),
            col(OrgUnit.name),
            col(User.username),
            col(User.full_name),
            *list(grouped.c)[2:],
        )
        .select_from(grouped)
        .join(OrgUnit, col(OrgUnit.path) == grouped.c.branch_path)
        .outerjoin(User, col(User.id) == grouped.c.manager_id)
    )
    by_branch: dict[str, list[LateRow]] = {}
    for code, name, username, full_name, *counts in rows:
        numbers = [int(n or 0) for n in counts]
        if any(numbers):
            row = LateRow(code, name, username or "", full_name, *numbers)
            by_branch.setdefault(code, []).append(row)
    out: list[LateRow] = []
    for code in sorted(by_branch):
        people = sorted(by_branch[code], key=lambda r: r.manager or "")
        first = people[0]
        totals = [sum(getattr(r, f) for r in people) for f in _COUNTS]
        out.append(LateRow(code, first.branch_name, None, None, *totals))
        out.extend(people)
    return out


_COUNTS = ("due", "on_time", "late", "open_late", "pending", "late_registered")


@dataclass(frozen=True)
class CoverageRow:
    branch: str  # org unit code
    branch_name: str
    borrowers: int  # with a loan on the book during the year up to D
    visited: int  # of them, visited on site (a customer visit registered in the year, by D)
    goal: Decimal  # the setting annual_onsite_coverage_min (0.50)

    @property
    def share(self) -> Decimal | None:
        return rate(self.visited, self.borrowers)

    @property
    def meets_goal(self) -> bool:
        return self.borrowers > 0 and Decimal(self.visited) >= self.goal * self.borrowers

    @property
    def still_to_visit(self) -> int:
        """Borrowers still to visit this year to reach the goal."""
        needed = (self.goal * self.borrowers).to_integral_value(rounding="ROUND_CEILING")
        return max(0, int(needed) - self.visited)


def onsite_coverage(
    session: Session,
    *,
    on: date,
    org_paths: Sequence[str] | None = None,
    settings: Settings | None = None,
) -> list[CoverageRow]:
    """Share of each branch's borrowers visited on site at least once in the calendar year up to
    `on`, against the goal (≥ 50 % of borrowers a year, 贷款后管理办法: DOMAIN §4 counts
    borrowers, not loans). A borrower is on the branch's book when one of its loans of the
    branch was disbursed by `on` and not settled or written off before the year began (the
    closing date read from the loan's journal)."""
    settings = settings or get_settings()
    goal = Decimal(settings.annual_onsite_coverage_min)
    first = date(on.year, 1, 1)
    closed_before = exists().where(
        col(JournalEntry.aggregate_type) == LOAN,
        col(JournalEntry.aggregate_id) == col(Loan.loan_no),
        col(JournalEntry.to_state).in_(CLOSED),
        col(JournalEntry.business_date) < first,
    )
    visits = (
        select(Loan.borrower_id)
        .join(HumanTask, col(HumanTask.loan_id) == col(Loan.id))
        .where(
            col(HumanTask.kind).in_(ONSITE_KINDS),
            col(HumanTask.state) == TaskState.completed.value,
            # UTC bounds: SQLite keeps UTC text, Postgres compares timestamptz
            col(HumanTask.completed_at) >= day_start_utc(first, settings),
            col(HumanTask.completed_at) < day_start_utc(on + timedelta(days=1), settings),
        )
    )
    on_book = (
        col(Loan.disbursement_date) <= on,
        in_scope(col(OrgUnit.path), org_paths),
        ~closed_before,
    )
    borrower = col(Loan.borrower_id)
    query = (
        select(
            OrgUnit.code,
            OrgUnit.name,
            func.count(distinct(borrower)),
            func.count(distinct(case((borrower.in_(visits), borrower)))),
        )
        .select_from(Loan)
        .join(OrgUnit, col(OrgUnit.id) == col(Loan.branch_id))
        .where(*on_book)
        .group_by(col(OrgUnit.code), col(OrgUnit.name))
        .order_by(col(OrgUnit.code))
    )
    return [
        CoverageRow(code, name, int(total), int(seen), goal)
        for code, name, total, seen in session.exec(query).all()
    ]
