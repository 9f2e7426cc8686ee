"""The sweep moves forward only (issue: sweeping an earlier date corrupted state), and it never
touches a loan before the business date it was booked on."""

from __future__ import annotations

from datetime import date

import pytest
from sqlmodel import Session, select

import loans.sweep as sweep
from audit.replay import replay
from audit.verify import verify_journal
from core.errors import RuleViolationError
from loans.book import get_loan
from loans.models import SweptDay
from statemachines.enums import LoanState
from tests.factories import make_loan


def _sweep(engine, clock, day: date) -> sweep.SweepResult:
    clock.set_date(day, hour=20)
    return sweep.sweep_date(lambda: Session(engine, expire_on_commit=False), day, now=clock.now())


def _events(session: Session) -> list[str]:
    from audit.journal import chain

    session.commit()
    return [e.event for e in chain(session, "loan", "L1")]


def test_sweeping_an_earlier_date_is_refused_and_changes_nothing(engine, session, org, clock):
    """The issue's reproduction: sweep 02-25 (overdue at 10 days), then 02-20 cured the loan
    though nothing was paid, and sweeping 02-25 again journaled a second mark_overdue."""
    make_loan(session, org, clock)
    _sweep(engine, clock, date(2025, 2, 25))
    assert _events(session) == ["open", "open", "mark_overdue"]
    with pytest.raises(RuleViolationError, match="2025-02-25 已经跑过批") as refused:
        _sweep(engine, clock, date(2025, 2, 20))
    assert refused.value.context == {
        "rule": "sweep_date_order",
        "business_date": "2025-02-20",
        "last_swept": "2025-02-25",
    }
    assert "only moves forward" in str(refused.value)
    _sweep(engine, clock, date(2025, 2, 25))  # the same date again: a re-run, nothing new
    assert _events(session) == ["open", "open", "mark_overdue"]
    loan = get_loan(session, "L1")
    assert (loan.state, loan.days_past_due) == (LoanState.overdue, 10)
    assert verify_journal(session).ok


def test_a_chunk_run_alone_is_held_to_the_same_order(engine, session, org, clock):
    make_loan(session, org, clock)
    _sweep(engine, clock, date(2025, 2, 25))
    with pytest.raises(RuleViolationError, match="only moves forward"):
        sweep.sweep_chunk(session, business_date=date(2025, 2, 24), loan_id_from=1,
                          loan_id_to=10**9, now=clock.now())  # fmt: skip
    session.rollback()


def test_swept_days_record_start_and_finish(engine, session, org, clock):
    make_loan(session, org, clock)
    _sweep(engine, clock, date(2025, 2, 20))
    _sweep(engine, clock, date(2025, 2, 21))
    session.commit()
    days = session.exec(select(SweptDay).order_by(SweptDay.business_date)).all()
    assert [d.business_date for d in days] == [date(2025, 2, 20), date(2025, 2, 21)]
    assert all(d.finished_at is not None and d.finished_at >= d.started_at for d in days)


def test_a_loan_booked_today_is_not_moved_by_yesterdays_sweep(engine, session, org, clock):
    """Imported on 03-01 (booked that day, 14 days past due already); the sweep of 02-28 leaves
    it alone, so replay never sees a move before the loan was opened; 03-01's sweep moves it."""
    clock.set_date(date(2025, 3, 1))
    loan = make_loan(session, org, clock, booked=date(2025, 3, 1))
    assert loan.booked_on == date(2025, 3, 1)
    result = _sweep(engine, clock, date(2025, 2, 28))
    assert (result.loans, result.moves) == (0, {})
    assert _events(session) == ["open", "open"]
    assert get_loan(session, "L1").days_past_due == 0
    _sweep(engine, clock, date(2025, 3, 1))
    assert _events(session) == ["open", "open", "mark_overdue"]
    session.commit()
    assert replay(session, "loan", "L1", as_of=date(2025, 2, 28)).problems == []
    assert replay(session, "loan", "L1").problems == []


def test_a_sweep_after_an_anchor_the_same_day_gets_an_anchor_of_its_own(
    engine, session, org, clock
):
    """The issue's reproduction: `audit anchor`, then the sweep of the same date reused the
    earlier anchor, which did not cover the sweep's entries."""
    from audit.journal import DailyAnchor, anchor_day

    make_loan(session, org, clock)
    first = anchor_day(session, date(2025, 2, 25), now=clock.now())
    session.commit()
    result = _sweep(engine, clock, date(2025, 2, 25))
    assert result.anchored
    session.commit()
    anchors = session.exec(select(DailyAnchor).order_by(DailyAnchor.id)).all()
    assert [a.id for a in anchors] == [first.id, first.id + 1]
    assert anchors[1].last_entry_id > first.last_entry_id  # covers the mark_overdue
    assert verify_journal(session).ok
