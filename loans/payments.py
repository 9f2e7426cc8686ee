"""Payments: record once (by the bank's reference) and allocate to installments oldest first,
interest before principal. Each recorded payment is journaled on its loan."""

from __future__ import annotations

from datetime import date, datetime

from sqlmodel import Session, select

from audit import journal
from core.errors import RuleViolationError, ValidationError
from loans.book import LOAN
from loans.models import Installment, Loan, Payment
from loans.transitions import transition_loan
from statemachines.enums import LoanState

BOOK_MACHINE = "loan_book"  # journal entries about balances, not about a machine's state


def allocate(session: Session, payment: Payment) -> None:
    """Apply an unallocated payment to the loan's unpaid installments (oldest due first)."""
    if payment.allocated:
        raise RuleViolationError(f"payment {payment.payment_ref} is already allocated")
    left = payment.amount_cents
    unpaid = session.exec(
        select(Installment)
        .where(Installment.loan_id == payment.loan_id, Installment.paid_off_on.is_(None))  # type: ignore[union-attr]
        .order_by(Installment.due_date, Installment.seq_no)
    ).all()
    for inst in unpaid:
        if left <= 0:
            break
        interest = min(left, inst.interest_due_cents - inst.interest_paid_cents)
        inst.interest_paid_cents += interest
        left -= interest
        principal = min(left, inst.principal_due_cents - inst.principal_paid_cents)
        inst.principal_paid_cents += principal
        left -= principal
        payment.interest_applied_cents += interest
        payment.principal_applied_cents += principal
        if inst.outstanding_cents == 0:
            inst.paid_off_on = payment.value_date
        session.add(inst)
    payment.unapplied_cents = left  # overpayment held, never lost
    payment.allocated = True
    session.add(payment)


def record_payment(
    session: Session,
    loan: Loan,
    *,
    payment_ref: str,
    value_date: date,
    amount_cents: int,
    actor: str,
    now: datetime,
    business_date: date,
    source: str | None = None,
) -> Payment:
    if amount_cents <= 0:
        raise ValidationError(
            "a payment amount must be positive",
            errors=[{"field": "amount", "message": "must be > 0"}],
        )
    assert loan.id is not None
    payment = Payment(
        payment_ref=payment_ref,
        loan_id=loan.id,
        value_date=value_date,
        amount_cents=amount_cents,
        source=source,
    )
    session.add(payment)
    session.flush()
    allocate(session, payment)
    journal.append(
        session,
        aggregate_type=LOAN,
        aggregate_id=loan.loan_no,
        machine=BOOK_MACHINE,
        event="record_payment",
        from_state=None,
        to_state=None,
        actor=actor,
        now=now,
        business_date=business_date,
        reason=f"payment {payment_ref}",
        payload={
            "payment_ref": payment_ref,
            "value_date": value_date,
            "amount_cents": amount_cents,
            "interest_applied_cents": payment.interest_applied_cents,
            "principal_applied_cents": payment.principal_applied_cents,
            "unapplied_cents": payment.unapplied_cents,
            "source": source,
        },
    )
    if LoanState(loan.state) == LoanState.written_off:
        # the debt is still pursued after write-off (001): a payment is a recorded recovery
        transition_loan(
            session,
            loan.loan_no,
            "record_recovery",
            actor=actor,
            now=now,
            business_date=business_date,
            reason=f"核销后收回 {amount_cents / 100:,.2f} (payment {payment_ref})",
            payload={"payment_ref": payment_ref, "amount_cents": amount_cents},
        )
    return payment


def existing_payment(session: Session, payment_ref: str) -> Payment | None:
    return session.exec(select(Payment).where(Payment.payment_ref == payment_ref)).first()
