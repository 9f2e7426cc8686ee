"""贷款余额 as of a business date, set-based — the whole book on one date, or each loan on the
dates of the enclosing query: the principal disbursed less the principal that allocated payments
valued on or before D repaid.

This is loans.payments.allocated_as_of's rule, set-based: allocation always applies a loan's
payments in value-date order (a backdated payment re-applies them all), so the principal the
payments valued up to D carry is exactly what re-allocating those payments from nothing would
repay. Known limit, as on the as-of loan page: an extension's new schedule replaces the old one,
which changes how later payments split but not what they repaid."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Table, func, select

from loans.models import Loan, Payment

_LOANS: Table = Loan.__table__  # type: ignore[attr-defined]
_PAYMENTS: Table = Payment.__table__  # type: ignore[attr-defined]


def _counted_by(on: Any) -> tuple[Any, ...]:
    """The payments a balance on `on` counts: allocated, valued on or before it."""
    return (_PAYMENTS.c.allocated.is_(True), _PAYMENTS.c.value_date <= on)


def principal_repaid_by(on: date, name: str = "repaid") -> Any:
    """(loan_id, principal_cents) repaid by payments valued on or before `on`, per loan with any."""
    return (
        select(
            _PAYMENTS.c.loan_id,
            func.sum(_PAYMENTS.c.principal_applied_cents).label("principal_cents"),
        )
        .where(*_counted_by(on))
        .group_by(_PAYMENTS.c.loan_id)
        .subquery(name)
    )


def balance_column(repaid: Any) -> Any:
    """The outstanding principal of the joined loan (outer-joined to `repaid`)."""
    return _LOANS.c.principal_cents - func.coalesce(repaid.c.principal_cents, 0)


def principal_repaid_at(loan_id: Any, on: Any) -> Any:
    """The same sum for one loan on one date, both columns of the enclosing query (a loan on
    each of many dates: roll rates at month ends)."""
    return (
        select(func.coalesce(func.sum(_PAYMENTS.c.principal_applied_cents), 0))
        .where(_PAYMENTS.c.loan_id == loan_id, *_counted_by(on))
        .scalar_subquery()
    )
