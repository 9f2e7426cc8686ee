"""Approval-chain fixtures: a small and a large loan, acting as any demo user, and the steps a
person takes — claim the level's task and complete it — through the one completion entry point."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlmodel import Session, select

from approvals.models import ApprovalRequest
from cases.completion import complete_task
from core.identity import user_by_username
from loans.book import get_loan, installments_of
from loans.payments import record_payment
from statemachines.enums import TaskState
from tasks import service
from tasks.access import Actor, actor_for
from tasks.models import HumanTask
from tests.factories import make_loan

TODAY = date(2025, 10, 9)  # a Thursday; the 12-month loans disbursed 2025-01-15 mature 2026-01-15
BIG = 20_000_000_00  # ¥6.7M outstanding on TODAY: above a branch head's ¥5M authority


@pytest.fixture(autouse=True)
def attachments_dir(tmp_path, monkeypatch):
    from core.settings import get_settings

    monkeypatch.setenv("POSTLOAN_ATTACHMENTS_DIR", str(tmp_path / "attachments"))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def pay_through(session: Session, clock, loan_no: str, until: date) -> None:
    """Every installment due up to `until` paid on its due date."""
    loan = get_loan(session, loan_no)
    for inst in installments_of(session, loan.id or 0):
        if inst.due_date <= until and inst.outstanding_cents:
            record_payment(
                session,
                loan,
                payment_ref=f"{loan_no}-P{inst.seq_no}",
                value_date=inst.due_date,
                amount_cents=inst.outstanding_cents,
                actor="system:test",
                now=clock.now(),
                business_date=inst.due_date,
            )
    session.commit()


@pytest.fixture
def small(session, org, clock):
    """L1: ¥120,000, lead am_bj1, assistant am_bj2, paid up to today."""
    loan = make_loan(session, org, clock, "L1")
    loan.assistant_manager_id = org.users["am_bj2"].id
    session.add(loan)
    session.commit()
    pay_through(session, clock, "L1", TODAY)
    return get_loan(session, "L1")


@pytest.fixture
def big(session, org, clock):
    """L2: ¥20,000,000 (¥6.7M outstanding), lead am_bj1, paid up to today."""
    make_loan(session, org, clock, "L2", principal_cents=BIG)
    pay_through(session, clock, "L2", TODAY)
    return get_loan(session, "L2")


def who(session: Session, username: str, on: date = TODAY) -> Actor:
    return actor_for(session, user_by_username(session, username), on)


def level_task(session: Session, request: ApprovalRequest) -> HumanTask:
    """The open task of the request's deciding level (there is exactly one)."""
    [task] = session.exec(
        select(HumanTask).where(
            HumanTask.key == f"approval:{request.id}:r{request.round}:l{request.level}",
            HumanTask.state.in_([s.value for s in TaskState if s.is_active]),  # type: ignore[attr-defined]
        )
    ).all()
    return task


def decide(
    session: Session, clock, task: HumanTask, username: str, data: dict[str, Any], on: date = TODAY
) -> HumanTask:
    actor = who(session, username, on)
    service.claim(session, task.id, actor, now=clock.now(), business_date=on)
    done = complete_task(session, task.id, actor, data, now=clock.now(), business_date=on)
    session.commit()
    return done


APPROVE_EXTENSION = {
    "decision": "approve",
    "opinion": "经营正常，同意展期",
    "guarantor_consent_filed": True,
    "approved_term_months": 6,
}
REJECT = {"decision": "reject", "opinion": "还款来源不足，不同意"}
