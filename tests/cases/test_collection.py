"""The collection ladder walked day by day by the simulated clock (sweep, then ladder, as the
daily flows run them): M1 → legal referral; 3 consecutive and 6 cumulative missed installments;
promises kept and broken; a cured loan leaves the ladder."""

from __future__ import annotations

from datetime import date, timedelta

from sqlmodel import Session, select

from cases.models import CollectionCase, CollectionPromise, WarningCase
from flows.daily_sweep import run_chunk
from flows.escalation import run_ladder_chunk
from loans.book import get_loan, installments_of
from loans.payments import record_payment
from loans.schedule import RepaymentMethod
from statemachines.enums import TaskState
from tasks.models import HumanTask
from tests.approvals.conftest import decide
from tests.factories import make_loan

ACTIVE = [s.value for s in TaskState if s.is_active]


def _day(day: date) -> dict:
    run_chunk(day, 1, 10**9)  # the sweep ages the book …
    return run_ladder_chunk(day, 1, 10**9)  # … then the ladder walks it


def _fresh(session: Session) -> None:
    """End the test session's read transaction (a SQLite WAL snapshot), forget loaded rows."""
    session.commit()
    session.expire_all()


def _case(session: Session) -> CollectionCase:
    _fresh(session)
    return session.exec(select(CollectionCase).order_by(CollectionCase.id.desc())).first()


def _open_tasks(session: Session) -> list[HumanTask]:
    _fresh(session)
    return list(
        session.exec(
            select(HumanTask).where(
                HumanTask.key.startswith("collection:"), HumanTask.state.in_(ACTIVE)
            )
        ).all()
    )


def _walk(session: Session, start: date, end: date) -> list[tuple[int, int]]:
    """(days past due, step) on each day the step changed."""
    seen: list[tuple[int, int]] = []
    day = start
    while day <= end:
        _day(day)
        case = _case(session)
        if case is not None and (not seen or seen[-1][1] != case.step):
            seen.append((get_loan(session, case.loan_no).days_past_due, case.step))
        day += timedelta(days=1)
    return seen


def test_bullet_loan_walks_the_ladder_m1_to_legal_each_step_its_task(session, org, clock):
    make_loan(session, org, clock, "B1", months=6, method=RepaymentMethod.bullet)  # due 07-15
    steps = _walk(session, date(2025, 7, 16), date(2025, 10, 15))
    assert steps == [(1, 1), (16, 2), (31, 3), (61, 4), (91, 5)]  # more pressure at each step
    [legal] = _open_tasks(session)
    assert (legal.kind, legal.candidate_role, legal.candidate_org_path) == (
        "legal_referral",
        "asset_disposal",
        "/HO/",
    )
    superseded = session.exec(select(HumanTask).where(HumanTask.kind == "collection_contact")).all()
    assert superseded and all(t.state == TaskState.cancelled for t in superseded)
    assert {t.context["step"] for t in superseded} == {1, 2, 3, 4}


def test_three_consecutive_missed_installments_go_to_legal_before_90_days(session, org, clock):
    make_loan(session, org, clock, "L3")  # 2025-02-15, 03-15, 04-15 all unpaid
    _day(date(2025, 4, 15))
    assert _case(session).step == 3  # 59 days: on-site visit
    _day(date(2025, 4, 16))
    case = _case(session)
    assert (case.step, case.missed_consecutive) == (5, 3)
    [legal] = _open_tasks(session)
    assert legal.kind == "legal_referral" and legal.context["missed_consecutive"] == 3


def test_six_cumulative_missed_installments_go_to_legal_on_day_one(session, org, clock):
    loan = make_loan(session, org, clock, "L3")
    for inst in installments_of(session, loan.id)[:10]:  # every other one paid ten days late
        paid = inst.due_date + timedelta(days=10 if inst.seq_no % 2 else 0)
        record_payment(session, loan, payment_ref=f"p-{inst.seq_no}", value_date=paid,
                       amount_cents=inst.outstanding_cents, actor="system:test",
                       now=clock.now(), business_date=paid)  # fmt: skip
    session.commit()
    _day(date(2025, 12, 16))  # the 11th (due 12-15) unpaid: one day past due, 6th miss in all
    case = _case(session)
    assert (case.step, case.missed_cumulative, case.missed_consecutive) == (5, 6, 1)


def _contact(promise_amount: str, promise_date: str, contacted_on: str) -> dict:
    return {
        "contacted_on": contacted_on,
        "channel": "phone",
        "contact_person": "借款人本人",
        "reached": True,
        "outcome": "promise_to_pay",
        "promise_amount": promise_amount,
        "promise_date": promise_date,
        "willingness": "high",
        "ability": "low",
        "notes": "承诺月底前还款",
    }


def test_broken_promises_step_up_and_two_raise_a_warning(session, org, clock):
    make_loan(session, org, clock, "L3")
    day = date(2025, 2, 16)
    _day(day)
    [task] = _open_tasks(session)
    assert task.context["step"] == 1 and task.context["channels"] == ["phone", "sms"]
    decide(session, clock, task, "am_bj1", _contact("5000.00", "2025-02-20", "2025-02-16"), on=day)
    case = _case(session)
    assert case.quadrant == "II"  # willing, unable: consider an extension (003)
    _day(date(2025, 2, 21))  # nothing paid by 02-20: broken
    case = _case(session)
    assert (case.broken_promises, case.step) == (1, 2)
    [promise] = session.exec(select(CollectionPromise)).all()
    assert promise.state == "broken"
    [task] = _open_tasks(session)
    assert task.context["step"] == 2 and task.context["strategy_zh"].startswith("考虑展期")
    day = date(2025, 2, 21)
    decide(session, clock, task, "am_bj1", _contact("5000.00", "2025-02-25", "2025-02-21"), on=day)
    _day(date(2025, 2, 26))
    assert _case(session).broken_promises == 2
    warning = session.exec(select(WarningCase)).one()
    assert warning.signals == ["broken_promises"] and warning.request_id is not None


def test_kept_promise_and_cured_loan_leaves_the_ladder(session, org, clock):
    loan = make_loan(session, org, clock, "L3")
    day = date(2025, 2, 16)
    _day(day)
    [task] = _open_tasks(session)
    due = installments_of(session, loan.id)[0].outstanding_cents
    decide(session, clock, task, "am_bj1",
           _contact(f"{due / 100:.2f}", "2025-02-20", "2025-02-16"), on=day)  # fmt: skip
    record_payment(session, get_loan(session, "L3"), payment_ref="kept", value_date=date(2025, 2, 19),
                   amount_cents=due, actor="system:test", now=clock.now(),
                   business_date=date(2025, 2, 19))  # fmt: skip
    session.commit()
    _day(date(2025, 2, 21))
    case = _case(session)
    assert (case.closed_on, case.close_reason) == (date(2025, 2, 21), "cured")
    assert session.exec(select(CollectionPromise)).one().state == "kept"
    assert _open_tasks(session) == []


def test_contact_on_a_channel_the_step_does_not_use_refused(session, org, clock):
    import pytest

    from core.errors import ValidationError

    make_loan(session, org, clock, "L3")
    day = date(2025, 2, 16)
    _day(day)
    [task] = _open_tasks(session)
    data = _contact("1.00", "2025-02-20", "2025-02-16") | {"channel": "lawyer_letter"}
    with pytest.raises(ValidationError) as info:
        decide(session, clock, task, "am_bj1", data, on=day)
    assert info.value.errors[0]["field"] == "channel"


def test_ladder_rerun_same_day_opens_nothing_twice(session, org, clock):
    make_loan(session, org, clock, "L3")
    first = _day(date(2025, 2, 16))
    again = _day(date(2025, 2, 16))
    assert (first["cases_opened"], first["tasks_opened"]) == (1, 1)
    assert (again["cases_opened"], again["tasks_opened"]) == (0, 0)
