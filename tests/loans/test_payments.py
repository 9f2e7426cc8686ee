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


def _book_after(session, org, clock, batched: bool, prefix: str):
    """Three loans; the same payments — several a loan, one valued before one already
    allocated — recorded one by one or as one batch. Returns what the book holds."""
    from loans.payments import NewPayment, record_payments

    loans = [make_loan(session, org, clock, f"{prefix}{k}") for k in range(3)]
    _pay(session, loans[0], clock, f"{prefix}-early", 500_00, day=date(2025, 3, 20))
    plan = [
        (loans[0], f"{prefix}-a", date(2025, 2, 15), 9_000_00),  # before the allocated one
        (loans[0], f"{prefix}-b", date(2025, 4, 15), 9_000_00),
        (loans[1], f"{prefix}-c", date(2025, 2, 15), 10_000_00),
        (loans[1], f"{prefix}-d", date(2025, 3, 15), 30_00),
        (loans[2], f"{prefix}-e", date(2025, 5, 1), 200_000_00),  # overpaid: held
    ]
    on = date(2025, 5, 2)
    if batched:
        record_payments(session, [NewPayment(*p) for p in plan], actor="system:test",
                        now=clock.now(), business_date=on)  # fmt: skip
    else:
        for loan, ref, value_date, amount in sorted(plan, key=lambda p: (p[0].id, p[2])):
            record_payment(session, loan, payment_ref=ref, value_date=value_date,
                           amount_cents=amount, actor="system:test", now=clock.now(),
                           business_date=on)  # fmt: skip
    session.flush()
    book = []
    for loan in loans:
        insts = [(i.seq_no, i.interest_paid_cents, i.principal_paid_cents, i.paid_off_on)
                 for i in installments_of(session, loan.id)]  # fmt: skip
        events = [(e.event, str(e.payload).replace(prefix, "")) for e in chain(session, "loan", loan.loan_no)]  # fmt: skip
        book.append((insts, events))
    return book


def test_payments_recorded_as_a_batch_equal_one_by_one(session, org, clock):
    """An import records a file's payments as one batch (record_payments): each loan's schedule,
    splits and journal entries are those of recording them one by one in value-date order
    (the loan a backdated one reaches is reallocated once, after its batch's entries)."""
    one_by_one = _book_after(session, org, clock, False, "A")
    batched = _book_after(session, org, clock, True, "B")
    for (insts_a, events_a), (insts_b, events_b) in zip(one_by_one, batched, strict=True):
        assert insts_a == insts_b  # the same schedule paid, to the cent and the paid-off date
        recorded = [
            [p for e, p in events if e != "reallocate_payments"] for events in (events_a, events_b)
        ]
        assert recorded[0] == recorded[1]  # the same entries, splits and order
    reallocations = [
        sum(e == "reallocate_payments" for _, events in book for e, _ in events)
        for book in (one_by_one, batched)
    ]
    assert reallocations == [1, 1]  # the backdated payment reallocated its loan once
