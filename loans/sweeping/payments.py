"""Step 1 of the sweep: unallocated payments valued by the date, allocated under each loan's lock."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import (
    select,
)
from sqlmodel import Session

from loans.book import LOAN
from loans.models import (
    Payment,
)
from loans.payments import BOOK_MACHINE, allocate, lock_loans, reallocation_entry
from loans.sweeping.results import (
    ACTOR,
    LOANS,
    MACHINE,
)
from statemachines.enums import LoanState
from statemachines.loan_lifecycle import LoanLifecycle

# -- 1. payments ---------------------------------------------------------------------------------
RECOVERY = "record_recovery"  # the machine's own transition: written off → written off
assert LoanLifecycle.transition_table()[(LoanState.written_off.value, RECOVERY)] == {
    LoanState.written_off.value
}


def apply_payments(
    session: Session, d: date, lo: int, hi: int
) -> tuple[list[dict[str, Any]], list[int]]:
    """Allocate unallocated payments valued on or before `d` (few a day), each loan's under its
    lock (lock_loans: all of them first, in id order), in value-date order."""
    rows = session.execute(
        select(Payment, LOANS.c.loan_no, LOANS.c.state)
        .join(LOANS, LOANS.c.id == Payment.loan_id)
        .where(
            ~Payment.allocated,  # type: ignore[operator]  # ix_payments_unallocated
            Payment.value_date <= d,
            Payment.loan_id.between(lo, hi),  # type: ignore[attr-defined]
            LOANS.c.booked_on <= d,
        )
        .order_by(Payment.loan_id, Payment.value_date, Payment.id)  # type: ignore[arg-type]
    ).all()
    by_loan: dict[int, list[Payment]] = {}
    loan_of: dict[int, tuple[str, str]] = {}
    for payment, loan_no, state in rows:
        by_loan.setdefault(payment.loan_id, []).append(payment)
        loan_of[payment.loan_id] = (loan_no, state)
    lock_loans(session, by_loan)
    items = []
    for loan_id, payments in by_loan.items():
        loan_no, state = loan_of[loan_id]
        allocation = allocate(session, loan_id, payments)
        for payment in allocation.applied:
            items += _allocation_items(payment, loan_no, state)
        reallocation = reallocation_entry(loan_no, allocation, ACTOR)
        if reallocation is not None:
            items.append(reallocation)
    return items, list(by_loan)


def _allocation_items(payment: Payment, loan_no: str, state: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = [
        {
            "aggregate_type": LOAN,
            "aggregate_id": loan_no,
            "machine": BOOK_MACHINE,
            "event": "allocate_payment",
            "from_state": None,
            "to_state": None,
            "actor": ACTOR,
            "reason": f"还款 {payment.payment_ref}，起息日 {payment.value_date} "
            f"(payment {payment.payment_ref} valued {payment.value_date})",
            "payload": {
                "payment_ref": payment.payment_ref,
                "value_date": payment.value_date,
                "amount_cents": payment.amount_cents,
                "interest_applied_cents": payment.interest_applied_cents,
                "principal_applied_cents": payment.principal_applied_cents,
                "unapplied_cents": payment.unapplied_cents,
            },
        }
    ]
    if state == LoanState.written_off.value:  # still pursued after write-off (001)
        items.append(
            {
                "aggregate_type": LOAN,
                "aggregate_id": loan_no,
                "machine": MACHINE,
                "event": RECOVERY,
                "from_state": state,
                "to_state": state,
                "actor": ACTOR,
                "reason": f"核销后收回 {payment.amount_cents / 100:,.2f} "
                f"(payment {payment.payment_ref})",
                "payload": {
                    "payment_ref": payment.payment_ref,
                    "amount_cents": payment.amount_cents,
                },
            }
        )
    return items
