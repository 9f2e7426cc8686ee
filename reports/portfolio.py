"""The portfolio report (资产质量报表) as of a business date D over the part of the bank the
reader sees: the five-tier distribution by count and balance and the NPL ratio, the overdue
matrix (buckets × product), the classification migration matrix since a start date
(reports/migration.py), roll rates and expected bad debt (reports/roll_rates.py). Every figure
is of the book on D (reports/book_on.py), never of the loans' current columns: read from the
day's book summary when it has one (reports/book_summary.py), else computed live — the same
numbers either way. Imports no web or Prefect library."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlmodel import Session

from core.errors import ValidationError
from core.settings import Settings, get_settings
from loans.aging import bucket_names
from reports import book_summary
from reports.book_on import Cell, book_groups
from reports.inspections import rate
from reports.migration import CLASSES, MigrationRow, migration_matrix, migration_pairs
from reports.roll_rates import (
    BadDebtRow,
    RollPeriod,
    expected_bad_debt,
    outcome_counts,
    roll_points,
    roll_rates,
)
from reports.scope import check_report_date
from statemachines.enums import RiskClass

NPL = [c.value for c in RiskClass if c.is_npl]


@dataclass(frozen=True)
class TierRow:
    risk_class: str
    count: int
    balance_cents: int
    count_share: Decimal | None
    balance_share: Decimal | None


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
    summarized_at: datetime | None = None  # read from the day's book summary; None: live

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
    points = roll_points(session, on)
    stored = book_summary.read(session, on, since, org_paths, points)
    grouped = stored.book if stored else book_groups(session, on, org_paths)
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
    pairs = stored.migration if stored and stored.migration is not None else None
    columns, migration = migration_matrix(
        pairs if pairs is not None else migration_pairs(session, since, on, org_paths)
    )
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
        roll=roll_rates(session, points, org_paths, buckets, stored.roll if stored else None),
        bad_debt=expected_bad_debt(
            stored.outcomes if stored else outcome_counts(session, on),
            {b: c.balance_cents for b, c in overdue_total.items()},
            settings,
        ),
        summarized_at=stored.built_at if stored else None,
    )
