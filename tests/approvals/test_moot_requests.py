"""A request nobody can decide any more: the loan it asks about was settled or written off while
it waited. The system withdraws it, saying why, and its open task leaves the decider's inbox —
found by `postloan simulate`, where heads were left approving proposals on settled loans."""

from __future__ import annotations

from datetime import date

from sqlmodel import Session, select

from approvals.filing import file_handover, file_write_off, propose_classification
from approvals.models import ApprovalRequest
from audit.journal import JournalEntry
from cases.completion import EFFECTS
from cases.models import WarningCase
from cases.warnings import raise_warning
from flows.daily_sweep import run_chunk
from loans.book import get_loan, installments_of
from loans.payments import record_payment
from loans.transitions import reclassify_loan, transition_loan
from statemachines.enums import LoanState, RequestState, RiskClass, TaskState, WarningState
from tasks.models import HumanTask
from tests.approvals.conftest import TODAY, decide, level_task, who
from tests.factories import make_loan


def _tasks_of(session: Session, request: ApprovalRequest) -> list[HumanTask]:
    return list(
        session.exec(
            select(HumanTask).where(HumanTask.key.startswith(f"approval:{request.id}:"))  # type: ignore[attr-defined]
        ).all()
    )


def _withdrawal(session: Session, request: ApprovalRequest) -> JournalEntry:
    return session.exec(
        select(JournalEntry).where(
            JournalEntry.aggregate_type == "approval",
            JournalEntry.aggregate_id == str(request.id),
            JournalEntry.event == "withdraw",
        )
    ).one()


def test_loan_settled_by_the_sweep_withdraws_its_pending_proposal(session, clock, small):
    request = propose_classification(
        session, "L1", who(session, "am_bj1"), EFFECTS, proposed_class=RiskClass.special_mention,
        reason="主要客户流失，销售额下降三成", now=clock.now(), business_date=TODAY,
    )  # fmt: skip
    session.commit()
    [task] = _tasks_of(session, request)
    loan = get_loan(session, "L1")
    rest = sum(i.outstanding_cents for i in installments_of(session, loan.id or 0))
    record_payment(session, loan, payment_ref="L1-PREPAY", value_date=TODAY, amount_cents=rest,
                   actor="system:test", now=clock.now(), business_date=TODAY)  # fmt: skip
    session.commit()

    counts = run_chunk(TODAY, 1, 10**9)

    session.expire_all()
    assert get_loan(session, "L1").state == LoanState.settled
    assert session.get(ApprovalRequest, request.id).state == RequestState.withdrawn
    assert counts["requests_withdrawn"] == 1
    task = session.get(HumanTask, task.id)
    assert task.state == TaskState.cancelled  # gone from the head's inbox
    entry = _withdrawal(session, request)
    assert entry.actor == "system:daily-sweep"
    assert "已结清" in (entry.reason or "") and "settled" in (entry.reason or "")
    assert run_chunk(TODAY, 1, 10**9)["requests_withdrawn"] == 0  # a re-run finds nothing


def test_write_off_withdraws_the_loans_other_live_requests(session, org, clock):
    make_loan(session, org, clock, "L3")
    transition_loan(session, "L3", "mark_overdue", actor="system:test", now=clock.now(),
                    business_date=date(2025, 2, 20))  # fmt: skip
    day = date(2026, 3, 1)
    reclassify_loan(session, "L3", RiskClass.loss, actor="system:test", now=clock.now(),
                    business_date=day, reason="floor")  # fmt: skip
    session.commit()
    handover = file_handover(session, "L3", who(session, "am_bj1", day), EFFECTS,
                             reason="清收无进展，移交资产处置", now=clock.now(), business_date=day)  # fmt: skip
    case = raise_warning(session, "L3", who(session, "am_bj1", day), EFFECTS,
                         signals=["customer_bankrupt"], description="借款人已破产",
                         now=clock.now(), business_date=day)  # fmt: skip
    write_off = file_write_off(session, "L3", who(session, "am_bj1", day), EFFECTS,
                               reason="借款人破产，担保人无代偿能力", now=clock.now(), business_date=day)  # fmt: skip
    session.commit()
    warning = session.get(ApprovalRequest, case.request_id)

    decide(session, clock, level_task(session, write_off), "committee1", {
        "decision": "approve", "recovery_prospects": "无", "committee_meeting_ref": "贷审会〔2026〕3号",
        "opinion": "同意核销",
    }, on=day)  # fmt: skip

    session.expire_all()
    assert get_loan(session, "L3").state == LoanState.written_off
    for request in (handover, warning):
        assert session.get(ApprovalRequest, request.id).state == RequestState.withdrawn
        assert {t.state for t in _tasks_of(session, request)} == {TaskState.cancelled}
        entry = _withdrawal(session, request)
        assert entry.actor == "u:committee1" and "已核销" in (entry.reason or "")
    assert session.get(WarningCase, case.id).state == WarningState.dismissed
    assert session.get(ApprovalRequest, write_off.id).state == RequestState.approved


def test_the_step_that_withdrew_is_named_in_chinese_first():
    """Pages name a flow as a person reads it, with its journal name beside."""
    from approvals.queries import person

    assert person({}, "system:daily-sweep") == "系统·日终跑批 (system:daily-sweep)"
    assert person({"am_bj1": "王晓明"}, "u:am_bj1") == "王晓明 (am_bj1)"
    assert person({}, "system:something-new") == "system:something-new"
