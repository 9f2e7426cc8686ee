"""五级分类迁徙矩阵: the loans on the book at the end of a start date, by their class then (rows)
and where they stood on D — a class, or settled / written off by then (columns) — by count and by
their balance at the start, with the downgrade rate (the regulator's 迁徙率, by balance). Loans
booked after the start are not in it (they had no class then). Imports no web or Prefect
library."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import case, func, select
from sqlmodel import Session

from loans.balances import balance_column, principal_repaid_by
from loans.status_history import CLASSIFICATION, LIFECYCLE, on_day
from reports.book_on import LOANS, OFF_BOOK, Cell, scoped
from reports.inspections import rate
from statemachines.enums import LoanState, RiskClass

CLASSES = [c.value for c in RiskClass]
COLUMNS = [*CLASSES, *OFF_BOOK]

# (class at the start, class or off-book state on D, count, balance at the start)
Pair = tuple[str, str, int, int]


@dataclass(frozen=True)
class MigrationRow:
    """Loans in `from_class` at the start, by where they stood on D (a class, or off the book:
    settled / written off), counted with their balance at the start."""

    from_class: str
    cells: dict[str, Cell]
    total: Cell
    downgraded: Cell  # moved to a worse class, or written off
    downgrade_rate: Decimal | None  # by balance: the regulator's 迁徙率


def migration_pairs(
    session: Session,
    since: date,
    on: date,
    org_paths: Sequence[str] | None,
    *,
    by_branch: bool = False,
) -> list[Any]:
    """([branch_id,] class on `since`, where on `on`, count, balance on `since`) of the loans on
    the book at the end of `since`: one grouped query."""
    life_0, risk_0 = on_day(LIFECYCLE, since, "life_0"), on_day(CLASSIFICATION, since, "risk_0")
    life_1, risk_1 = on_day(LIFECYCLE, on, "life_1"), on_day(CLASSIFICATION, on, "risk_1")
    repaid = principal_repaid_by(since)
    where_now = case((life_1.c.state.in_(OFF_BOOK), life_1.c.state), else_=risk_1.c.state).label(
        "now"
    )
    keys = [LOANS.c.branch_id] if by_branch else []
    query = (
        select(
            *keys,
            risk_0.c.state,
            where_now,
            func.count(),
            func.coalesce(func.sum(balance_column(repaid)), 0),
        )
        .select_from(
            LOANS.join(life_0, life_0.c.loan_id == LOANS.c.id)
            .join(risk_0, risk_0.c.loan_id == LOANS.c.id)
            .join(life_1, life_1.c.loan_id == LOANS.c.id)
            .join(risk_1, risk_1.c.loan_id == LOANS.c.id)
            .outerjoin(repaid, repaid.c.loan_id == LOANS.c.id)
        )
        .where(life_0.c.state.not_in(OFF_BOOK))
        .group_by(*keys, risk_0.c.state, where_now)
    )
    return session.exec(scoped(query, org_paths)).all()  # type: ignore[call-overload,no-any-return]


def migration_matrix(pairs: Iterable[Pair]) -> tuple[list[str], list[MigrationRow]]:
    """The matrix from (start, now, count, balance) pairs — live, or summed from the day's
    book summary (reports/book_summary.py)."""
    cells = {c: {to: Cell() for to in COLUMNS} for c in CLASSES}
    for start, now, count, balance in pairs:
        cells.setdefault(start, {to: Cell() for to in COLUMNS})
        cells[start].setdefault(now, Cell()).add(count, int(balance or 0))
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
    return COLUMNS, rows
