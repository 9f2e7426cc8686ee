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


def _tracking_case(session, clock, small):
    """A confirmed case whose first follow-up report is due with its owner, am_bj1."""
    case = _raise(session, clock)
    request = session.get(ApprovalRequest, case.request_id)
    decide(session, clock, level_task(session, request), "head_bj", PLAN)
    decide(session, clock, level_task(session, request), "committee1", PLAN)
    [tracking] = session.exec(select(HumanTask).where(HumanTask.kind == "warning_tracking")).all()
    return case, tracking


RESOLVED = {"reported_on": "2025-10-20", "measures_taken": ["more_collateral"],
            "progress": "已追加保证人", "outcome": "resolved"}  # fmt: skip


def test_head_who_took_over_a_late_report_closes_the_case(session, clock, small):
    """The owner did not report: the SLA gave the report to the branch head, who files it and
    may close the case (found by `postloan simulate`: heads were refused, the case stayed open)."""
    from core.calendar import get_calendar
    from core.settings import get_settings
    from tasks.escalation import escalate_overdue

    case, tracking = _tracking_case(session, clock, small)
    late = get_calendar().add_business_days(  # reminded, then given to the branch's head
        tracking.due_date, get_settings().sla_head_after_business_days
    )
    escalate_overdue(session, on=late, calendar=get_calendar(), actor="system:sla",
                     now=clock.now())  # fmt: skip
    session.commit()
    session.refresh(tracking)
    assert (tracking.candidate_role, tracking.candidate_user_id) == ("branch_head", None)
    decide(session, clock, tracking, "head_bj", RESOLVED, on=late)
    session.refresh(case)
    assert case.state == WarningState.closed and case.closed_on == late
    from audit.journal import JournalEntry

    entry = session.exec(
        select(JournalEntry).where(
            JournalEntry.aggregate_type == "warning", JournalEntry.event == "close"
        )  # fmt: skip
    ).one()
    assert entry.actor == "u:head_bj"


def test_close_needs_the_owner_or_the_head_who_took_the_report_over():
    from core.errors import PermissionDeniedError
    from statemachines.warning_case import WarningCaseLifecycle, WarningFacts

    class Case:
        state = WarningState.tracking

    with pytest.raises(PermissionDeniedError, match="负责人"):
        WarningCaseLifecycle.restore(Case()).fire("close", facts=WarningFacts(actor="u:am_bj2"))
    for facts in (WarningFacts(actor="u:am_bj1", is_owner=True),
                  WarningFacts(actor="u:head_bj", took_over=True)):  # fmt: skip
        case = Case()
        WarningCaseLifecycle.restore(case).fire("close", facts=facts)
        assert case.state == WarningState.closed


def test_head_reporting_on_own_branch_goes_straight_to_the_committee(session, clock, small):
    """head_bj is the only branch head who may decide level 1 on a BJ01 loan, and four eyes
    refuses them their own report: level 1 is passed on to the committee at once, journaled,
    rather than left where nobody can decide it (found by `postloan simulate`)."""
    from audit.journal import JournalEntry

    case = raise_warning(session, "L1", who(session, "head_bj"), EFFECTS, now=clock.now(),
                         business_date=TODAY, signals=["customer_bankrupt"],
                         description="主要客户破产")  # fmt: skip
    session.commit()
    request = session.get(ApprovalRequest, case.request_id)
    assert (request.state, request.level) == (RequestState.pending, 2)
    assert (
        session.exec(
            select(HumanTask).where(HumanTask.key == f"approval:{request.id}:r1:l1")
        ).first()
        is None
    )  # no task for a level nobody may decide
    task = level_task(session, request)
    assert task.candidate_role == "credit_committee"
    [amend] = session.exec(
        select(JournalEntry).where(
            JournalEntry.aggregate_type == "approval",
            JournalEntry.aggregate_id == str(request.id),
            JournalEntry.event == "amend",
        )  # fmt: skip
    ).all()
    assert amend.actor.startswith("system:") and amend.payload["skipped_level"] == 1
    assert "四眼" in amend.reason and "head_bj" in amend.reason
    decide(session, clock, task, "committee1", PLAN)
    session.refresh(case)
    assert case.state == WarningState.tracking


def test_sub_branch_head_report_is_decided_by_the_head_above(session, org, clock):
    """A BJ0101 loan reported by a BJ0101 head: BJ01's head may still decide level 1."""
    from core.identity import Role, add_user
    from tests.factories import make_loan

    add_user(session, username="head_bj0101", full_name="海淀支行负责人",
             org_unit=org.units["BJ0101"], roles=[Role.branch_head], password="x")  # fmt: skip
    make_loan(session, org, clock, "L9", branch="BJ0101", manager="am_bj3")
    session.commit()
    case = raise_warning(session, "L9", who(session, "head_bj0101"), EFFECTS, now=clock.now(),
                         business_date=TODAY, signals=["customer_bankrupt"],
                         description="主要客户破产")  # fmt: skip
    session.commit()
    request = session.get(ApprovalRequest, case.request_id)
    assert request.level == 1 and level_task(session, request).candidate_role == "branch_head"
