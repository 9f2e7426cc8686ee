"""Replay: a loan's lifecycle state and class on any date, folded through the machines."""

from __future__ import annotations

from datetime import date

from sqlalchemy import text

from audit import journal
from audit.replay import replay
from loans.transitions import reclassify_loan, transition_loan
from statemachines.enums import RiskClass
from tests.factories import make_loan
from tests.tamper import bypass_append_only


def _history(session, org, clock):
    make_loan(session, org, clock)  # 2025-01-15 normal / pass
    for day, event in [(date(2025, 2, 20), "mark_overdue")]:
        transition_loan(
            session, "L1", event, actor="system:test", now=clock.now(), business_date=day
        )
    reclassify_loan(
        session,
        "L1",
        RiskClass.special_mention,
        actor="system:test",
        now=clock.now(),
        business_date=date(2025, 3, 1),
        reason="overdue > 7 days",
    )
    reclassify_loan(
        session,
        "L1",
        RiskClass.substandard,
        actor="system:test",
        now=clock.now(),
        business_date=date(2025, 5, 20),
        reason="> 90 days",
    )
    session.commit()


def test_replay_as_of_each_date_gives_that_days_states(session, org, clock):
    _history(session, org, clock)
    expected = {
        date(2025, 1, 14): {},
        date(2025, 1, 15): {"loan_lifecycle": "normal", "risk_classification": "pass"},
        date(2025, 2, 20): {"loan_lifecycle": "overdue", "risk_classification": "pass"},
        date(2025, 3, 1): {"loan_lifecycle": "overdue", "risk_classification": "special_mention"},
        date(2025, 5, 20): {
            "loan_lifecycle": "non_performing",
            "risk_classification": "substandard",
        },
    }
    for day, states in expected.items():
        result = replay(session, "loan", "L1", as_of=day)
        assert result.states == states, day
        assert result.problems == []


def test_replay_last_entry_says_who_and_why(session, org, clock):
    _history(session, org, clock)
    last = replay(session, "loan", "L1", as_of=date(2025, 4, 1)).last_entry
    assert (last.event, last.actor, last.reason) == (
        "classify_special_mention",
        "system:test",
        "overdue > 7 days",
    )


def test_replay_forged_transition_reported(session, org, clock):
    """An entry rewritten (and re-hashed) to a move the machine cannot make is a finding."""
    _history(session, org, clock)
    bypass_append_only(session)
    session.exec(text("UPDATE journal SET to_state = 'written_off' WHERE event = 'mark_overdue'"))
    session.commit()
    session.expire_all()
    result = replay(session, "loan", "L1")
    assert any("does not allow 'mark_overdue'" in p for p in result.problems)
    assert journal.chain(session, "loan", "L1")  # still readable
