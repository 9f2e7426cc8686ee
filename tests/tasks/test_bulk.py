"""Bulk task opening: set-based, idempotent by key, journaled like single opens."""

from __future__ import annotations

from datetime import date

from sqlmodel import Session, func, select

from audit.journal import JournalEntry, chain
from audit.verify import verify_journal
from tasks.bulk import TaskRow, open_tasks_bulk
from tasks.models import HumanTask
from tasks.worklist import View, worklist
from tests.tasks.conftest import TODAY, as_user


def _rows(org, n: int, prefix: str = "K") -> list[TaskRow]:
    unit = org.units["BJ01"]
    return [
        TaskRow(
            kind="loan_card_check",
            key=f"{prefix}{i}",
            title=f"check {i}",
            due_date=date(2025, 3, 20),
            candidate_org_unit_id=unit.id,
            candidate_org_path=unit.path,
            branch_path=unit.path,
            candidate_role="account_manager",
        )
        for i in range(n)
    ]


def test_open_bulk_creates_journals_and_shows_in_queue(session, org, clock, engine):
    ids = open_tasks_bulk(
        session, _rows(org, 5), actor="system:inspections", now=clock.now(), business_date=TODAY
    )
    session.commit()
    assert len(ids) == 5
    rows, total = worklist(session, as_user(session, "am_bj1"), View.queue, today=TODAY)
    assert total == 5 and {t.id for t in rows} == set(ids)
    assert [e.event for e in chain(session, "task", str(ids[0]))] == ["open"]
    with Session(engine) as s:
        assert verify_journal(s).ok


def test_open_bulk_rerun_and_duplicate_keys_create_nothing_new(session, org, clock):
    rows = _rows(org, 3)
    open_tasks_bulk(session, rows + rows[:1], actor="t", now=clock.now(), business_date=TODAY)
    session.commit()
    again = open_tasks_bulk(
        session, rows + _rows(org, 1, "NEW"), actor="t", now=clock.now(), business_date=TODAY
    )
    session.commit()
    assert len(again) == 1
    assert session.exec(select(func.count()).select_from(HumanTask)).one() == 4
    assert session.exec(select(func.count()).select_from(JournalEntry)).one() == 4


def test_open_bulk_more_than_a_chunk(session, org, clock):
    ids = open_tasks_bulk(
        session, _rows(org, 2500), actor="t", now=clock.now(), business_date=TODAY
    )
    session.commit()
    assert len(ids) == 2500 == len(set(ids))
