"""The late-inspection figures ask, per task, whether its chain has an entry (reports/
inspections._journaled). SQLite chose the journal's (event, date) index for that until it had
statistics — every "open" entry scanned once per task: 10 minutes for a 10,000-loan book (found
by `postloan simulate`). The sweep's last step now gives the planner statistics."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import Engine, create_engine, select
from sqlalchemy.pool import NullPool
from sqlmodel import Session

from audit.journal import JOURNAL
from flows.daily_sweep import run_summary
from reports.inspections import _journaled
from tasks.models import HumanTask

ON = date(2026, 3, 2)


def _plan(engine: Engine) -> str:
    """The plan a new connection (a process started after the sweep) makes of the figure."""
    query = select(HumanTask.id).where(_journaled(("open",), ON))
    compiled = query.compile(engine, compile_kwargs={"literal_binds": True})
    fresh = create_engine(engine.url, poolclass=NullPool)
    with fresh.connect() as conn:
        rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}").all()
    fresh.dispose()
    return " | ".join(str(r[-1]) for r in rows)


def _opened_tasks(session: Session, n: int) -> None:
    """The journal of `n` opened tasks (a chain each, as a book's month of checks leaves it)."""
    at = datetime(2026, 3, 2, 1, tzinfo=UTC)
    session.connection().execute(JOURNAL.insert(), [
        {"aggregate_type": "task", "aggregate_id": str(i), "chain_seq": 1, "machine": "task",
         "event": "open", "to_state": "open", "business_date": ON, "wall_time": at,
         "actor": "system:inspection-scheduler", "payload": {}, "prev_hash": "0" * 64,
         "hash": f"{i:064d}"}
        for i in range(1, n + 1)
    ])  # fmt: skip
    session.commit()


def test_after_the_sweep_a_tasks_chain_is_found_by_its_own_index(engine: Engine, session: Session):
    if engine.dialect.name == "postgresql":
        return  # Postgres analyzes on its own (autovacuum); the plan is its business
    _opened_tasks(session, 2000)
    session.connection().exec_driver_sql("DROP TABLE IF EXISTS sqlite_stat1")  # as a new file
    session.commit()
    assert "ix_journal_event_date" in _plan(engine)  # no statistics: the wrong index
    run_summary(ON)
    plan = _plan(engine)
    assert "aggregate_type=? AND aggregate_id=?" in plan and "event_date" not in plan, plan
