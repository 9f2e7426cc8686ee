"""The book on a business date D, as one select every portfolio figure aggregates: each loan on
the book at the end of D (booked by then, neither settled nor written off) with its product,
lifecycle state and risk class on D (loans.status_history), its overdue bucket on D (the sweep's
bucket history) and its outstanding principal on D (loans.balances). Nothing is read from the
loans' current state columns. Imports no web or Prefect library."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Select, Table, func, select
from sqlmodel import Session

from core.identity import OrgUnit
from loans.balances import balance_column, principal_repaid_by
from loans.models import Loan
from loans.status_history import CLASSIFICATION, LIFECYCLE, bucket_on_day, on_day
from reports.inspections import in_scope
from statemachines.enums import LoanState

LOANS: Table = Loan.__table__  # type: ignore[attr-defined]
ORG: Table = OrgUnit.__table__  # type: ignore[attr-defined]
OFF_BOOK = (LoanState.settled.value, LoanState.written_off.value)


@dataclass
class Cell:
    """A count of loans and their balance: what every figure of the book sums into."""

    count: int = 0
    balance_cents: int = 0

    def add(self, count: int, balance_cents: int) -> None:
        self.count += count
        self.balance_cents += balance_cents


def scoped(query: Select[Any], org_paths: Sequence[str] | None) -> Select[Any]:
    """Only loans of branches in the reader's subtrees (None: the whole bank)."""
    if org_paths is None:
        return query
    return query.join(ORG, ORG.c.id == LOANS.c.branch_id).where(in_scope(ORG.c.path, org_paths))


def book_on(on: date, org_paths: Sequence[str] | None, *, with_bucket: bool = True) -> Any:
    """(loan_id, branch_id, product, state, risk_class, bucket, balance_cents) of the loans on
    the book at the end of `on`, as a subquery."""
    life = on_day(LIFECYCLE, on, "life_on")
    risk = on_day(CLASSIFICATION, on, "risk_on")
    repaid = principal_repaid_by(on)
    columns = [
        LOANS.c.id.label("loan_id"),
        LOANS.c.branch_id,
        LOANS.c.product,
        life.c.state.label("state"),
        risk.c.state.label("risk_class"),
        balance_column(repaid).label("balance_cents"),
    ]
    joined = (
        LOANS.join(life, life.c.loan_id == LOANS.c.id)
        .join(risk, risk.c.loan_id == LOANS.c.id)
        .outerjoin(repaid, repaid.c.loan_id == LOANS.c.id)
    )
    if with_bucket:
        bucket = bucket_on_day(on)
        columns.append(bucket.c.bucket)
        joined = joined.outerjoin(bucket, bucket.c.loan_id == LOANS.c.id)
    query = select(*columns).select_from(joined).where(life.c.state.not_in(OFF_BOOK))
    return scoped(query, org_paths).subquery("book_on")


def book_groups(
    session: Session, on: date, org_paths: Sequence[str] | None, *, by_branch: bool = False
) -> list[Any]:
    """([branch_id,] product, risk class, bucket, count, balance) of the book on D: the one pass
    over the book the tiers, the overdue matrix and Mi are summed from."""
    book = book_on(on, org_paths)
    keys = [book.c.branch_id] if by_branch else []
    return session.exec(  # type: ignore[call-overload,no-any-return]
        select(
            *keys,
            book.c.product,
            book.c.risk_class,
            book.c.bucket,
            func.count(),
            func.coalesce(func.sum(book.c.balance_cents), 0),
        ).group_by(*keys, book.c.product, book.c.risk_class, book.c.bucket)
    ).all()
