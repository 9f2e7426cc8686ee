"""A small hand-built book for the operations report (March 2026, report date D = 2026-03-20):
inspection tasks opened, claimed, completed, escalated and cancelled through the real services;
collection contacts and promises as stored rows (their history is the point). `later_work` does
what happens after D; figures as of D must not move. The expected numbers are in the tests."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

from sqlmodel import Session, select

from audit import journal
from cases.models import CollectionCase, CollectionPromise
from core.calendar import BusinessCalendar
from core.clock import FixedClock
from core.identity import User
from loans.book import LOAN
from loans.demo import DemoOrg
from loans.models import Loan
from statemachines.enums import LoanState, TaskState
from tasks import service, submission
from tasks.access import actor_for
from tasks.escalation import escalate_overdue
from tasks.models import HumanTask
from tasks.opening import TaskSpec, open_task
from tests.factories import make_loan
from tests.tasks.payloads import LOAN_CARD_CHECK

D = date(2026, 3, 20)  # a Friday
SHANGHAI = FixedClock().tz


def at(day: date, hour: int = 10, minute: int = 0) -> datetime:
    """A moment of a business day in bank time, as the UTC the clock gives."""
    return datetime.combine(day, time(hour, minute), SHANGHAI).astimezone(UTC)


def _loan(session: Session, loan_no: str) -> Loan:
    return session.exec(select(Loan).where(Loan.loan_no == loan_no)).one()


def open_(session: Session, org: DemoOrg, key: str, loan_no: str, due: date, *,
          kind: str = "loan_card_check", opened: date = date(2026, 3, 1)) -> HumanTask:  # fmt: skip
    loan = _loan(session, loan_no)
    manager = session.get(User, loan.account_manager_id)
    spec = TaskSpec(
        kind=kind, key=key, title=key, due_date=due, org_unit=org.units["BJ01"],
        candidate_user=manager, loan=loan,
    )  # fmt: skip
    task, _ = open_task(session, spec, actor="system:test", now=at(opened, 8), business_date=opened)
    session.commit()
    return task


def complete(session: Session, task: HumanTask, moment: datetime) -> None:
    """Claim and complete through the services (a loan-card check), or — for kinds whose form
    needs attachments or a case — store the completion as the service would."""
    assert task.id is not None
    if task.kind != "loan_card_check":
        register(session, task, moment, result={})
        return
    manager = session.get(User, task.candidate_user_id)
    assert manager is not None
    actor = actor_for(session, manager, moment.astimezone(SHANGHAI).date())
    day = moment.astimezone(SHANGHAI).date()
    service.claim(session, task.id, actor, now=moment, business_date=day)
    submission.complete(session, task.id, actor, LOAN_CARD_CHECK, now=moment, business_date=day)
    session.commit()


def register(session: Session, task: HumanTask, moment: datetime, result: dict[str, Any]) -> None:
    task.state, task.completed_at, task.result = TaskState.completed, moment, result
    task.completed_by_id = task.candidate_user_id
    session.add(task)
    session.commit()


def cancel(session: Session, task: HumanTask, day: date) -> None:
    service.cancel_as_system(
        session, task, actor="system:test", reason="贷款已结清", now=at(day), business_date=day
    )
    session.commit()


def settle(session: Session, loan_no: str, day: date) -> None:
    """The loan's settlement as its journal records it (the closing date lives there)."""
    loan = _loan(session, loan_no)
    loan.state = LoanState.settled
    session.add(loan)
    journal.append(
        session, aggregate_type=LOAN, aggregate_id=loan_no, machine="loan_lifecycle",
        event="settle", from_state="normal", to_state="settled", actor="system:test",
        now=at(day), business_date=day,
    )  # fmt: skip
    session.commit()


def build(session: Session, org: DemoOrg, clock: FixedClock) -> dict[str, HumanTask]:
    """The book as it stood at the end of D."""
    for loan_no, branch, manager, disbursed in (
        ("L1", "BJ01", "am_bj1", date(2025, 6, 10)),
        ("L2", "BJ01", "am_bj2", date(2025, 6, 10)),
        ("L3", "SH01", "am_sh1", date(2025, 7, 10)),
        ("L4", "BJ01", "am_bj1", date(2026, 4, 1)),  # disbursed after D
        ("L5", "BJ01", "am_bj1", date(2024, 6, 1)),  # settled last year
        ("L6", "BJ01", "am_bj2", date(2025, 1, 10)),  # settled this year
    ):
        make_loan(session, org, clock, loan_no, branch=branch, manager=manager, disbursed=disbursed)
    settle(session, "L5", date(2025, 12, 10))
    settle(session, "L6", date(2026, 2, 15))
    t: dict[str, HumanTask] = {}
    t["A"] = open_(session, org, "A", "L1", date(2026, 3, 19))
    complete(session, t["A"], at(date(2026, 3, 18)))  # on time
    t["B"] = open_(session, org, "B", "L1", date(2026, 3, 10))
    complete(session, t["B"], at(date(2026, 3, 12)))  # late
    t["C"] = open_(session, org, "C", "L1", date(2026, 3, 16), kind="customer_visit")  # open late
    t["D"] = open_(session, org, "D", "L1", date(2026, 3, 20), kind="phone_follow_up")  # due on D
    t["E"] = open_(session, org, "E", "L2", date(2026, 3, 5))
    cancel(session, t["E"], date(2026, 3, 4))  # no longer needed before it fell due
    t["F"] = open_(session, org, "F", "L2", date(2026, 3, 6))  # open late; cancelled after D
    t["G"] = open_(session, org, "G", "L2", date(2026, 2, 19), opened=date(2026, 2, 1))
    complete(session, t["G"], at(date(2026, 3, 2)))  # due in February, registered late in March
    t["H"] = open_(session, org, "H", "L3", date(2026, 3, 19))
    # 2026-03-19 16:30 UTC is 2026-03-20 00:30 in Shanghai: registered a day late
    complete(session, t["H"], datetime(2026, 3, 19, 16, 30, tzinfo=UTC))
    t["I"] = open_(session, org, "I", "L1", date(2026, 3, 25))  # due after D
    t["J"] = open_(session, org, "J", "L2", date(2026, 3, 9))  # open late, escalated to the head
    # the SLA ladder runs on D: J (and F, C) go to the head; who they were opened for stays
    escalate_overdue(session, on=D, calendar=BusinessCalendar(), actor="system:sla", now=at(D, 18))
    session.commit()
    # on-site visits (customer_visit), stored completions
    for key, loan_no, due, done in (
        ("V1", "L1", date(2026, 2, 19), at(date(2026, 2, 10))),
        ("V2", "L2", date(2025, 12, 19), at(date(2025, 12, 15))),  # last year
        ("V3", "L3", date(2026, 1, 20), at(date(2026, 1, 5))),
    ):
        v = open_(session, org, key, loan_no, due, kind="customer_visit", opened=done.date())
        register(session, v, done, {})
    t["V6"] = open_(session, org, "V6", "L6", date(2026, 3, 27), kind="customer_visit")
    _collections(session, org)
    return t


CONTACT = {"channel": "phone", "reached": True, "outcome": "promise_to_pay"}
UNREACHED = {"channel": "phone", "reached": False, "outcome": "unreachable"}


def contact(session: Session, org: DemoOrg, key: str, loan_no: str, day: date,
            result: dict[str, Any], promise: tuple[date, str, date | None] | None = None) -> None:  # fmt: skip
    task = open_(session, org, key, loan_no, day, kind="collection_contact", opened=day)
    register(session, task, at(day, 15), result)
    if promise is not None:
        case = session.exec(
            select(CollectionCase).where(CollectionCase.loan_no == loan_no)
        ).first() or _case(session, loan_no)
        promised_for, state, checked_on = promise
        session.add(CollectionPromise(
            case_id=case.id or 0, task_id=task.id or 0, amount_cents=1_000_00,
            promised_for=promised_for, made_on=day, state=state, checked_on=checked_on,
        ))  # fmt: skip
        session.commit()


def _case(session: Session, loan_no: str) -> CollectionCase:
    loan = _loan(session, loan_no)
    case = CollectionCase(
        loan_id=loan.id or 0,
        loan_no=loan_no,
        step_since=date(2026, 2, 1),
        opened_on=date(2026, 2, 1),
    )
    session.add(case)
    session.commit()
    return case


def _collections(session: Session, org: DemoOrg) -> None:
    march = date(2026, 3, 1)
    contact(session, org, "c0", "L1", date(2026, 2, 25), CONTACT,
            (date(2026, 3, 2), "kept", date(2026, 3, 3)))  # fmt: skip
    contact(session, org, "c1", "L1", march.replace(day=5), CONTACT,
            (date(2026, 3, 10), "kept", date(2026, 3, 11)))  # fmt: skip
    contact(session, org, "c2", "L1", march.replace(day=6), UNREACHED)
    contact(session, org, "c3", "L1", march.replace(day=7),
            {"channel": "visit", "reached": True, "outcome": "refused"})  # fmt: skip
    contact(session, org, "c4", "L1", march.replace(day=12), CONTACT,
            (date(2026, 3, 15), "broken", date(2026, 3, 16)))  # fmt: skip
    # P3 falls due on 03-19 and is checked on 03-21: not settled yet on D
    contact(session, org, "c5", "L1", march.replace(day=18), CONTACT,
            (date(2026, 3, 19), "open", None))  # fmt: skip
    contact(session, org, "c7", "L3", march.replace(day=10),
            {"channel": "phone", "reached": True, "outcome": "hardship"})  # fmt: skip


def later_work(session: Session, org: DemoOrg, t: dict[str, HumanTask]) -> None:
    """What happens after D: completions, a cancellation, a task born late, a promise settled,
    another contact."""
    complete(session, t["C"], at(date(2026, 3, 25)))
    complete(session, t["D"], at(date(2026, 3, 23)))
    cancel(session, session.get(HumanTask, t["F"].id) or t["F"], date(2026, 3, 22))
    open_(session, org, "K", "L2", date(2026, 3, 15), opened=date(2026, 3, 21))  # born late
    complete(session, t["V6"], at(date(2026, 3, 25)))
    promise = session.exec(
        select(CollectionPromise).where(CollectionPromise.promised_for == date(2026, 3, 19))
    ).one()
    promise.state, promise.checked_on = "kept", date(2026, 3, 21)
    session.add(promise)
    session.commit()
    contact(session, org, "c6", "L1", date(2026, 3, 22), UNREACHED)
