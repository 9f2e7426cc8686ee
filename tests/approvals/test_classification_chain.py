"""五级分类 through its chain: the class changes only at the end, with the lifecycle, never better
than the floor; the sweep's automatic proposals — one live per loan, raised as the floor worsens,
proposed again after a chain ends with the loan still below its floor; write-off and handover."""

from __future__ import annotations

from datetime import date

import pytest
from sqlmodel import Session, select

from approvals.filing import file_handover, file_write_off, propose_classification
from approvals.models import ApprovalRequest
from audit.journal import JournalEntry
from cases.completion import EFFECTS
from core.errors import ValidationError
from flows.daily_sweep import run_chunk
from loans.book import get_loan
from loans.transitions import reclassify_loan
from statemachines.enums import LoanState, RequestState, RiskClass
from tests.approvals.conftest import TODAY, decide, level_task, who
from tests.factories import make_loan

CONFIRM_SM = {"decision": "approve", "confirmed_class": "special_mention", "opinion": "经营下滑"}


def _sweep(day: date) -> dict:
    return run_chunk(day, 1, 10**9)


def _requests(session: Session) -> list[ApprovalRequest]:
    session.expire_all()
    return list(session.exec(select(ApprovalRequest).order_by(ApprovalRequest.id)).all())


def test_proposal_head_then_committee_moves_class_and_lifecycle_together(session, clock, small):
    request = propose_classification(
        session, "L1", who(session, "am_bj1"), EFFECTS, proposed_class=RiskClass.special_mention,
        reason="主要客户流失，销售额下降三成", now=clock.now(), business_date=TODAY,
    )  # fmt: skip
    session.commit()
    first = level_task(session, request)
    assert (first.kind, first.candidate_role) == ("classification_review", "branch_head")
    decide(session, clock, first, "head_bj", CONFIRM_SM)
    loan = get_loan(session, "L1")
    assert (loan.risk_class, request.level) == (RiskClass.pass_, 2)  # unchanged until the end
    decide(session, clock, level_task(session, request), "committee1", CONFIRM_SM)
    loan = get_loan(session, "L1")
    assert (loan.risk_class, loan.state) == (RiskClass.special_mention, LoanState.watched)
    entries = session.exec(
        select(JournalEntry).where(JournalEntry.aggregate_id == "L1").order_by(JournalEntry.id)
    ).all()
    assert [(e.event, e.actor) for e in entries[-2:]] == [
        ("classify_special_mention", "u:committee1"),
        ("flag_risk", "u:committee1"),
    ]
    assert entries[-1].payload["approval_request_id"] == request.id


def test_sweep_proposal_refuses_class_better_than_floor_then_npl_with_lifecycle(
    session, org, clock
):
    make_loan(session, org, clock, "L3")  # never pays: 2025-02-15 unpaid
    day = date(2025, 5, 20)  # 94 days past due: floor 次级
    _sweep(day)
    [request] = _requests(session)
    assert (request.kind, request.requested_by, request.subject["proposed_class"]) == (
        "classification",
        "system:daily-sweep",
        "substandard",
    )
    task = level_task(session, request)
    assert task.context["facts"]["floor"] == "substandard" and task.title.startswith("五级分类")
    with pytest.raises(ValidationError) as info:
        decide(session, clock, task, "head_bj",
               {"decision": "approve", "confirmed_class": "pass", "opinion": "客户承诺还款"}, on=day)  # fmt: skip
    assert info.value.errors[0]["field"] == "confirmed_class"
    assert "次级" in info.value.errors[0]["message"]
    session.rollback()
    confirm = {"decision": "approve", "confirmed_class": "substandard", "opinion": "逾期超过90天"}
    decide(session, clock, level_task(session, request), "head_bj", confirm, on=day)
    decide(session, clock, level_task(session, request), "committee1", confirm, on=day)
    loan = get_loan(session, "L3")
    assert (loan.risk_class, loan.state) == (RiskClass.substandard, LoanState.non_performing)


def test_automatic_proposal_one_live_raised_as_floor_worsens(session, org, clock):
    make_loan(session, org, clock, "L3")
    assert _sweep(date(2025, 3, 1))["proposals_opened"] == 1  # 14 days: 关注
    assert _sweep(date(2025, 3, 1))["proposals_opened"] == 0  # a re-run: nothing new
    again = _sweep(date(2025, 5, 20))  # 94 days: 次级 — the waiting proposal is raised
    assert (again["proposals_opened"], again["proposals_raised"]) == (0, 1)
    [request] = _requests(session)
    assert request.subject["proposed_class"] == "substandard"
    task = level_task(session, request)
    assert "→次级" in task.title and task.context["facts"]["proposed_class"] == "substandard"
    amend = session.exec(select(JournalEntry).where(JournalEntry.event == "amend")).one()
    assert (amend.payload["from"], amend.payload["to"]) == ("special_mention", "substandard")


def test_rejected_automatic_proposal_raised_again_while_below_floor(session, org, clock):
    make_loan(session, org, clock, "L3")
    day = date(2025, 3, 1)
    _sweep(day)
    [first] = _requests(session)
    decide(session, clock, level_task(session, first), "head_bj",
           {"decision": "reject", "opinion": "客户已承诺下周还款"}, on=day)  # fmt: skip
    assert first.state == RequestState.rejected
    assert _sweep(date(2025, 3, 2))["proposals_opened"] == 1  # still below its floor
    requests = _requests(session)
    assert [r.state for r in requests] == [RequestState.rejected, RequestState.pending]


def test_automatic_proposal_cannot_be_returned(session, org, clock):
    make_loan(session, org, clock, "L3")
    _sweep(date(2025, 3, 1))
    [request] = _requests(session)
    with pytest.raises(Exception, match="no applicant"):
        decide(session, clock, level_task(session, request), "head_bj",
               {"decision": "return_for_revision", "opinion": "?"}, on=date(2025, 3, 1))  # fmt: skip


def _npl(session, clock, loan_no, target, on):
    reclassify_loan(session, loan_no, target, actor="system:test", now=clock.now(),
                    business_date=on, reason="floor")  # fmt: skip
    session.commit()


def test_upgrade_out_of_npl_without_record_refused_at_once(session, org, clock):
    from tests.approvals.conftest import pay_through

    make_loan(session, org, clock, "L3")
    from loans.transitions import transition_loan

    transition_loan(session, "L3", "mark_overdue", actor="system:test", now=clock.now(),
                    business_date=date(2025, 2, 20))  # fmt: skip
    _npl(session, clock, "L3", RiskClass.substandard, date(2025, 5, 20))
    pay_through(session, clock, "L3", date(2025, 5, 25))  # valued on the due dates… too late
    with pytest.raises(ValidationError) as info:
        propose_classification(
            session, "L3", who(session, "am_bj1", date(2025, 6, 1)), EFFECTS,
            proposed_class=RiskClass.special_mention, reason="欠款已还清",
            now=clock.now(), business_date=date(2025, 6, 1),
        )  # fmt: skip
    assert info.value.errors[0]["field"] == "proposed_class"
    assert "期中已按时足额还款" in info.value.errors[0]["message"]
    assert "repayment periods" in info.value.errors[0]["message_en"]


def test_write_off_only_for_loss(session, org, clock):
    make_loan(session, org, clock, "L3")
    from loans.transitions import transition_loan

    transition_loan(session, "L3", "mark_overdue", actor="system:test", now=clock.now(),
                    business_date=date(2025, 2, 20))  # fmt: skip
    _npl(session, clock, "L3", RiskClass.substandard, date(2025, 5, 20))
    day = date(2026, 3, 1)
    with pytest.raises(ValidationError, match="loss"):
        file_write_off(session, "L3", who(session, "am_bj1", day), EFFECTS, reason="无法收回",
                       now=clock.now(), business_date=day)  # fmt: skip
    session.rollback()
    _npl(session, clock, "L3", RiskClass.loss, day)
    request = file_write_off(session, "L3", who(session, "am_bj1", day), EFFECTS,
                             reason="借款人破产，担保人无代偿能力", now=clock.now(), business_date=day)  # fmt: skip
    session.commit()
    task = level_task(session, request)
    assert (task.kind, task.candidate_role) == ("write_off_review", "credit_committee")
    decide(session, clock, task, "committee1", {
        "decision": "approve", "recovery_prospects": "无", "committee_meeting_ref": "贷审会〔2026〕3号",
        "opinion": "同意核销",
    }, on=day)  # fmt: skip
    assert get_loan(session, "L3").state == LoanState.written_off


def test_handover_to_asset_disposal_records_owner(session, org, clock):
    make_loan(session, org, clock, "L3")
    from loans.transitions import transition_loan

    transition_loan(session, "L3", "mark_overdue", actor="system:test", now=clock.now(),
                    business_date=date(2025, 2, 20))  # fmt: skip
    _npl(session, clock, "L3", RiskClass.doubtful, date(2025, 11, 20))
    day = date(2025, 12, 1)
    request = file_handover(session, "L3", who(session, "am_bj1", day), EFFECTS,
                            reason="清收无进展，移交资产处置", now=clock.now(), business_date=day)  # fmt: skip
    session.commit()
    task = level_task(session, request)
    assert (task.candidate_role, task.candidate_org_path) == ("department_head", "/HO/HO-CR/")
    with pytest.raises(ValidationError) as info:
        decide(session, clock, task, "head_cr",
               {"decision": "approve", "disposal_owner": "am_bj2", "opinion": "同意"}, on=day)  # fmt: skip
    assert info.value.errors[0]["field"] == "disposal_owner"
    session.rollback()
    decide(session, clock, level_task(session, request), "head_cr",
           {"decision": "approve", "disposal_owner": "disposal", "opinion": "同意移交"}, on=day)  # fmt: skip
    loan = get_loan(session, "L3")
    assert loan.handed_over and loan.state == LoanState.non_performing
    entry = session.exec(select(JournalEntry).where(JournalEntry.event == "hand_over")).one()
    assert (entry.payload["owner"], entry.actor) == ("disposal", "u:head_cr")


def test_payment_after_write_off_is_a_recorded_recovery(session, org, clock):
    from loans.payments import record_payment
    from loans.transitions import transition_loan

    make_loan(session, org, clock, "L3")
    transition_loan(session, "L3", "mark_overdue", actor="system:test", now=clock.now(),
                    business_date=date(2025, 2, 20))  # fmt: skip
    day = date(2026, 3, 1)
    _npl(session, clock, "L3", RiskClass.loss, day)
    request = file_write_off(session, "L3", who(session, "am_bj1", day), EFFECTS,
                             reason="无法收回", now=clock.now(), business_date=day)  # fmt: skip
    session.commit()
    decide(session, clock, level_task(session, request), "committee1", {
        "decision": "approve", "recovery_prospects": "渺茫", "committee_meeting_ref": "贷审会〔2026〕5号",
        "opinion": "同意核销",
    }, on=day)  # fmt: skip
    record_payment(session, get_loan(session, "L3"), payment_ref="REC-1", value_date=date(2026, 5, 6),
                   amount_cents=30_000_00, actor="system:test", now=clock.now(),
                   business_date=date(2026, 5, 6))  # fmt: skip
    session.commit()
    [recovery] = session.exec(
        select(JournalEntry).where(JournalEntry.event == "record_recovery")
    ).all()
    assert (recovery.from_state, recovery.to_state) == ("written_off", "written_off")
    assert recovery.payload["amount_cents"] == 30_000_00
    assert get_loan(session, "L3").state == LoanState.written_off
