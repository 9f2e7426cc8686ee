"""展期: application rules, four-eyes decision, applying it, and what it must not reset."""

from __future__ import annotations

from datetime import date

import pytest
from sqlmodel import select

from core.errors import (
    InsufficientAuthorityError,
    RuleViolationError,
    SelfApprovalError,
    ValidationError,
)
from core.identity import Role
from core.settings import Settings, get_settings
from loans.aging import days_past_due
from loans.book import get_loan, installments_of
from loans.extensions import (
    close_extension,
    grant_extension,
    max_extension_months,
    request_extension,
)
from loans.floors import floor_for
from loans.models import Collateral, CollateralKind, ExtensionRequest, ExtensionStatus
from loans.payments import record_payment
from loans.schedule import RepaymentMethod
from loans.transitions import transition_loan
from statemachines.enums import LoanState, RiskClass
from tests.factories import make_borrower, make_loan

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
    assert "at least 30 days before maturity" in info.value.errors[0]["message_en"]
    assert "至少 30 天" in info.value.errors[0]["message"]


def test_request_longer_than_term_limit_refused(session, org, clock):
    make_loan(session, org, clock)
    with pytest.raises(ValidationError) as info:
        _request(session, new=date(2027, 2, 15))  # 13 months on a 12-month loan
    assert "exceeds the 12-month limit" in info.value.errors[0]["message_en"]


def test_request_every_problem_listed(session, org, clock):
    make_loan(session, org, clock)
    with pytest.raises(ValidationError) as info:
        _request(session, on=date(2026, 1, 1), new=date(2025, 12, 1), reason=" ")
    assert {e["field"] for e in info.value.errors} == {
        "requested_on",
        "new_maturity_date",
        "reason",
    }


def _grant(
    session, clock, req, on=date(2025, 10, 2), by="head_bj", roles=(Role.branch_head,), **kw
):
    return grant_extension(
        session,
        req.id,
        approved_by=by,
        approver_roles=list(roles),
        actor=f"u:{by}",
        now=clock.now(),
        business_date=on,
        **kw,
    )


def test_grant_own_request_refused_four_eyes(session, org, clock):
    make_loan(session, org, clock)
    req = _request(session)
    with pytest.raises(SelfApprovalError, match="four eyes"):
        _grant(session, clock, req, by="am_bj1", roles=(Role.account_manager,))


def test_decide_twice_refused(session, org, clock):
    make_loan(session, org, clock)
    req = _request(session)
    close_extension(
        session, req.id, ExtensionStatus.rejected, decided_by="head_bj", on=date(2025, 10, 2)
    )
    with pytest.raises(RuleViolationError, match="already rejected"):
        _grant(session, clock, req, on=date(2025, 10, 3))


def test_grant_without_authority_for_exposure_refused(session, org, clock, monkeypatch):
    """A branch head above their limit cannot grant (the chain goes on to the committee)."""
    monkeypatch.setenv("POSTLOAN_EXTENSION_AUTHORITY_BRANCH_HEAD_CENTS", str(50_000_00))
    get_settings.cache_clear()
    make_loan(session, org, clock)  # ¥120,000 outstanding > ¥50,000
    req = _request(session)
    with pytest.raises(InsufficientAuthorityError, match="no authority"):
        _grant(session, clock, req)
    with pytest.raises(InsufficientAuthorityError):  # an account manager has none at all
        _grant(session, clock, req, by="am_bj2", roles=(Role.account_manager,))
    result = _grant(session, clock, req, by="committee1", roles=(Role.credit_committee,))
    assert result.loan.state == LoanState.extended


def test_second_request_while_one_pending_refused(session, org, clock):
    make_loan(session, org, clock)
    _request(session)
    with pytest.raises(ValidationError) as info:
        _request(session)
    assert info.value.errors[0]["rule"] == "extension_one_live"


def test_granted_extension_applied_at_once_never_left_unused(session, org, clock):
    make_loan(session, org, clock)
    first = _request(session)
    _grant(session, clock, first)
    assert first.status == ExtensionStatus.applied
    statuses = session.exec(select(ExtensionRequest.status)).all()
    assert statuses == [ExtensionStatus.applied]  # nothing approved is left waiting
    with pytest.raises(RuleViolationError, match="already applied"):
        _grant(session, clock, first, on=date(2025, 10, 5))


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


def test_guarantor_consent_missing_refused_with_rule(session, org, clock):
    loan = make_loan(session, org, clock)
    session.add(
        Collateral(
            loan_id=loan.id,
            kind=CollateralKind.guarantee,
            description="连带责任保证",
            guarantor_name="北京保兴担保有限公司",
        )
    )
    session.commit()
    with pytest.raises(ValidationError) as info:
        _request(session)
    [error] = info.value.errors
    assert (error["field"], error["rule"]) == ("guarantor_consents", "extension_guarantor_consent")
    assert "北京保兴担保有限公司" in error["message"]
    consent = [{"guarantor": "北京保兴担保有限公司", "sha256": "a" * 64}]
    assert _request(session, guarantor_consents=consent).guarantor_consents == consent


def test_restructuring_decided_from_facts_not_the_applicants_word(session, org, clock):
    """18 days past due but never swept (state still normal): applied for as healthy, the
    extension is a restructuring all the same (分类办法 第十七条)."""
    make_loan(session, org, clock)  # nothing paid: the 2025-02-15 installment is late
    req = _request(session, on=date(2025, 3, 5), financial_difficulty=False)
    assert req.restructuring and req.restructuring_reasons == ["days_past_due:18"]
    result = _grant(session, clock, req, on=date(2025, 3, 5))
    assert result.entries[0].payload["restructured"] is True
    assert get_loan(session, "L1").restructured_on == date(2025, 3, 5)


def test_restructuring_when_other_debts_npl(session, org, clock):
    borrower = make_borrower(session, org, "CORP")
    make_loan(session, org, clock, "L1", borrower=borrower)
    other = make_loan(session, org, clock, "L2", borrower=borrower)
    other.risk_class, other.state = RiskClass.substandard, LoanState.non_performing
    session.add(other)
    session.commit()
    _pay_due(session, clock, date(2025, 10, 1))  # L1 itself is paid up
    req = _request(session, financial_difficulty=False)
    assert req.restructuring_reasons == ["other_npl_loan:L2"]


def test_arrears_without_restructuring_refused_by_machine(session, org, clock):
    """The lifecycle refuses an ordinary extension of a loan in arrears, whoever calls it."""
    make_loan(session, org, clock)
    req = _request(session, on=date(2025, 3, 5))
    req.restructuring, req.restructuring_reasons = False, []
    req.status = ExtensionStatus.approved
    req.approved_by = "head_bj"
    session.add(req)
    session.flush()
    with pytest.raises(RuleViolationError, match="restructuring"):
        transition_loan(
            session,
            "L1",
            "approve_extension",
            actor="u:head_bj",
            now=clock.now(),
            business_date=date(2025, 3, 5),
            approved_by="head_bj",
            requested_by="am_bj1",
        )


def test_grant_shorter_term_moves_maturity_by_approved_months(session, org, clock):
    make_loan(session, org, clock)
    req = _request(session)  # asks 6 months: 2026-01-15 → 2026-07-15
    _grant(session, clock, req, approved_months=3)
    assert get_loan(session, "L1").maturity_date == date(2026, 4, 15)
    assert req.approved_months == 3


def _extend(session, clock, on=date(2025, 10, 2), **kw):
    req = _request(session, on=on, **kw)
    result = _grant(session, clock, req, on=on)
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
