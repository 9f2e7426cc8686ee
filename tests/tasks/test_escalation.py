"""The SLA ladder walked by the simulated clock: reminded, escalated to the unit's head, then one
level up — each once, on the business calendar — and never a third escalation for the breach; an
approval level is copied up, never reassigned; a head hands an escalated task back."""

from __future__ import annotations

from datetime import date, timedelta

from sqlmodel import select

from audit.journal import JournalEntry
from core.calendar import get_calendar
from core.identity import Role
from statemachines.enums import TaskState
from tasks import service
from tasks.escalation import escalate_overdue, notifications_for
from tasks.models import Notification, TaskEscalation
from tests.tasks.conftest import as_user, new_task

DUE = date(2025, 3, 20)  # a Thursday


def _run_days(session, clock, start, end):
    day, fired = start, []
    while day <= end:
        result = escalate_overdue(
            session, on=day, calendar=get_calendar(), actor="system:sla-escalation", now=clock.now()
        )
        session.commit()
        fired.append((day, result.reminders, result.escalations, result.copies))
        day += timedelta(days=1)
    return fired


def test_sla_breach_reminded_escalated_twice_never_a_third_time(session, org, clock, loan):
    task = new_task(session, org, clock, loan, due=DUE)
    fired = _run_days(session, clock, date(2025, 3, 21), date(2025, 4, 30))
    steps = session.exec(select(TaskEscalation).order_by(TaskEscalation.step)).all()
    assert [(s.step, s.action, s.business_date) for s in steps] == [
        (1, "remind", date(2025, 3, 21)),  # 1 business day after Thursday's due date
        (2, "head", date(2025, 3, 25)),  # 3 business days (over the weekend)
        (3, "up", date(2025, 3, 27)),  # 5 business days
    ]
    assert sum(f[2] for f in fired) == 2  # escalated twice …
    assert _run_days(session, clock, date(2025, 5, 1), date(2025, 5, 3))[-1][1:] == (0, 0, 0)
    session.refresh(task)
    assert (task.state, task.candidate_role, task.candidate_org_path) == (
        TaskState.escalated,
        "department_head",
        "/HO/HO-CR/",
    )
    assert task.context["escalated_from"]["role"] == "account_manager"
    entries = session.exec(
        select(JournalEntry)
        .where(JournalEntry.aggregate_id == str(task.id))
        .order_by(JournalEntry.id)
    ).all()
    assert [e.event for e in entries] == ["open", "remind", "escalate", "escalate"]
    assert [e.to_state for e in entries[2:]] == ["escalated", "escalated"]


def test_reminder_reaches_the_candidates_then_the_head(session, org, clock, loan):
    new_task(session, org, clock, loan, due=DUE)
    _run_days(session, clock, date(2025, 3, 21), date(2025, 3, 25))
    am = notifications_for(session, as_user(session, "am_bj1"))
    head = notifications_for(session, as_user(session, "head_bj"))
    assert [n.message_zh.endswith("尚无人领取") for n in am] == [True]
    assert any("已升级给您处理" in n.message_zh for n in head)
    assert notifications_for(session, as_user(session, "am_sh1")) == []


def test_head_claims_escalated_task_and_hands_it_back(session, org, clock, loan):
    task = new_task(session, org, clock, loan, due=DUE)
    _run_days(session, clock, date(2025, 3, 21), date(2025, 3, 25))
    head = as_user(session, "head_bj")
    service.claim(session, task.id, head, now=clock.now(), business_date=date(2025, 3, 25))
    service.delegate(session, task.id, head, org.users["am_bj2"], now=clock.now(),
                     business_date=date(2025, 3, 25), reason="请李娜本周内完成")  # fmt: skip
    session.commit()
    assert (task.state, task.assignee_id) == (TaskState.claimed, org.users["am_bj2"].id)


def test_approval_task_copied_up_not_reassigned(session, org, clock, loan):
    task = new_task(
        session, org, clock, loan, kind="extension_review", key="approval:9:r1:l1",
        role=Role.branch_head, due=DUE, context={"approval_request_id": 9},
    )  # fmt: skip
    _run_days(session, clock, date(2025, 3, 21), date(2025, 3, 31))
    session.refresh(task)
    assert (task.state, task.candidate_role) == (TaskState.open, "branch_head")
    actions = [s.action for s in session.exec(select(TaskEscalation).order_by(TaskEscalation.step))]
    assert actions == ["remind", "head_copy", "up_copy"]
    copies = session.exec(
        select(Notification).where(Notification.message_zh.startswith("抄送"))
    ).all()
    assert {n.org_path for n in copies} == {"/HO/BJ01/", "/HO/HO-CR/"}


def test_done_task_is_not_escalated(session, org, clock, loan):
    from tests.tasks.payloads import LOAN_CARD_CHECK

    task = new_task(session, org, clock, loan, due=DUE)
    am = as_user(session, "am_bj1")
    service.claim(session, task.id, am, now=clock.now(), business_date=DUE)
    service.complete(session, task.id, am, LOAN_CARD_CHECK, now=clock.now(), business_date=DUE)
    session.commit()
    assert _run_days(session, clock, date(2025, 3, 21), date(2025, 4, 5))[-1][1:] == (0, 0, 0)
    assert session.exec(select(TaskEscalation)).all() == []
