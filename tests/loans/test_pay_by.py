"""Due dates on non-business days (issue: a payment on the first working day after the National
Day holiday produced an overdue mark and then a cure). The bank's rule, `installment_due_roll`:
顺延 to the next business day by default, "none" keeps the contract date; it applies to days past
due, to on-time payment and to the overdue notice."""

from __future__ import annotations

from datetime import date

import pytest
from sqlmodel import Session, select

import loans.sweep as sweep
from audit.journal import chain
from core.calendar import BusinessCalendar
from core.settings import get_settings
from loans import aging
from loans.book import get_loan, installments_of
from loans.payments import record_payment
from tasks.models import HumanTask
from tasks.pre_maturity import schedule_pre_maturity
from tests.factories import make_loan

DUE = date(2025, 10, 1)  # 国庆节: 10-01..10-08 closed; 10-09 is the first working day
FIRST_WORKING_DAY = date(2025, 10, 9)


@pytest.fixture
def roll(monkeypatch):
    def set_roll(how: str) -> None:
        monkeypatch.setenv("POSTLOAN_INSTALLMENT_DUE_ROLL", how)
        get_settings.cache_clear()

    yield set_roll
    get_settings.cache_clear()


def _sweep(engine, clock, day: date) -> sweep.SweepResult:
    clock.set_date(day, hour=20)
    result = sweep.sweep_date(lambda: Session(engine, expire_on_commit=False), day, now=clock.now())
    return result


def _fresh(session) -> None:
    """End the test session's read snapshot (SQLite WAL) and forget what the sweep changed."""
    session.commit()
    session.expire_all()


def _pay_first(session, clock, on: date) -> None:
    _fresh(session)
    loan = get_loan(session, "L1")
    clock.set_date(on)
    record_payment(session, loan, payment_ref="P1", value_date=on,
                   amount_cents=installments_of(session, loan.id)[0].outstanding_cents,
                   actor="u:teller", now=clock.now(), business_date=on)  # fmt: skip
    session.commit()


def _moves(session) -> list[str]:
    session.commit()
    return [e.event for e in chain(session, "loan", "L1") if e.machine == "loan_lifecycle"][1:]


def test_paid_on_the_first_working_day_after_the_holiday_is_never_overdue(
    engine, session, org, clock, roll
):
    roll("next")
    loan = make_loan(session, org, clock, disbursed=date(2025, 9, 1))
    assert installments_of(session, loan.id)[0].due_date == DUE
    for day in (date(2025, 10, 2), date(2025, 10, 5), date(2025, 10, 8)):
        _sweep(engine, clock, day)
        _fresh(session)
        assert get_loan(session, "L1").days_past_due == 0
    _pay_first(session, clock, FIRST_WORKING_DAY)
    _sweep(engine, clock, FIRST_WORKING_DAY)
    _sweep(engine, clock, date(2025, 10, 10))
    assert _moves(session) == []  # no overdue mark, no cure
    assert aging.paid_on_time(installments_of(session, loan.id)[0])


def test_unpaid_after_the_pay_by_day_counts_from_it(engine, session, org, clock, roll):
    roll("next")
    loan = make_loan(session, org, clock, disbursed=date(2025, 9, 1))
    _sweep(engine, clock, date(2025, 10, 10))
    _fresh(session)
    assert get_loan(session, "L1").days_past_due == 1  # from 10-09, not 9 from 10-01
    assert aging.days_past_due(installments_of(session, loan.id), date(2025, 10, 10)) == 1
    assert _moves(session) == ["mark_overdue"]


def test_roll_none_keeps_the_contract_date(engine, session, org, clock, roll):
    """The issue's reproduction, as it was: overdue on 10-02, cured on 10-09."""
    roll("none")
    make_loan(session, org, clock, disbursed=date(2025, 9, 1))
    _sweep(engine, clock, date(2025, 10, 2))
    _fresh(session)
    assert get_loan(session, "L1").days_past_due == 1
    _pay_first(session, clock, FIRST_WORKING_DAY)
    _sweep(engine, clock, FIRST_WORKING_DAY)
    assert _moves(session) == ["mark_overdue", "cure"]


def test_maturity_on_a_holiday_overdue_notice_from_the_day_after_it_is_payable(
    session, org, clock, roll
):
    roll("next")
    make_loan(session, org, clock, disbursed=date(2025, 9, 1), months=1)  # matures 10-01
    calendar = BusinessCalendar()

    def notices(on: date) -> dict[str, HumanTask]:
        schedule_pre_maturity(session, on=on, calendar=calendar, actor="system:test",
                              now=clock.now())  # fmt: skip
        session.commit()
        found = session.exec(select(HumanTask).where(HumanTask.kind == "overdue_notice")).all()
        return {t.key: t for t in found}

    assert notices(date(2025, 10, 2)) == {} and notices(FIRST_WORKING_DAY) == {}
    (task,) = notices(date(2025, 10, 10)).values()
    assert task.context["days_overdue"] == 1
    assert task.due_date == date(2025, 10, 13)  # 3 business days after 10-09 (10-11 调休上班)


def test_pay_by_follows_the_setting(roll):
    roll("next")
    assert aging.pay_by(DUE) == FIRST_WORKING_DAY and aging.pay_by(date(2025, 10, 9)) == date(
        2025, 10, 9
    )
    roll("previous")
    assert aging.pay_by(DUE) == date(2025, 9, 30)
    roll("none")
    assert aging.pay_by(DUE) == DUE
