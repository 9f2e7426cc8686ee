"""Payments: allocation oldest-first, interest before principal; overpayment kept; journaled."""

from __future__ import annotations

from datetime import date

import pytest

from audit.journal import chain
from core.errors import RuleViolationError, ValidationError
from loans.book import installments_of
from loans.payments import allocate, record_payment
from tests.factories import make_loan


def _pay(session, loan, clock, ref, amount, day=date(2025, 3, 20)):
    return record_payment(
        session,
        loan,
        payment_ref=ref,
        value_date=day,
        amount_cents=amount,
        actor="system:test",
        now=clock.now(),
        business_date=day,
    )


def test_allocate_interest_first_then_principal_oldest_first(session, org, clock):
    loan = make_loan(session, org, clock)
    first, second = installments_of(session, loan.id)[:2]
    payment = _pay(session, loan, clock, "P1", first.outstanding_cents + 100_00)
    assert first.paid_off_on == date(2025, 3, 20) and first.outstanding_cents == 0
    assert (second.interest_paid_cents, second.principal_paid_cents) == (
        min(100_00, second.interest_due_cents),
        100_00 - min(100_00, second.interest_due_cents),
    )
    assert payment.interest_applied_cents + payment.principal_applied_cents == payment.amount_cents


def test_overpayment_kept_as_unapplied(session, org, clock):
    loan = make_loan(session, org, clock)
    total = sum(i.outstanding_cents for i in installments_of(session, loan.id))
    payment = _pay(session, loan, clock, "P1", total + 5_00)
    assert payment.unapplied_cents == 5_00
    assert all(i.paid_off_on for i in installments_of(session, loan.id))


def test_record_payment_journaled_on_loan_chain(session, org, clock):
    loan = make_loan(session, org, clock)
    _pay(session, loan, clock, "P1", 1_000_00)
    entry = chain(session, "loan", "L1")[-1]
    assert (entry.machine, entry.event, entry.payload["amount_cents"]) == (
        "loan_book",
        "record_payment",
        1_000_00,
    )


@pytest.mark.parametrize("amount", [0, -1])
def test_record_payment_non_positive_refused(session, org, clock, amount):
    loan = make_loan(session, org, clock)
    with pytest.raises(ValidationError, match="must be positive"):
        _pay(session, loan, clock, "P1", amount)


def test_allocate_twice_refused(session, org, clock):
    loan = make_loan(session, org, clock)
    payment = _pay(session, loan, clock, "P1", 100)
    with pytest.raises(RuleViolationError, match="already allocated"):
        allocate(session, loan.id, [payment])
