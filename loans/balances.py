"""贷款余额 as of a business date, for the whole book at once: the principal disbursed less the
principal that allocated payments valued on or before D repaid.

This is loans.payments.allocated_as_of's rule, set-based: allocation always applies a loan's
payments in value-date order (a backdated payment re-applies them all), so the principal the
payments valued up to D carry is exactly what re-allocating those payments from nothing would
repay. Known limit, as on the as-of loan page: an extension's new schedule replaces the old one,
which changes how later payments split but not what they repaid."""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Table, func, select
from sqlmodel import Session

from loans.models import Loan, Payment

_LOANS: Table = Loan.__table__  # type: ignore[attr-defined]
_PAYMENTS: Table = Payment.__table__  # type: ignore[attr-defined]


def principal_repaid_by(on: date, name: str = "repaid") -> Any:
    """(loan_id, principal_cents) repaid by payments valued on or before `on`, per loan with any."""
    return (
        select(
            _PAYMENTS.c.loan_id,
            func.sum(_PAYMENTS.c.principal_applied_cents).label("principal_cents"),
        )
        .where(_PAYMENTS.c.allocated.is_(True), _PAYMENTS.c.value_date <= on)
        .group_by(_PAYMENTS.c.loan_id)
        .subquery(name)
    )


def balance_column(repaid: Any) -> Any:
    """The outstanding principal of the joined loan (outer-joined to `repaid`)."""
    return _LOANS.c.principal_cents - func.coalesce(repaid.c.principal_cents, 0)


@dataclass(frozen=True)
class Repayments:
    """Per loan, the value dates of its allocated payments (in order) and the principal repaid
    by each of those dates, cumulated — the same rule, for a few loans on many dates."""

    dates: dict[int, list[date]]
    repaid: dict[int, list[int]]

    def by(self, loan_id: int, on: date) -> int:
        """Principal the loan's payments valued on or before `on` repaid."""
        n = bisect_right(self.dates.get(loan_id, []), on)
        return self.repaid[loan_id][n - 1] if n else 0


def repayments_of(session: Session, loan_ids: Any, until: date) -> Repayments:
    """The repayments of the loans `loan_ids` (a select of loan ids) valued up to `until`."""
    rows = session.execute(
        select(_PAYMENTS.c.loan_id, _PAYMENTS.c.value_date, _PAYMENTS.c.principal_applied_cents)
        .where(
            _PAYMENTS.c.allocated.is_(True),
            _PAYMENTS.c.value_date <= until,
            _PAYMENTS.c.loan_id.in_(loan_ids),
        )
        .order_by(_PAYMENTS.c.loan_id, _PAYMENTS.c.value_date)
    )
    dates: dict[int, list[date]] = {}
    repaid: dict[int, list[int]] = {}
    for loan_id, value_date, principal in rows:
        on = value_date if isinstance(value_date, date) else date.fromisoformat(str(value_date))
        days, sums = dates.setdefault(loan_id, []), repaid.setdefault(loan_id, [])
        total = (sums[-1] if sums else 0) + int(principal)
        if days and days[-1] == on:
            sums[-1] = total
        else:
            days.append(on)
            sums.append(total)
    return Repayments(dates, repaid)
