"""Opening loans in the book: the loan row, its schedule and the opening journal entries."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import insert
from sqlmodel import Session, select

from audit import journal
from audit.replay import OPEN_EVENT
from core.errors import NotFoundError
from loans.models import Installment, Loan
from loans.schedule import RepaymentMethod, ScheduledInstallment, generate_schedule
from statemachines.enums import LoanState, RiskClass

LOAN = "loan"  # journal aggregate type


@dataclass(frozen=True)
class LoanTerms:
    loan_no: str
    borrower_id: int
    product: str
    branch_id: int
    account_manager_id: int
    principal_cents: int
    annual_rate: Decimal
    disbursement_date: date
    maturity_date: date
    repayment_method: RepaymentMethod
    currency: str = "CNY"
    assistant_manager_id: int | None = None
    risk_manager_id: int | None = None
    risk_class: RiskClass = RiskClass.pass_


def open_loan(
    session: Session,
    terms: LoanTerms,
    *,
    actor: str,
    now: datetime,
    business_date: date,
    schedule: Sequence[ScheduledInstallment] | None = None,
    reason: str = "贷款入账 (loan booked)",
) -> Loan:
    """Book a loan with its schedule (generated from the terms unless given) and journal it."""
    loan = Loan(
        loan_no=terms.loan_no,
        borrower_id=terms.borrower_id,
        product=terms.product,
        branch_id=terms.branch_id,
        account_manager_id=terms.account_manager_id,
        assistant_manager_id=terms.assistant_manager_id,
        risk_manager_id=terms.risk_manager_id,
        principal_cents=terms.principal_cents,
        annual_rate=terms.annual_rate,
        currency=terms.currency,
        disbursement_date=terms.disbursement_date,
        booked_on=business_date,
        maturity_date=terms.maturity_date,
        original_maturity_date=terms.maturity_date,
        repayment_method=terms.repayment_method.value,
        state=LoanState.normal,
        risk_class=terms.risk_class,
    )
    session.add(loan)
    session.flush()
    assert loan.id is not None
    rows = (
        schedule
        if schedule is not None
        else generate_schedule(
            principal_cents=terms.principal_cents,
            annual_rate=terms.annual_rate,
            disbursement_date=terms.disbursement_date,
            maturity_date=terms.maturity_date,
            method=terms.repayment_method,
        )
    )
    if (
        rows
    ):  # one multi-row INSERT: a long loan has hundreds of installments (ORM rows: 50 µs each)
        session.execute(
            insert(Installment.__table__),  # type: ignore[attr-defined]
            [
                {"loan_id": loan.id, "seq_no": r.seq_no, "due_date": r.due_date,
                 "principal_due_cents": r.principal_cents, "interest_due_cents": r.interest_cents,
                 "principal_paid_cents": 0, "interest_paid_cents": 0}
                for r in rows
            ],
        )  # fmt: skip
    payload = {
        "principal_cents": terms.principal_cents,
        "installments": len(rows),
        "maturity_date": terms.maturity_date,
        "repayment_method": terms.repayment_method,
    }
    for machine, state in (
        ("loan_lifecycle", loan.state),
        ("risk_classification", loan.risk_class),
    ):
        journal.append(
            session,
            aggregate_type=LOAN,
            aggregate_id=loan.loan_no,
            machine=machine,
            event=OPEN_EVENT,
            from_state=None,
            to_state=state,
            actor=actor,
            now=now,
            business_date=business_date,
            reason=reason,
            payload=payload,
        )
    session.flush()
    return loan


def get_loan(session: Session, loan_no: str, *, for_update: bool = False) -> Loan:
    query = select(Loan).where(Loan.loan_no == loan_no)
    if for_update:
        query = query.with_for_update()  # Postgres row lock; SQLite relies on the version check
    loan = session.exec(query).first()
    if loan is None:
        raise NotFoundError(f"未找到贷款 {loan_no!r} (no loan {loan_no!r})", loan_no=loan_no)
    return loan


def installments_of(session: Session, loan_id: int) -> list[Installment]:
    return list(
        session.exec(
            select(Installment).where(Installment.loan_id == loan_id).order_by(Installment.seq_no)
        ).all()
    )
