"""Loans as scheduled work reads them: one row per loan with the business columns its tasks copy
(loan, borrower, branch, product, bucket, class, exposure), the grouped amounts behind them, and
the task row for the loan's account manager."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import and_, case, func, or_
from sqlmodel import Session, col, select

from core.identity import OrgUnit
from loans import aging
from loans.models import Borrower, Installment, Loan
from tasks.bulk import TaskRow
from tasks.inspection_reports import CLOSED


@dataclass(frozen=True)
class LoanRow:
    """A loan as scheduled work sees it: the business columns a task copies and what the rules
    read (one query, no ORM objects). Not the machine's guard facts (statemachines LoanFacts)."""

    loan_id: int
    loan_no: str
    product: str
    branch_id: int
    branch_path: str
    account_manager_id: int
    disbursement_date: date
    state: str
    risk_class: str
    borrower_id: int
    customer_no: str
    borrower_name: str
    is_key_client: bool
    exposure_cents: int = 0
    days_past_due: int = 0
    bucket: str | None = None


def needs_work(on: date) -> tuple[Any, ...]:
    """Loans that still get post-loan work on `on`: open, not handed to asset disposal,
    disbursed."""
    return (
        col(Loan.state).not_in(CLOSED),
        col(Loan.handed_over).is_(False),
        col(Loan.disbursement_date) <= on,
    )


def loan_row_columns() -> list[Any]:
    """The labelled columns a `LoanRow` is built from (join Borrower and the branch OrgUnit)."""
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
        col(Loan.borrower_id).label("borrower_id"),
        col(Borrower.customer_no).label("customer_no"),
        col(Borrower.name).label("borrower_name"),
        col(Borrower.is_key_client).label("is_key_client"),
    ]


_ROW_NAMES = tuple(column.name for column in loan_row_columns())


def loan_row(row: Any, amounts: dict[int, tuple[int, int, date | None]], on: date) -> LoanRow:
    """A `LoanRow` from a row with `loan_row_columns()` and the loan's grouped amounts."""
    principal, _interest, oldest_unpaid = amounts.get(row.loan_id, (0, 0, None))
    dpd = aging.days_past_due_since(oldest_unpaid, on)
    values = {name: row._mapping[name] for name in _ROW_NAMES}
    values.update(state=str(row.state), risk_class=str(row.risk_class))
    return LoanRow(
        **values, exposure_cents=principal, days_past_due=dpd, bucket=aging.bucket_for(dpd)
    )


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
    loan: LoanRow, *, kind: str, key: str, title: str, due: date, context: dict[str, Any]
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
