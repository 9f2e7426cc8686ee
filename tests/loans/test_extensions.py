"""展期: application rules, four-eyes decision, applying it, and what it must not reset."""

from __future__ import annotations

from datetime import date

import pytest

from core.errors import PermissionDeniedError, RuleViolationError, ValidationError
from core.settings import Settings
from loans.aging import days_past_due
from loans.book import get_loan, installments_of
from loans.extensions import decide_extension, max_extension_months, request_extension
from loans.payments import record_payment
from loans.schedule import RepaymentMethod
from loans.transitions import floor_for, transition_loan
from statemachines.enums import LoanState, RiskClass
from tests.factories import make_loan

MATURITY = date(2026, 1, 15)  # 12-month loan disbursed 2025-01-15


def _request(session, on=date(2025, 10, 1), new=date(2026, 7, 15), **kw):
    params = dict(
        new_maturity_date=new,
        requested_by="am_bj1",
        reason="资金周转",
        financial_difficulty=False,
        on=on,
    )
    params.update(kw)
    return request_extension(session, "L1", **params)


@pytest.mark.parametrize(
    ("original", "allowed"), [(6, 6), (12, 12), (13, 6), (36, 18), (60, 30), (61, 36), (240, 36)]
)
def test_max_extension_by_term_follows_loan_rules(original, allowed):
    assert max_extension_months(original, Settings(_env_file=None)) == allowed


def test_request_less_than_30_days_before_maturity_refused(session, org, clock):
    make_loan(session, org, clock)
    with pytest.raises(ValidationError) as info:
        _request(session, on=date(2025, 12, 20))
    assert info.value.errors[0]["field"] == "requested_on"
    assert "at least 30 days before maturity" in info.value.errors[0]["message"]


def test_request_longer_than_term_limit_refused(session, org, clock):
    make_loan(session, org, clock)
    with pytest.raises(ValidationError) as info:
        _request(session, new=date(2027, 2, 15))  # 13 months on a 12-month loan
    assert "exceeds the 12-month limit" in info.value.errors[0]["message"]


def test_request_every_problem_listed(session, org, clock):
    make_loan(session, org, clock)
    with pytest.raises(ValidationError) as info:
        _request(session, on=date(2026, 1, 1), new=date(2025, 12, 1), reason=" ")
    assert {e["field"] for e in info.value.errors} == {
        "requested_on",
        "new_maturity_date",
        "reason",
    }


def test_decide_own_request_refused_four_eyes(session, org, clock):
    make_loan(session, org, clock)
    req = _request(session)
    with pytest.raises(PermissionDeniedError, match="four eyes"):
        decide_extension(session, req.id, approve=True, decided_by="am_bj1", on=date(2025, 10, 2))


def test_decide_twice_refused(session, org, clock):
    make_loan(session, org, clock)
    req = _request(session)
    decide_extension(session, req.id, approve=False, decided_by="head_bj", on=date(2025, 10, 2))
    with pytest.raises(RuleViolationError, match="already rejected"):
        decide_extension(session, req.id, approve=True, decided_by="head_bj", on=date(2025, 10, 3))


def test_approve_extension_without_approved_request_refused(session, org, clock):
    make_loan(session, org, clock)
    _request(session)
    with pytest.raises(RuleViolationError, match="no approved extension request"):
        transition_loan(
            session,
            "L1",
            "approve_extension",
            actor="u:head_bj",
            now=clock.now(),
            business_date=date(2025, 10, 2),
        )


def _extend(session, clock, on=date(2025, 10, 2), **kw):
    req = _request(session, **kw)
    decide_extension(session, req.id, approve=True, decided_by="head_bj", on=on)
    result = transition_loan(
        session,
        "L1",
        "approve_extension",
        actor="u:head_bj",
        now=clock.now(),
        business_date=on,
        approved_by="head_bj",
        requested_by="am_bj1",
    )
    session.commit()
    return result


def test_approve_extension_respreads_future_installments_keeps_past(session, org, clock):
    loan = make_loan(session, org, clock, method=RepaymentMethod.monthly_interest_bullet)
    before = installments_of(session, loan.id)
    result = _extend(session, clock)
    loan = get_loan(session, "L1")
    after = installments_of(session, loan.id)
    assert (loan.state, loan.maturity_date) == (LoanState.extended, date(2026, 7, 15))
    past = [i for i in before if i.due_date <= date(2025, 10, 2)]
    assert [(i.seq_no, i.due_date) for i in after[: len(past)]] == [
        (i.seq_no, i.due_date) for i in past
    ]
    assert after[-1].due_date == date(2026, 7, 15)
    assert sum(i.principal_due_cents for i in after) == loan.principal_cents
    assert result.entries[0].payload["new_maturity_date"] == "2026-07-15"


def test_days_past_due_not_reset_by_extension(session, org, clock):
    """An installment missed before the extension keeps aging after it (分类办法)."""
    make_loan(session, org, clock)
    # nothing paid: the installment due 2025-02-15 is unpaid; the loan was never swept overdue
    _extend(session, clock, on=date(2025, 2, 16))
    loan = get_loan(session, "L1")
    assert days_past_due(installments_of(session, loan.id), date(2025, 6, 1)) == 106
    assert floor_for(session, loan, date(2025, 6, 1)).risk_class == RiskClass.substandard


def _pay_due(session, clock, until):
    loan = get_loan(session, "L1")
    for inst in installments_of(session, loan.id):
        if inst.due_date <= until:
            record_payment(
                session,
                loan,
                payment_ref=f"P{inst.seq_no}",
                value_date=inst.due_date,
                amount_cents=inst.outstanding_cents,
                actor="system:test",
                now=clock.now(),
                business_date=inst.due_date,
            )


def test_extension_for_financial_difficulty_is_restructuring_floor_special_mention(
    session, org, clock
):
    make_loan(session, org, clock)
    _pay_due(session, clock, date(2025, 10, 2))
    _extend(session, clock, financial_difficulty=True)
    loan = get_loan(session, "L1")
    assert loan.restructured_on == date(2025, 10, 2)
    floor = floor_for(session, loan, date(2025, 10, 3))
    assert floor.risk_class == RiskClass.special_mention
    assert "restructured_observation" in floor.reasons


def test_extension_for_healthy_borrower_not_restructuring(session, org, clock):
    make_loan(session, org, clock)
    _pay_due(session, clock, date(2025, 10, 2))
    _extend(session, clock)
    loan = get_loan(session, "L1")
    assert loan.restructured_on is None
    assert floor_for(session, loan, date(2025, 10, 3)).risk_class == RiskClass.pass_
