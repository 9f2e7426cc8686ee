"""Two concurrent transitions of one loan: exactly one wins, the other gets a clear error, and
nothing is lost (one journal entry, version bumped once)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, date, datetime

import pytest
from sqlmodel import func, select

import loans.transitions as transitions
from audit.journal import JournalEntry
from core.db import session_scope
from core.errors import ConflictError, TransitionNotAllowedError
from loans.book import get_loan
from statemachines.enums import LoanState
from tests.factories import make_loan

DAY = date(2025, 2, 1)
NOW = datetime(2025, 2, 1, 2, tzinfo=UTC)


def _race(engine, monkeypatch, expected_version: int | None) -> list[BaseException | None]:
    real_facts = transitions.loan_facts

    def slow_facts(*args, **kwargs):  # hold the row lock a while so the other writer collides
        facts = real_facts(*args, **kwargs)
        time.sleep(0.3)
        return facts

    monkeypatch.setattr(transitions, "loan_facts", slow_facts)
    barrier = threading.Barrier(2)
    outcomes: list[BaseException | None] = [None, None]

    def worker(i: int) -> None:
        barrier.wait()
        try:
            with session_scope(engine) as s:
                transitions.transition_loan(
                    s,
                    "L1",
                    "flag_risk",
                    actor=f"u:{i}",
                    now=NOW,
                    business_date=DAY,
                    expected_version=expected_version,
                )
        except BaseException as exc:  # collected and asserted below
            outcomes[i] = exc

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return outcomes


def _assert_one_winner(engine, outcomes, allowed: tuple[type[BaseException], ...]) -> None:
    winners = [o for o in outcomes if o is None]
    losers = [o for o in outcomes if o is not None]
    assert len(winners) == 1, outcomes
    assert isinstance(losers[0], allowed), repr(losers[0])
    with session_scope(engine) as s:
        loan = get_loan(s, "L1")
        assert (loan.state, loan.version) == (LoanState.watched, 2)
        moves = s.exec(
            select(func.count()).select_from(JournalEntry).where(JournalEntry.event == "flag_risk")
        ).one()
        assert moves == 1


def test_concurrent_transitions_with_form_version_one_wins_other_conflicts(
    engine, org, clock, monkeypatch
):
    with session_scope(engine) as s:
        make_loan(s, org, clock, commit=False)
    outcomes = _race(engine, monkeypatch, expected_version=1)
    _assert_one_winner(engine, outcomes, (ConflictError,))


@pytest.mark.postgres_only
def test_concurrent_transitions_row_lock_second_sees_new_state_refused(
    engine, org, clock, monkeypatch
):
    """On Postgres the second writer waits on SELECT … FOR UPDATE, then runs the machine on the
    committed state: flag_risk from watched is not allowed."""
    with session_scope(engine) as s:
        make_loan(s, org, clock, commit=False)
    outcomes = _race(engine, monkeypatch, expected_version=None)
    _assert_one_winner(engine, outcomes, (TransitionNotAllowedError,))


def test_concurrent_transitions_without_version_never_lose_update(engine, org, clock, monkeypatch):
    with session_scope(engine) as s:
        make_loan(s, org, clock, commit=False)
    outcomes = _race(engine, monkeypatch, expected_version=None)
    _assert_one_winner(engine, outcomes, (ConflictError, TransitionNotAllowedError))
