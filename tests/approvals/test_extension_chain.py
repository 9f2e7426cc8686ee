"""展期 through its chain at the service level: authority by amount, four eyes at every level,
rejection, withdrawal, the rules refused at once, restructuring from facts."""

from __future__ import annotations

from datetime import date

import pytest
from sqlmodel import select

from approvals.filing import file_extension
from approvals.models import ApprovalDecision
from approvals.requests import withdraw
from audit.replay import replay
from cases.completion import EFFECTS
from core.errors import (
    ConflictError,
    InsufficientAuthorityError,
    NotFoundError,
    PermissionDeniedError,
    SameApproverError,
    SelfApprovalError,
    ValidationError,
)
from core.identity import Role, user_by_username
from loans.book import get_loan, installments_of
from loans.models import ExtensionRequest, ExtensionStatus
from statemachines.enums import LoanState, RequestState, TaskState
from tasks.models import HumanTask, Outbox
from tests.approvals.conftest import APPROVE_EXTENSION, REJECT, TODAY, decide, level_task, who


def _file(session, clock, loan_no="L2", new=date(2026, 7, 15), by="am_bj1", **kw):
    params = dict(new_maturity_date=new, reason="订单回款延迟", financial_difficulty=False)
    params.update(kw)
    request = file_extension(
        session,
        loan_no,
        who(session, by),
        EFFECTS,
        guarantor_consents=params.pop("guarantor_consents", []),
        now=clock.now(),
        business_date=TODAY,
        **params,
    )
    session.commit()
    return request


def test_big_extension_head_then_committee_extends_and_regenerates_schedule(session, clock, big):
    request = _file(session, clock)
    first = level_task(session, request)
    assert (first.kind, first.candidate_role, request.level) == (
        "extension_review",
        "branch_head",
        1,
    )
    assert first.context["facts"]["exposure_cents"] > 5_000_000_00
    decide(session, clock, first, "head_bj", APPROVE_EXTENSION)
    assert (request.state, request.level) == (RequestState.pending, 2)  # above the head's limit
    assert get_loan(session, "L2").state == LoanState.normal
    second = level_task(session, request)
    assert (second.candidate_role, second.candidate_org_path) == ("credit_committee", "/HO/")
    before = [(i.seq_no, i.due_date) for i in installments_of(session, big.id)]
    decide(session, clock, second, "committee1", APPROVE_EXTENSION)
    loan = get_loan(session, "L2")
    assert (request.state, loan.state, loan.maturity_date) == (
        RequestState.approved,
        LoanState.extended,
        date(2026, 7, 15),
    )
    after = installments_of(session, big.id)
    assert after[-1].due_date == date(2026, 7, 15) and len(after) > len(before)
    assert [(i.seq_no, i.due_date) for i in after[:9]] == before[:9]  # paid ones kept
    ext = session.get(ExtensionRequest, request.subject["extension_request_id"])
    assert (ext.status, ext.approved_by, ext.restructuring) == (
        ExtensionStatus.applied,
        "committee1",
        False,
    )
    decisions = session.exec(select(ApprovalDecision).order_by(ApprovalDecision.level)).all()
    assert [(d.level, d.decided_by, d.concluded) for d in decisions] == [
        (1, "head_bj", False),
        (2, "committee1", True),
    ]
    replayed = replay(session, "approval", str(request.id))
    assert replayed.states == {"approval_request": "approved"} and not replayed.problems
    keys = sorted(row.key for row in session.exec(select(Outbox)))
    assert len(keys) == 2  # each decision asks the flow to continue (submitting started it)


def test_small_extension_head_alone_concludes(session, clock, small):
    request = _file(session, clock, loan_no="L1")
    decide(session, clock, level_task(session, request), "head_bj", APPROVE_EXTENSION)
    assert request.state == RequestState.approved and request.level == 1
    assert get_loan(session, "L1").state == LoanState.extended


def test_rejection_records_reason_loan_unchanged(session, clock, small):
    request = _file(session, clock, loan_no="L1")
    decide(session, clock, level_task(session, request), "head_bj", REJECT)
    loan = get_loan(session, "L1")
    assert (request.state, loan.state, loan.maturity_date) == (
        RequestState.rejected,
        LoanState.normal,
        date(2026, 1, 15),
    )
    ext = session.get(ExtensionRequest, request.subject["extension_request_id"])
    assert ext.status == ExtensionStatus.rejected
    entry = replay(session, "approval", str(request.id)).applied[-1]
    assert (entry.event, entry.reason, entry.actor) == ("reject", REJECT["opinion"], "u:head_bj")


def test_self_approval_refused_and_same_person_twice_refused(session, clock, org, big):
    # am_bj1 also holds the branch-head role: still may not decide their own request
    from core.identity import UserRole

    session.add(UserRole(user_id=org.users["am_bj1"].id, role=Role.branch_head))
    session.commit()
    request = _file(session, clock)
    first = level_task(session, request)
    with pytest.raises(SelfApprovalError):
        decide(session, clock, first, "am_bj1", APPROVE_EXTENSION)
    session.rollback()
    # committee1, also holding the head's role at head office, decides level 1 …
    session.add(UserRole(user_id=org.users["committee1"].id, role=Role.branch_head))
    session.commit()
    decide(session, clock, level_task(session, request), "committee1", APPROVE_EXTENSION)
    # … and may not decide level 2 of the same chain
    with pytest.raises(SameApproverError):
        decide(session, clock, level_task(session, request), "committee1", APPROVE_EXTENSION)
    session.rollback()
    assert get_loan(session, "L2").state == LoanState.normal


def test_authority_by_amount_last_level_without_authority_refused(session, clock, big, monkeypatch):
    from core.settings import get_settings

    request = _file(session, clock)
    # a chain configured with the branch head as its only level: the head cannot conclude
    request.chain = request.chain[:1]
    session.add(request)
    session.commit()
    with pytest.raises(InsufficientAuthorityError, match="no level of the chain is above"):
        decide(session, clock, level_task(session, request), "head_bj", APPROVE_EXTENSION)
    session.rollback()
    monkeypatch.setenv("POSTLOAN_EXTENSION_AUTHORITY_BRANCH_HEAD_CENTS", str(10_000_000_00))
    get_settings.cache_clear()
    decide(session, clock, level_task(session, request), "head_bj", APPROVE_EXTENSION)
    assert request.state == RequestState.approved


def test_window_closed_and_term_limit_refused_at_once_nothing_saved(session, clock, small):
    with pytest.raises(ValidationError) as info:
        file_extension(
            session,
            "L1",
            who(session, "am_bj1"),
            EFFECTS,
            new_maturity_date=date(2027, 3, 15),  # 14 months on a 12-month loan
            reason="资金周转",
            financial_difficulty=False,
            guarantor_consents=[],
            now=clock.now(),
            business_date=date(2025, 12, 20),  # 26 days before maturity
        )
    assert {e["rule"] for e in info.value.errors} == {"extension_window", "extension_term_limit"}
    session.rollback()
    assert session.exec(select(HumanTask)).all() == []
    assert session.exec(select(ExtensionRequest)).all() == []


def test_only_the_loans_account_manager_files(session, clock, small):
    with pytest.raises(PermissionDeniedError):
        _file(session, clock, loan_no="L1", by="am_bj3")  # another manager (sub-branch)
    session.rollback()
    with pytest.raises(PermissionDeniedError):
        _file(session, clock, loan_no="L1", by="head_bj")
    session.rollback()
    assert (
        _file(session, clock, loan_no="L1", by="am_bj2").state == RequestState.pending
    )  # assistant


def test_one_live_extension_per_loan(session, clock, small):
    _file(session, clock, loan_no="L1")
    with pytest.raises((ConflictError, ValidationError)):
        _file(session, clock, loan_no="L1")


def test_restructuring_detected_from_facts(session, org, clock):
    from tests.factories import make_loan

    make_loan(session, org, clock, "L3")  # nothing paid: 237 days past due on TODAY
    request = file_extension(
        session,
        "L3",
        who(session, "am_bj1"),
        EFFECTS,
        new_maturity_date=date(2026, 7, 15),
        reason="资金周转",
        financial_difficulty=False,
        guarantor_consents=[],
        now=clock.now(),
        business_date=date(2025, 2, 20),  # 5 days past due, not yet swept
    )
    assert request.subject["restructuring"] is True
    assert request.subject["restructuring_reasons"] == ["days_past_due:5"]
    assert level_task(session, request).context["facts"]["days_past_due"] == 5


def test_withdraw_cancels_open_tasks_and_extension(session, clock, small):
    request = _file(session, clock, loan_no="L1")
    task = level_task(session, request)
    with pytest.raises(NotFoundError):  # another branch does not see it
        withdraw(session, request.id, who(session, "am_sh1"), EFFECTS, reason="x",
                 now=clock.now(), business_date=TODAY)  # fmt: skip
    with pytest.raises(PermissionDeniedError):  # a colleague is not the applicant
        withdraw(session, request.id, who(session, "am_bj2"), EFFECTS, reason="x",
                 now=clock.now(), business_date=TODAY)  # fmt: skip
    session.rollback()
    withdraw(session, request.id, who(session, "am_bj1"), EFFECTS, reason="客户已筹得资金",
             now=clock.now(), business_date=TODAY)  # fmt: skip
    session.commit()
    session.refresh(task)
    assert (request.state, task.state) == (RequestState.withdrawn, TaskState.cancelled)
    ext = session.get(ExtensionRequest, request.subject["extension_request_id"])
    assert ext.status == ExtensionStatus.withdrawn


def test_return_for_revision_resubmit_new_round_same_head_again(session, clock, small):
    request = _file(session, clock, loan_no="L1")
    decide(session, clock, level_task(session, request), "head_bj",
           {"decision": "return_for_revision", "opinion": "请补充订单合同"})  # fmt: skip
    assert request.state == RequestState.returned
    [revision] = session.exec(select(HumanTask).where(HumanTask.kind == "request_revision")).all()
    assert revision.candidate_user_id == user_by_username(session, "am_bj1").id
    decide(session, clock, revision, "am_bj1", {"action": "resubmit", "note": "已补充订单合同"})
    assert (request.state, request.round, request.level) == (RequestState.pending, 2, 1)
    decide(session, clock, level_task(session, request), "head_bj", APPROVE_EXTENSION)
    assert request.state == RequestState.approved  # a new round: the same head may decide again


def test_deputy_decides_on_behalf_with_principals_authority(session, clock, org, small):
    from core.identity import add_substitute

    add_substitute(
        session,
        principal=org.users["head_bj"],
        deputy=org.users["rm_bj"],
        starts_on=date(2025, 10, 1),
        ends_on=date(2025, 10, 31),
    )
    session.commit()
    request = _file(session, clock, loan_no="L1")
    decide(session, clock, level_task(session, request), "rm_bj", APPROVE_EXTENSION)
    [decision] = session.exec(select(ApprovalDecision)).all()
    assert (decision.decided_by, decision.on_behalf_of) == ("rm_bj", "head_bj")
    assert request.state == RequestState.approved
    entry = replay(session, "approval", str(request.id)).applied[-1]
    assert (entry.actor, entry.on_behalf_of) == ("u:rm_bj", "u:head_bj")


def test_level_task_cannot_be_completed_behind_the_requests_back(session, clock, small):
    from statemachines.base import MachineUsageError
    from tasks import service

    request = _file(session, clock, loan_no="L1")
    task = level_task(session, request)
    head = who(session, "head_bj")
    service.claim(session, task.id, head, now=clock.now(), business_date=TODAY)
    with pytest.raises(MachineUsageError, match="cases.completion"):
        service.complete(session, task.id, head, APPROVE_EXTENSION, now=clock.now(),
                         business_date=TODAY)  # fmt: skip
