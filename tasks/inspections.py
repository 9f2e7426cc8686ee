"""Scheduled post-loan work (DOMAIN §4): which inspection tasks a business date opens, on the
business calendar, set-based and idempotent by key; and the late-work and on-site coverage
reports the bank is assessed on. Imports no web or Prefect library."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Date, and_, case, cast, distinct, func, or_
from sqlmodel import Session, col, select

from core.calendar import BusinessCalendar
from core.identity import OrgUnit, User
from core.settings import Settings, get_settings
from forms.visits import INSPECTORS_ON_SITE
from loans import aging
from loans.models import Borrower, Installment, Loan
from loans.schedule import add_months
from statemachines.enums import LoanState, RiskClass, TaskState
from tasks.bulk import CHUNK, TaskRow, open_tasks_bulk
from tasks.models import HumanTask

CLOSED = (LoanState.settled.value, LoanState.written_off.value)  # no more post-loan work
# The kinds the late report and the bank's assessment look at (登记日期考核, 000).
INSPECTION_KINDS = ("first_usage_check", "loan_card_check", "customer_visit", "phone_follow_up")
TITLES = {
    "first_usage_check": "首次用途检查",
    "loan_card_check": "贷款卡检索",
    "customer_visit": "客户拜访",
    "phone_follow_up": "电话回访",
    "onsite_revisit": "现场回访",
}
FIRST_USAGE_CHECK_MONTHS = 1  # within one month of disbursement (004 §三/四)
ONSITE_COVERAGE_GOAL = "0.50"  # ≥ 50 % of borrowers visited on site each year (贷款后管理办法)


@dataclass(frozen=True)
class Period:
    """One occurrence of a recurring check; `label` goes into the task key. Work for it is open
    from `opens` (the day after the previous period's deadline) to `deadline`."""

    label: str
    start: date
    end: date
    deadline: date
    opens: date = date.min  # set by current_period


def _month_end(day: date) -> date:
    return add_months(day.replace(day=1), 1) - timedelta(days=1)


def _last_business_day(calendar: BusinessCalendar, start: date, end: date) -> date:
    day = calendar.roll(end, "previous")
    return day if day >= start else calendar.roll(end, "next")  # a slot that is all holiday


def monthly(calendar: BusinessCalendar, day: date) -> Period:
    """By the 20th of the month (rolled per the calendar: to the previous business day)."""
    deadline = calendar.deadline_by_day_of_month(day.year, day.month)
    return Period(f"{day:%Y-%m}", day.replace(day=1), _month_end(day), deadline)


def quarterly(calendar: BusinessCalendar, day: date) -> Period:
    """By the 20th of the month after the quarter's end (客户拜访, 000 §1.2)."""
    start = date(day.year, (day.month - 1) // 3 * 3 + 1, 1)
    label = f"{day.year}Q{(day.month - 1) // 3 + 1}"
    return Period(label, start, calendar.quarter_end(day), calendar.quarterly_deadline(day))


def dekad(calendar: BusinessCalendar, day: date) -> Period:
    """旬: the 1st–10th, 11th–20th, 21st–end (电话回访 "本旬销售", 000), due its last business day."""
    start = day.replace(day=min((day.day - 1) // 10, 2) * 10 + 1)
    end = _month_end(day) if start.day == 21 else start + timedelta(days=9)
    return Period(start.isoformat(), start, end, _last_business_day(calendar, start, end))


def half_month(calendar: BusinessCalendar, day: date) -> Period:
    """The 1st–15th and the 16th–end (现场回访 2次/月, 000), due its last business day."""
    half = 1 if day.day <= 15 else 2
    start = day.replace(day=1 if half == 1 else 16)
    end = day.replace(day=15) if half == 1 else _month_end(day)
    return Period(f"{day:%Y-%m}-{half}", start, end, _last_business_day(calendar, start, end))


Cadence = Callable[[BusinessCalendar, date], Period]


def current_period(cadence: Cadence, calendar: BusinessCalendar, on: date) -> Period:
    """The period whose deadline is the next one on or after `on`.

    The scheduler runs daily: the day after a period's deadline it opens the next period's work
    (so by the 1st of a month that month's checks are open); keys make re-runs no-ops. After an
    outage, run it for the missed dates: what they open is born late, and the late report shows it.
    """
    period = cadence(calendar, cadence(calendar, on).start - timedelta(days=1))
    previous = cadence(calendar, period.start - timedelta(days=1))
    while period.deadline < on:
        previous, period = period, cadence(calendar, period.end + timedelta(days=1))
    return replace(period, opens=previous.deadline + timedelta(days=1))


@dataclass(frozen=True)
class LoanFacts:
    """What the rules need of one open loan (read in one query, no ORM objects)."""

    loan_id: int
    loan_no: str
    product: str
    branch_id: int
    branch_path: str
    account_manager_id: int
    disbursement_date: date
    state: str
    risk_class: str
    borrower_name: str
    is_key_client: bool
    exposure_cents: int = 0
    bucket: str | None = None


_FACT_NAMES = (
    "loan_id", "loan_no", "product", "branch_id", "branch_path", "account_manager_id",
    "disbursement_date", "state", "risk_class", "borrower_name", "is_key_client",
)  # fmt: skip


def loan_fact_columns() -> list[Any]:
    """The labelled columns a `LoanFacts` is built from (join Borrower and the branch OrgUnit)."""
    return [
        col(Loan.id).label("loan_id"),
        col(Loan.loan_no).label("loan_no"),
        col(Loan.product).label("product"),
        col(Loan.branch_id).label("branch_id"),
        col(OrgUnit.path).label("branch_path"),
        col(Loan.account_manager_id).label("account_manager_id"),
        col(Loan.disbursement_date).label("disbursement_date"),
        col(Loan.state).label("state"),
        col(Loan.risk_class).label("risk_class"),
        col(Borrower.name).label("borrower_name"),
        col(Borrower.is_key_client).label("is_key_client"),
    ]


def loan_facts(row: Any, amounts: dict[int, tuple[int, int, date | None]], on: date) -> LoanFacts:
    """A `LoanFacts` from a row with `loan_fact_columns()` and the loan's grouped amounts."""
    principal, _interest, oldest_unpaid = amounts.get(row.loan_id, (0, 0, None))
    dpd = (on - oldest_unpaid).days if oldest_unpaid else 0
    values = {name: row._mapping[name] for name in _FACT_NAMES}
    values.update(state=str(row.state), risk_class=str(row.risk_class))
    return LoanFacts(**values, exposure_cents=principal, bucket=aging.bucket_for(dpd))


def _open_loans(session: Session, on: date) -> list[LoanFacts]:
    session.flush()  # the core queries below do not autoflush
    where = (col(Loan.state).not_in(CLOSED), col(Loan.disbursement_date) <= on)
    query = (
        sa.select(*loan_fact_columns())
        .join(Borrower, col(Borrower.id) == col(Loan.borrower_id))
        .join(OrgUnit, col(OrgUnit.id) == col(Loan.branch_id))
        .where(*where)
        .order_by(col(Loan.loan_no))
    )
    rows = session.connection().execute(query).all()
    amounts = amounts_by_loan(session, select(Loan.id).where(*where), on)
    return [loan_facts(row, amounts, on) for row in rows]


def amounts_by_loan(
    session: Session, loan_ids: Any, on: date
) -> dict[int, tuple[int, int, date | None]]:
    """Per loan, in ONE grouped query over installments: outstanding principal, interest due by
    `on` and unpaid, and the oldest installment due before `on` not paid off by then (for days
    past due, as `loans.aging.days_past_due` counts them)."""
    unpaid_by_on = and_(
        col(Installment.due_date) < on,
        or_(col(Installment.paid_off_on).is_(None), col(Installment.paid_off_on) > on),
    )
    rows = session.exec(
        select(
            Installment.loan_id,
            func.sum(col(Installment.principal_due_cents) - col(Installment.principal_paid_cents)),
            func.sum(
                case(
                    (
                        col(Installment.due_date) <= on,
                        col(Installment.interest_due_cents) - col(Installment.interest_paid_cents),
                    ),
                    else_=0,
                )
            ),
            func.min(case((unpaid_by_on, col(Installment.due_date)))),
        )
        .where(col(Installment.loan_id).in_(loan_ids))
        .group_by(col(Installment.loan_id))
    ).all()
    return {
        int(loan_id): (int(principal or 0), int(interest or 0), _as_date(oldest))
        for loan_id, principal, interest, oldest in rows
    }


def _as_date(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value))  # SQLite returns MIN() over a date column as text


def task_row(
    loan: LoanFacts, *, kind: str, key: str, title: str, due: date, context: dict[str, Any]
) -> TaskRow:
    """A task for the loan's account manager (调查谁经办、管理谁负责), business columns copied."""
    return TaskRow(
        kind=kind,
        key=key,
        title=f"{title} · {loan.loan_no} {loan.borrower_name}"[:300],
        due_date=due,
        candidate_org_unit_id=loan.branch_id,
        candidate_org_path=loan.branch_path,
        branch_path=loan.branch_path,
        candidate_user_id=loan.account_manager_id,
        branch_id=loan.branch_id,
        loan_id=loan.loan_id,
        loan_no=loan.loan_no,
        borrower_name=loan.borrower_name,
        product=loan.product,
        bucket=loan.bucket,
        risk_class=loan.risk_class,
        exposure_cents=loan.exposure_cents,
        context=context,
    )


def _monthly_visit_reason(loan: LoanFacts) -> str | None:
    """Why a loan is visited monthly rather than quarterly (000 §1.2), or None."""
    if loan.is_key_client:
        return "key_client"  # 重点客户
    if RiskClass(loan.risk_class).rank >= RiskClass.special_mention.rank:
        return "risk_class"  # 关注 or worse
    if loan.state == LoanState.watched.value:
        return "watch_list"  # on the 关注 list though not yet reclassified
    return None


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


def _rule_rows(
    loan: LoanFacts,
    on: date,
    periods: _Periods,
    first_usage_due: Callable[[date], date],
    intensive: bool,
) -> list[TaskRow]:
    rows: list[TaskRow] = []

    def add(rule: str, period: str | None, due: date, kind: str = "", **context: Any) -> None:
        suffix = f":{period}" if period else ""
        title = f"{TITLES[rule]} {period}" if period else TITLES[rule]
        context = {"period": period, **context} if period else context
        key = f"{rule}:{loan.loan_no}{suffix}"
        rows.append(
            task_row(loan, kind=kind or rule, key=key, title=title, due=due, context=context)
        )

    # 首次用途检查: within one month of disbursement; opened once, while it is not yet due.
    due = first_usage_due(loan.disbursement_date)
    if on <= due:
        add("first_usage_check", None, due, disbursement_date=loan.disbursement_date.isoformat())
    # Periodic work applies to loans already on the book when its period opened; a loan disbursed
    # since is covered by its first usage check until the next period.
    month = periods.month
    if loan.disbursement_date < month.opens:
        add("loan_card_check", month.label, month.deadline)
    reason = _monthly_visit_reason(loan)
    visit = month if reason else periods.quarter
    if loan.disbursement_date < visit.opens:
        add(
            "customer_visit", visit.label, visit.deadline,
            cadence="monthly" if reason else "quarterly", reason=reason or "normal",
            inspectors_required=INSPECTORS_ON_SITE,  # 二人实地检查 (000 §1.2)
        )  # fmt: skip
    if intensive and loan.state == LoanState.watched.value:
        # Intensive monitoring (000 XX银行贷后管理流程): 电话回访 1次/10天, 现场回访 2次/月.
        slot, half = periods.dekad, periods.half
        add("phone_follow_up", slot.label, slot.deadline, intensive_monitoring=True)
        add(
            "onsite_revisit", half.label, half.deadline, kind="customer_visit",
            intensive_monitoring=True, checklist="onsite_revisit",
            inspectors_required=INSPECTORS_ON_SITE,
        )  # fmt: skip
    return rows


def plan_inspections(
    session: Session,
    *,
    on: date,
    calendar: BusinessCalendar,
    settings: Settings | None = None,
    intensive_monitoring: bool = False,
) -> list[TaskRow]:
    """Every inspection task `on` calls for, for every open loan (existing keys included: opening
    is idempotent). Two queries: loans with borrowers and branches, one grouped amounts query."""
    settings = settings or get_settings()
    months = int(getattr(settings, "first_usage_check_months", FIRST_USAGE_CHECK_MONTHS))

    @cache
    def first_usage_due(disbursed: date) -> date:  # many loans share a disbursement date
        return calendar.roll(add_months(disbursed, months), "previous")

    periods = _Periods.on(calendar, on)
    return [
        row
        for loan in _open_loans(session, on)
        for row in _rule_rows(loan, on, periods, first_usage_due, intensive_monitoring)
    ]


@dataclass(frozen=True)
class InspectionResult:
    """Ids created, per rule (the key's prefix; `onsite_revisit` tasks are of kind
    customer_visit). `planned` counts the tasks due, created now or before."""

    planned: int
    created: dict[str, list[int]] = field(default_factory=dict)


def created_by_rule(session: Session, ids: Sequence[int]) -> dict[str, list[int]]:
    by_rule: dict[str, list[int]] = {}
    for start in range(0, len(ids), CHUNK):
        part = list(ids[start : start + CHUNK])
        rows = session.exec(select(HumanTask.id, HumanTask.key).where(col(HumanTask.id).in_(part)))
        for task_id, key in rows:
            by_rule.setdefault(key.split(":", 1)[0], []).append(int(task_id or 0))
    return {rule: sorted(found) for rule, found in sorted(by_rule.items())}


def schedule_inspections(
    session: Session,
    *,
    on: date,
    calendar: BusinessCalendar,
    actor: str,
    now: datetime,
    settings: Settings | None = None,
    intensive_monitoring: bool = False,
) -> InspectionResult:
    """Open what `plan_inspections` asks for in one bulk call; re-running a date opens nothing."""
    rows = plan_inspections(
        session,
        on=on,
        calendar=calendar,
        settings=settings,
        intensive_monitoring=intensive_monitoring,
    )
    ids = open_tasks_bulk(session, rows, actor=actor, now=now, business_date=on)
    return InspectionResult(planned=len(rows), created=created_by_rule(session, ids))


# --- reports: late work (assessed on the registration date) and annual on-site coverage ---------


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
    goal = Decimal(str(getattr(settings, "annual_onsite_coverage_min", ONSITE_COVERAGE_GOAL)))
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
