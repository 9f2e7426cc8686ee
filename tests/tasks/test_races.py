"""Double claim and double complete from two threads at once: exactly one winner, the other a
clear conflict; one journal entry."""

from __future__ import annotations

import threading

import pytest
from sqlmodel import Session, func, select

from audit.journal import JournalEntry
from core.db import session_scope
from core.errors import ConflictError
from tasks import service
from tests.tasks.conftest import TODAY, as_user, new_task
from tests.tasks.payloads import LOAN_CARD_CHECK


def _race(engine, action) -> list[BaseException | None]:
    barrier = threading.Barrier(2)
    outcomes: list[BaseException | None] = [None, None]

    def worker(i: int) -> None:
        barrier.wait()
        try:
            with session_scope(engine) as s:
                action(s, i)
        except BaseException as exc:  # collected, asserted by the caller
            outcomes[i] = exc

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return outcomes


def _journal_count(engine, event: str) -> int:
    with Session(engine) as s:
        return s.exec(
            select(func.count()).select_from(JournalEntry).where(JournalEntry.event == event)
        ).one()


@pytest.mark.postgres_only
def test_double_claim_two_threads_exactly_one_winner(engine, session, org, clock, loan):
    task = new_task(session, org, clock, loan)
    users = ["am_bj1", "am_bj2"]
    outcomes = _race(
        engine,
        lambda s, i: service.claim(
            s, task.id, as_user(s, users[i]), now=clock.now(), business_date=TODAY
        ),
    )
    assert sorted(o is None for o in outcomes) == [False, True], outcomes
    loser = next(o for o in outcomes if o is not None)
    assert isinstance(loser, ConflictError) and "already claimed" in str(loser)
    assert _journal_count(engine, "claim") == 1


@pytest.mark.postgres_only
def test_double_complete_two_threads_exactly_one_completion(engine, session, org, clock, loan):
    task = new_task(session, org, clock, loan)
    service.claim(
        session, task.id, as_user(session, "am_bj1"), now=clock.now(), business_date=TODAY
    )
    session.commit()
    outcomes = _race(
        engine,
        lambda s, i: service.complete(
            s, task.id, as_user(s, "am_bj1"), LOAN_CARD_CHECK, now=clock.now(), business_date=TODAY
        ),
    )
    assert sorted(o is None for o in outcomes) == [False, True], outcomes
    loser = next(o for o in outcomes if o is not None)
    assert isinstance(loser, ConflictError) and "already completed" in str(loser)
    assert _journal_count(engine, "complete") == 1


def test_double_claim_sequential_sqlite_and_pg_stale_version_conflict(
    engine, session, org, clock, loan
):
    """Two clerks loaded version 1; the second submit is refused, whatever the backend."""
    task = new_task(session, org, clock, loan)
    service.claim(
        session,
        task.id,
        as_user(session, "am_bj1"),
        now=clock.now(),
        business_date=TODAY,
        expected_version=1,
    )
    session.commit()
    with pytest.raises(ConflictError, match="changed since you loaded it"):
        service.claim(
            session,
            task.id,
            as_user(session, "am_bj2"),
            now=clock.now(),
            business_date=TODAY,
            expected_version=1,
        )
