"""Each flow once end to end under Prefect's test harness, the sweep's idempotency (run twice;
killed halfway, then run again), and the deployments' schedules."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import date

import pytest
from sqlmodel import Session, func, select

from audit.journal import DailyAnchor, JournalEntry
from audit.verify import verify_journal
from loans.book import get_loan
from loans.payments import record_payment
from statemachines.enums import LoanState
from tasks.models import HumanTask
from tests.factories import make_loan

DAY = date(2025, 6, 3)  # L-LATE unpaid since 2025-02-15 (108 days), L-OK paid up


@pytest.fixture
def book(session, org, clock):
    make_loan(session, org, clock, "L-LATE")  # never pays: overdue, 次级 floor
    ok = make_loan(session, org, clock, "L-OK")
    for n, due in enumerate(
        [date(2025, 2, 15), date(2025, 3, 15), date(2025, 4, 15), date(2025, 5, 15)], start=1
    ):
        record_payment(
            session,
            ok,
            payment_ref=f"OK-{n}",
            value_date=due,
            amount_cents=10_237_19,
            actor="system:test",
            now=clock.now(),
            business_date=due,
        )
    for n in range(3):
        make_loan(session, org, clock, f"L-NEW{n}", disbursed=date(2025, 5, 20))
    session.commit()


def _counts(engine) -> tuple[int, int]:
    with Session(engine) as s:
        return (
            s.exec(select(func.count()).select_from(JournalEntry)).one(),
            s.exec(select(func.count()).select_from(HumanTask)).one(),
        )


def test_daily_sweep_flow_end_to_end_then_rerun_changes_nothing(prefect_harness, engine, book):
    from flows.daily_sweep import SweepParams, daily_sweep

    totals = daily_sweep(SweepParams(business_date=DAY, chunk_size=100))
    assert totals["moved_mark_overdue"] == 1 and totals["proposals_opened"] == 1
    with Session(engine) as s:
        assert get_loan(s, "L-LATE").state == LoanState.overdue
        assert get_loan(s, "L-OK").state == LoanState.normal
        review = s.exec(select(HumanTask).where(HumanTask.kind == "classification_review")).one()
        assert review.loan_no == "L-LATE"
        assert review.context["facts"]["proposed_class"] == "substandard"
        assert (
            s.exec(select(DailyAnchor).where(DailyAnchor.business_date == DAY)).first() is not None
        )
        assert verify_journal(s).ok
    before = _counts(engine)
    again = daily_sweep(SweepParams(business_date=DAY, chunk_size=100))
    assert again.get("moved_mark_overdue", 0) == 0 and again["proposals_opened"] == 0
    assert _counts(engine) == before


CRASH = textwrap.dedent("""
    import os, signal, sys
    from datetime import date
    from flows.daily_sweep import run_chunk
    from core.db import session_scope
    from loans.sweep import chunk_bounds
    day = date.fromisoformat(sys.argv[1])
    with session_scope() as s:
        bounds = chunk_bounds(s, size=1)
    run_chunk(day, *bounds[0])          # one chunk committed …
    os.kill(os.getpid(), signal.SIGKILL)  # … then the process dies, mid-run, no cleanup
""")


def test_daily_sweep_killed_halfway_then_rerun_same_as_clean(
    prefect_harness, engine, book, database_url
):
    from flows.daily_sweep import SweepParams, daily_sweep

    env = {**os.environ, "POSTLOAN_DATABASE_URL": database_url}
    crashed = subprocess.run(
        [sys.executable, "-c", CRASH, DAY.isoformat()],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert crashed.returncode == -9, crashed.stderr
    with Session(engine) as s:  # the first chunk (L-LATE) is done, the rest is not
        assert get_loan(s, "L-LATE").state == LoanState.overdue
        assert s.exec(select(DailyAnchor).where(DailyAnchor.business_date == DAY)).first() is None
    daily_sweep(SweepParams(business_date=DAY, chunk_size=1))
    with Session(engine) as s:
        moves = s.exec(
            select(func.count())
            .select_from(JournalEntry)
            .where(JournalEntry.event == "mark_overdue")
        ).one()
        reviews = s.exec(
            select(func.count())
            .select_from(HumanTask)
            .where(HumanTask.kind == "classification_review")
        ).one()
        assert (moves, reviews) == (1, 1)
        assert (
            s.exec(select(DailyAnchor).where(DailyAnchor.business_date == DAY)).first() is not None
            and verify_journal(s).ok
        )


def test_inspection_scheduler_flow_end_to_end_idempotent(prefect_harness, engine, book):
    from flows.inspections import InspectionParams, inspection_scheduler

    first = inspection_scheduler(InspectionParams(business_date=DAY))
    assert first["opened"]["loan_card_check"] == 5
    assert first["opened"]["first_usage_check"] == 3
    second = inspection_scheduler(InspectionParams(business_date=DAY))
    assert sum(second["opened"].values()) == 0


def test_pre_maturity_flow_end_to_end(prefect_harness, engine, book, tmp_path, monkeypatch):
    from core.settings import get_settings
    from flows.pre_maturity import PreMaturityParams, pre_maturity

    monkeypatch.setenv("POSTLOAN_ATTACHMENTS_DIR", str(tmp_path / "att"))
    get_settings.cache_clear()
    result = pre_maturity(PreMaturityParams(business_date=date(2025, 12, 16)))  # 30 days before
    assert result["opened"]["maturity_notice"] == 2  # L-LATE and L-OK mature 2026-01-15
    assert (
        sum(pre_maturity(PreMaturityParams(business_date=date(2025, 12, 16)))["opened"].values())
        == 0
    )


def test_deployments_cron_in_bank_time_zone():
    from flows.launch import deployments

    by_name = {d.name: d for d in deployments()}
    assert set(by_name) == {
        "daily-sweep",
        "inspection-scheduler",
        "pre-maturity",
        "sla-escalation",
        "collection-ladder",
        "approval-chain",
    }
    schedule = by_name["daily-sweep"].schedules[0].schedule
    assert (schedule.cron, schedule.timezone) == ("30 20 * * *", "Asia/Shanghai")
    ladder = by_name["collection-ladder"].schedules[0].schedule
    assert (ladder.cron, ladder.timezone) == ("15 21 * * *", "Asia/Shanghai")  # after the sweep
    assert by_name["approval-chain"].schedules == []  # started by the outbox only
