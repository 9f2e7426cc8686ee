"""The portfolio report (资产质量报表) as of a business date D over the part of the bank the
reader sees: the five-tier distribution by count and balance and the NPL ratio, the overdue
matrix (buckets × product), and the classification migration matrix since a start date.
Roll rates and expected bad debt live in reports/roll_rates.py. Every figure is of the book on
D (reports/book_on.py), never of the loans' current columns. Imports no web or Prefect library."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import case, func, select
from sqlmodel import Session

from core.errors import ValidationError
from core.settings import Settings, get_settings
from loans.aging import bucket_names
from loans.balances import balance_column, principal_repaid_by
from loans.status_history import CLASSIFICATION, LIFECYCLE, on_day
from reports.book_on import LOANS, OFF_BOOK, book_on, scoped
from reports.inspections import rate
from reports.roll_rates import BadDebtRow, RollPeriod, expected_bad_debt, roll_rates
from reports.scope import check_report_date
from statemachines.enums import LoanState, RiskClass

CLASSES = [c.value for c in RiskClass]
NPL = [c.value for c in RiskClass if c.is_npl]


@dataclass
class Cell:
    count: int = 0
    balance_cents: int = 0

    def add(self, count: int, balance_cents: int) -> None:
        self.count += count
        self.balance_cents += balance_cents


@dataclass(frozen=True)
class TierRow:
    risk_class: str
    count: int
    balance_cents: int
    count_share: Decimal | None
    balance_share: Decimal | None


@dataclass(frozen=True)
class MigrationRow:
    """Loans in `from_class` at the start, by where they stood on D (a class, or off the book:
    settled / written off), counted with their balance at the start."""

    from_class: str
    cells: dict[str, Cell]
    total: Cell
    downgraded: Cell  # moved to a worse class, or written off
    downgrade_rate: Decimal | None  # by balance: the regulator's 迁徙率


@dataclass(frozen=True)
class PortfolioReport:
    on: date
    since: date  # the migration matrix's start
    tiers: list[TierRow]
    total: Cell
    npl: Cell
    npl_ratio: Decimal | None  # 不良贷款率: NPL balance ÷ total balance
    npl_count_ratio: Decimal | None
    products: list[str]
    buckets: list[str]
    overdue: dict[str, dict[str, Cell]]  # bucket → product → cell
    overdue_total: dict[str, Cell]  # bucket → all products
    migration: list[MigrationRow]
    migration_columns: list[str]
    roll: list[RollPeriod] = field(default_factory=list)
    bad_debt: list[BadDebtRow] = field(default_factory=list)

    @property
    def expected_bad_debt_cents(self) -> int:
        return sum(r.expected_cents for r in self.bad_debt)


def default_since(on: date) -> date:
    """The migration matrix's usual start: the end of the previous year (年初)."""
    return date(on.year, 1, 1) - timedelta(days=1)


def check_since(since: date, on: date) -> None:
    if since >= on:
        raise ValidationError(
            f"迁徙起始日 {since} 须早于报表日期 {on} (the migration start must be before the report date)",
            errors=[{"field": "since", "message": f"须早于 {on} (before {on})"}],
            since=since.isoformat(),
            on=on.isoformat(),
        )


def portfolio_report(
    session: Session,
    *,
    on: date,
    today: date,
    org_paths: Sequence[str] | None,
    since: date | None = None,
    settings: Settings | None = None,
) -> PortfolioReport:
    check_report_date(on, today)
    since = since or default_since(on)
    check_since(since, on)
    settings = settings or get_settings()
    buckets = bucket_names(settings.overdue_bucket_bounds)
    grouped = book_groups(session, on, org_paths)
    by_class = {c: Cell() for c in CLASSES}
    overdue: dict[str, dict[str, Cell]] = {b: {} for b in buckets}
    overdue_total = {b: Cell() for b in buckets}
    total = Cell()
    products: set[str] = set()
    for product, risk_class, bucket, count, balance in grouped:
        products.add(product)
        by_class.setdefault(risk_class, Cell()).add(count, int(balance))
        total.add(count, int(balance))
        if bucket is not None:
            overdue.setdefault(bucket, {}).setdefault(product, Cell()).add(count, int(balance))
            overdue_total.setdefault(bucket, Cell()).add(count, int(balance))
    npl = Cell()
    for c in NPL:
        npl.add(by_class[c].count, by_class[c].balance_cents)
    columns, migration = migration_matrix(session, since, on, org_paths)
    return PortfolioReport(
        on=on,
        since=since,
        tiers=[
            TierRow(
                c,
                cell.count,
                cell.balance_cents,
                rate(cell.count, total.count),
                rate(cell.balance_cents, total.balance_cents),
            )
            for c, cell in by_class.items()
        ],
        total=total,
        npl=npl,
        npl_ratio=rate(npl.balance_cents, total.balance_cents),
        npl_count_ratio=rate(npl.count, total.count),
        products=sorted(products),
        buckets=list(overdue),
        overdue=overdue,
        overdue_total=overdue_total,
        migration=migration,
        migration_columns=columns,
        roll=roll_rates(session, on, org_paths, buckets),
        bad_debt=expected_bad_debt(
            session, on, {b: c.balance_cents for b, c in overdue_total.items()}, settings
        ),
    )


def book_groups(session: Session, on: date, org_paths: Sequence[str] | None) -> list[Any]:
    """(product, risk class, bucket, count, balance) of the book on D: the one pass over the
    book the tiers, the overdue matrix and Mi are summed from."""
    book = book_on(on, org_paths)
    return session.exec(  # type: ignore[call-overload,no-any-return]
        select(
            book.c.product,
            book.c.risk_class,
            book.c.bucket,
            func.count(),
            func.coalesce(func.sum(book.c.balance_cents), 0),
        ).group_by(book.c.product, book.c.risk_class, book.c.bucket)
    ).all()


def migration_matrix(
    session: Session, since: date, on: date, org_paths: Sequence[str] | None
) -> tuple[list[str], list[MigrationRow]]:
    """五级分类迁徙矩阵: the loans on the book at the end of `since`, by their class then (rows) and
    their class on `on` — or settled / written off by then (columns), by count and by their
    balance at `since`. Loans booked after `since` are not in it (they had no class then)."""
    life_0, risk_0 = on_day(LIFECYCLE, since, "life_0"), on_day(CLASSIFICATION, since, "risk_0")
    life_1, risk_1 = on_day(LIFECYCLE, on, "life_1"), on_day(CLASSIFICATION, on, "risk_1")
    repaid = principal_repaid_by(since)
    where_now = case((life_1.c.state.in_(OFF_BOOK), life_1.c.state), else_=risk_1.c.state).label(
        "now"
    )
    query = (
        select(risk_0.c.state, where_now, func.count(), func.sum(balance_column(repaid)))
        .select_from(
            LOANS.join(life_0, life_0.c.loan_id == LOANS.c.id)
            .join(risk_0, risk_0.c.loan_id == LOANS.c.id)
            .join(life_1, life_1.c.loan_id == LOANS.c.id)
            .join(risk_1, risk_1.c.loan_id == LOANS.c.id)
            .outerjoin(repaid, repaid.c.loan_id == LOANS.c.id)
        )
        .where(life_0.c.state.not_in(OFF_BOOK))
        .group_by(risk_0.c.state, where_now)
    )
    columns = [*CLASSES, *OFF_BOOK]
    cells = {c: {to: Cell() for to in columns} for c in CLASSES}
    for start, now, count, balance in session.exec(scoped(query, org_paths)).all():  # type: ignore[call-overload]
        cells[start][now].add(count, int(balance or 0))
    rows = []
    for start in CLASSES:
        total, down = Cell(), Cell()
        for to, cell in cells[start].items():
            total.add(cell.count, cell.balance_cents)
            written_off = to == LoanState.written_off.value
            if written_off or (to in CLASSES and CLASSES.index(to) > CLASSES.index(start)):
                down.add(cell.count, cell.balance_cents)
        rows.append(
            MigrationRow(
                start, cells[start], total, down, rate(down.balance_cents, total.balance_cents)
            )
        )
    return columns, rows
