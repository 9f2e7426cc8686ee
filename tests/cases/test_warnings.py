"""Early-warning cases: reported by a person or raised by a flow, graded and given an owner and a
plan by the warning-disposition chain; a confirmed serious signal moves the loan to *watched* and
opens a classification proposal; the owner tracks the case to closure; a rejected one is dismissed."""

from __future__ import annotations

from datetime import date

import pytest
from sqlmodel import select

from approvals.models import ApprovalRequest
from cases.completion import EFFECTS
from cases.models import WarningCase
from cases.warnings import raise_warning
from core.errors import ValidationError
from loans.book import get_loan
from statemachines.enums import LoanState, RequestState, WarningState
from tasks.models import HumanTask
from tests.approvals.conftest import TODAY, decide, level_task, who

PLAN = {
    "decision": "approve",
    "signal_grade": "orange",
    "measures": ["more_collateral", "move_to_watch"],
    "disposal_plan": "一个月内追加保证人",
    "owner": "am_bj1",
    "deadline": "2025-11-07",
    "opinion": "同意",
}


def _raise(session, clock, **kw):
    params = dict(signals=["customer_bankrupt"], description="主要客户破产，应收账款难以收回")
    params.update(kw)
    case = raise_warning(session, "L1", who(session, "am_bj1"), EFFECTS, now=clock.now(),
                         business_date=TODAY, **params)  # fmt: skip
    session.commit()
    return case


def test_serious_signal_confirmed_watched_proposal_owner_closes(session, clock, small):
    case = _raise(session, clock)
    request = session.get(ApprovalRequest, case.request_id)
    assert (request.kind, request.requested_by) == ("warning", "u:am_bj1")
    first = level_task(session, request)
    assert first.kind == "warning_disposition" and first.context["facts"]["signals"] == [
        "customer_bankrupt"
    ]
    decide(session, clock, first, "head_bj", PLAN)
    assert case.state == WarningState.raised and get_loan(session, "L1").state == LoanState.normal
    decide(session, clock, level_task(session, request), "committee1", PLAN)
    session.refresh(case)
    assert (case.state, case.grade, case.owner_id) == (
        WarningState.tracking,
        "orange",
        small.account_manager_id,
    )
    assert get_loan(session, "L1").state == LoanState.watched
    proposal = session.exec(
        select(ApprovalRequest).where(ApprovalRequest.kind == "classification")
    ).one()
    assert (proposal.state, proposal.subject["proposed_class"]) == (
        RequestState.pending,
        "special_mention",
    )
    [tracking] = session.exec(select(HumanTask).where(HumanTask.kind == "warning_tracking")).all()
    assert tracking.candidate_user_id == small.account_manager_id
    assert tracking.due_date <= date(2025, 11, 7)
    decide(session, clock, tracking, "am_bj1", {
        "reported_on": "2025-10-20", "measures_taken": ["more_collateral"],
        "progress": "已追加保证人", "outcome": "resolved",
    })  # fmt: skip
    session.refresh(case)
    assert case.state == WarningState.closed and case.closed_on == TODAY


def test_rejected_disposition_dismisses_the_case(session, clock, small):
    case = _raise(session, clock)
    request = session.get(ApprovalRequest, case.request_id)
    decide(session, clock, level_task(session, request), "head_bj",
           PLAN | {"decision": "reject", "opinion": "信号不成立"})  # fmt: skip
    session.refresh(case)
    assert case.state == WarningState.dismissed


def test_owner_outside_the_branch_refused(session, clock, small):
    case = _raise(session, clock)
    request = session.get(ApprovalRequest, case.request_id)
    with pytest.raises(ValidationError) as info:
        decide(session, clock, level_task(session, request), "head_bj", PLAN | {"owner": "am_sh1"})
    assert info.value.errors[0]["field"] == "owner"


def test_unknown_signal_refused_and_flow_signal_keyed_once(session, clock, small):
    with pytest.raises(ValidationError) as info:
        _raise(session, clock, signals=["moon_phase"])
    assert info.value.errors[0]["field"] == "signals"
    session.rollback()
    first = raise_warning(session, "L1", "system:collection-ladder", EFFECTS, signals=["dpd_rise"],
                          description="逾期超过30天", key="dpd_rise:collection:1",
                          now=clock.now(), business_date=TODAY)  # fmt: skip
    again = raise_warning(session, "L1", "system:collection-ladder", EFFECTS, signals=["dpd_rise"],
                          description="逾期超过30天", key="dpd_rise:collection:1",
                          now=clock.now(), business_date=TODAY)  # fmt: skip
    assert first.id == again.id and len(session.exec(select(WarningCase)).all()) == 1


def test_inspection_with_risk_raises_a_signal(session, org, clock, small):
    from tests.tasks.conftest import new_task
    from tests.tasks.payloads import LOAN_CARD_CHECK

    task = new_task(session, org, clock, small, key="lc:L1:2025-10")
    decide(session, clock, task, "am_bj1", LOAN_CARD_CHECK | {"conclusion": "risk"})
    case = session.exec(select(WarningCase)).one()
    assert (case.signals, case.key) == (["inspection_finding"], f"inspection:{task.id}")


def test_second_signal_joins_the_case_under_disposition(session, clock, small):
    first = _raise(session, clock)
    again = _raise(session, clock, signals=["customer_bankrupt", "unreachable"],
                   description="借款人实际控制人失联")  # fmt: skip
    assert again.id == first.id and again.signals == ["customer_bankrupt", "unreachable"]
    request = session.get(ApprovalRequest, first.request_id)
    assert level_task(session, request).context["facts"]["signals"] == again.signals
    assert len(session.exec(select(WarningCase)).all()) == 1
    same = _raise(session, clock, signals=["unreachable"], description="同上")
    assert same.description == again.description  # nothing new: nothing added
