"""Reports on scheduled work the bank is assessed on: late inspections by branch, manager and kind
(by the registration date, 登记日期考核, 000) and the annual on-site coverage per branch (≥ 50 %,
贷款后管理办法)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Date, and_, case, cast, distinct, func, or_
from sqlmodel import Session, col, select

from core.identity import OrgUnit, User
from core.settings import Settings, get_settings
from loans.models import Loan
from statemachines.enums import LoanState, TaskState
from tasks.models import HumanTask

CLOSED = (LoanState.settled.value, LoanState.written_off.value)  # no more post-loan work
# The kinds the late report and the bank's assessment look at (登记日期考核, 000).
INSPECTION_KINDS = ("first_usage_check", "loan_card_check", "customer_visit", "phone_follow_up")


def registration_date(session: Session, column: Any, settings: Settings) -> Any:
    """登记日期: the business date (bank time zone) of a stored UTC timestamp, in SQL.

    SQLite keeps timestamps as UTC text (the clocks of core.clock give UTC), so it shifts by the
    zone's offset; Asia/Shanghai has had no daylight saving since 1991, so the offset is fixed.
    """
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.timezone(settings.timezone, column), Date)
    offset = datetime(2000, 1, 1, tzinfo=settings.tz).utcoffset() or timedelta()
    return func.date(column, f"{int(offset.total_seconds()) // 60:+d} minutes")


@dataclass(frozen=True)
class LateRow:
    branch: str  # org unit code
    manager: str | None  # username of the responsible account manager
    kind: str
    open_late: int  # still open after its due date
    completed_late: int  # registered after its due date
    completed_on_time: int


def late_inspections_report(
    session: Session,
    *,
    on: date,
    kinds: Sequence[str] = INSPECTION_KINDS,
    due_from: date | None = None,
    settings: Settings | None = None,
) -> list[LateRow]:
    """Late inspections per branch, account manager and kind, as of `on`. A task completed after
    its due date is late: the bank is assessed on the registration date (分行以登记日期作为上报日期
    考核, 000), the completion's business date in the bank's time zone."""
    settings = settings or get_settings()
    registered = registration_date(session, col(HumanTask.completed_at), settings)
    completed = col(HumanTask.state) == TaskState.completed.value
    active = col(HumanTask.state).in_([s.value for s in TaskState if s.is_active])
    late = and_(completed, registered > col(HumanTask.due_date))
    counts = [
        func.sum(case((and_(active, col(HumanTask.due_date) < on), 1), else_=0)),
        func.sum(case((and_(late, registered <= on), 1), else_=0)),
        func.sum(case((and_(completed, ~late, registered <= on), 1), else_=0)),
    ]
    # Work that fell due before `on`, and work registered by `on` (early completions are on time).
    where = [
        col(HumanTask.kind).in_(list(kinds)),
        or_(col(HumanTask.due_date) < on, and_(completed, registered <= on)),
    ]
    if due_from is not None:
        where.append(col(HumanTask.due_date) >= due_from)
    rows = (
        session.connection()
        .execute(
            sa.select(col(OrgUnit.code), col(User.username), col(HumanTask.kind), *counts)
            .join(OrgUnit, col(OrgUnit.path) == col(HumanTask.branch_path))
            .outerjoin(User, col(User.id) == col(HumanTask.candidate_user_id))
            .where(*where)
            .group_by(col(OrgUnit.code), col(User.username), col(HumanTask.kind))
            .order_by(col(OrgUnit.code), col(User.username), col(HumanTask.kind))
        )
        .all()
    )
    return [
        LateRow(code, username, kind, int(a or 0), int(b or 0), int(c or 0))
        for code, username, kind, a, b, c in rows
        if a or b or c
    ]


@dataclass(frozen=True)
class CoverageRow:
    branch: str  # org unit code
    borrowers: int  # borrowers with a loan on the book during the year
    visited: int  # of them, visited on site (a completed customer_visit registered that year)
    share: Decimal
    meets_goal: bool  # share ≥ the goal (50 % by default)


def annual_onsite_coverage(
    session: Session, *, year: int, settings: Settings | None = None
) -> list[CoverageRow]:
    """Share of each branch's borrowers visited on site at least once in `year` (goal ≥ 50 %,
    贷款后管理办法). A loan is on the book during the year when disbursed by its end and open, or
    closed with a maturity inside it (the closing date itself lives in the journal)."""
    settings = settings or get_settings()
    goal = Decimal(settings.annual_onsite_coverage_min)
    first, last = date(year, 1, 1), date(year, 12, 31)
    on_book = and_(
        col(Loan.disbursement_date) <= last,
        or_(col(Loan.state).not_in(CLOSED), col(Loan.maturity_date) >= first),
    )
    start = datetime.combine(first, time(), settings.tz).astimezone(UTC)
    end = datetime.combine(date(year + 1, 1, 1), time(), settings.tz).astimezone(UTC)
    borrowers = col(Loan.borrower_id)
    base = (
        select(OrgUnit.code, func.count(distinct(borrowers)))
        .select_from(Loan)
        .join(OrgUnit, col(OrgUnit.id) == col(Loan.branch_id))
    )
    totals = dict(session.exec(base.where(on_book).group_by(col(OrgUnit.code))).all())
    visited = dict(
        session.exec(
            base.join(HumanTask, col(HumanTask.loan_id) == col(Loan.id))
            .where(
                on_book,
                col(HumanTask.kind) == "customer_visit",
                col(HumanTask.state) == TaskState.completed.value,
                # UTC bounds: SQLite keeps UTC text, Postgres compares timestamptz
                col(HumanTask.completed_at) >= start,
                col(HumanTask.completed_at) < end,
            )
            .group_by(col(OrgUnit.code))
        ).all()
    )
    rows = []
    for code, total in sorted(totals.items()):
        seen = int(visited.get(code, 0))
        share = (Decimal(seen) / Decimal(total)).quantize(Decimal("0.0001"))
        rows.append(CoverageRow(code, int(total), seen, share, share >= goal))
    return rows
