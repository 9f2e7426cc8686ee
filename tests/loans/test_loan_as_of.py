"""A loan as of a date (loans/queries.loan_detail as_of): state and class from the journal, the
schedule's paid amounts from the payments valued by then, DPD, outstanding and floor of then."""

from __future__ import annotations

from datetime import date

import pytest

from core.errors import ValidationError
from loans import aging
from loans.book import installments_of
from loans.payments import record_payment
from loans.queries import loan_detail, replay_loan
from loans.transitions import transition_loan
from tests.factories import make_loan

TODAY = date(2026, 3, 2)


@pytest.fixture
def late_payer(session, org, clock):
    """L1: the first installment paid on time, the second a month late (cured then)."""
    loan = make_loan(session, org, clock, "L1")
    first, second = installments_of(session, loan.id)[:2]
    record_payment(
        session, loan, payment_ref="P1", value_date=first.due_date,
        amount_cents=first.outstanding_cents, actor="system:test", now=clock.now(),
        business_date=first.due_date,
    )  # fmt: skip
    late = date(2025, 4, 10)
    transition_loan(
        session, "L1", "mark_overdue", actor="system:test", now=clock.now(),
        business_date=date(2025, 3, 18), reason="installment 2 unpaid",
    )  # fmt: skip
    record_payment(
        session, loan, payment_ref="P2", value_date=late, amount_cents=second.outstanding_cents,
        actor="system:test", now=clock.now(), business_date=late,
    )  # fmt: skip
    transition_loan(
        session, "L1", "cure", actor="system:test", now=clock.now(), business_date=late,
        reason="arrears paid",
    )  # fmt: skip
    session.commit()
    return loan


def test_loan_detail_as_of_before_late_payment_shows_that_day(session, late_payer):
    on = date(2025, 3, 25)
    d = loan_detail(session, "L1", TODAY, as_of=on)
    assert (d.state, d.risk_class, d.on, d.as_of) == ("overdue", "pass", on, on)
    first, second = d.installments[:2]
    assert first.paid_off_on == first.due_date and first.outstanding_cents == 0
    assert second.principal_paid_cents == second.interest_paid_cents == 0
    assert second.paid_off_on is None
    assert [p.payment_ref for p in d.payments] == ["P1"]
    assert d.days_past_due == (on - aging.pay_by(second.due_date)).days > 0
    assert d.outstanding_cents == aging.outstanding_cents(d.installments)
    today = loan_detail(session, "L1", TODAY)
    assert today.state == "normal" and today.days_past_due > 0  # the later ones are unpaid
    assert d.outstanding_cents == today.outstanding_cents + second.outstanding_cents
    assert [p.payment_ref for p in today.payments] == ["P1", "P2"]


def test_loan_detail_as_of_leaves_stored_rows_untouched(session, late_payer):
    loan_detail(session, "L1", TODAY, as_of=date(2025, 1, 20))
    assert not session.dirty and not session.new
    stored = installments_of(session, late_payer.id)
    assert stored[1].paid_off_on == date(2025, 4, 10)


def test_loan_detail_as_of_today_equals_stored_book(session, late_payer):
    as_of = loan_detail(session, "L1", TODAY, as_of=TODAY)
    stored = loan_detail(session, "L1", TODAY)
    pairs = zip(as_of.installments, stored.installments, strict=True)
    assert all(a.model_dump() == b.model_dump() for a, b in pairs)
    assert (as_of.state, as_of.risk_class, as_of.days_past_due, as_of.floor) == (
        stored.state, stored.risk_class, stored.days_past_due, stored.floor,
    )  # fmt: skip


@pytest.mark.parametrize("on", [date(2025, 1, 14), date(2026, 3, 3)])
def test_loan_detail_as_of_outside_loan_life_refused_in_chinese(session, late_payer, on):
    with pytest.raises(ValidationError) as caught:
        loan_detail(session, "L1", TODAY, as_of=on)
    assert caught.value.message.startswith("截至日期")
    assert caught.value.errors[0]["field"] == "as_of"
    with pytest.raises(ValidationError):
        replay_loan(session, "L1", on, today=TODAY)
