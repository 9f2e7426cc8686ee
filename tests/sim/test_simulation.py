"""The simulator run briefly (issue #11: e.g. 200 loans, 60 days) with its invariants asserted:
every check that must hold on every simulated day held, the year's work was done by the real
steps and bots (payments imported, tasks of each kind completed through the service calls,
chains decided, month-end figures recorded), and the journal's actors are the bots' accounts.
A run stopped halfway and resumed ends exactly where an uninterrupted one does."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, text
from sqlmodel import Session

from audit.journal import JournalEntry
from core.errors import ValidationError
from core.settings import get_settings
from loans.models import Loan
from sim import run as sim_run
from sim.params import SimParams, parse_profiles

START = date(2025, 1, 2)


@pytest.fixture
def files(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSTLOAN_ATTACHMENTS_DIR", str(tmp_path / "attachments"))


def _simulate(params: SimParams, stop_after: int | None = None) -> int:
    run_id = sim_run.start(params, datetime(2026, 12, 3, tzinfo=UTC))
    if stop_after is not None:
        seen: list[date] = []
        sim_run.run_days(run_id, progress=lambda d, c: seen.append(d),
                         stop=lambda: len(seen) >= stop_after)  # fmt: skip
        assert sim_run.load(run_id).finished_at is None
    sim_run.run_days(run_id)
    return run_id


def _book(engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        return {
            "loans": conn.execute(
                text("SELECT loan_no, state, risk_class, days_past_due FROM loans ORDER BY loan_no")
            ).all(),
            "journal": conn.execute(
                text(
                    "SELECT aggregate_type, aggregate_id, chain_seq, event, actor, to_state, hash "
                    "FROM journal ORDER BY aggregate_type, aggregate_id, chain_seq"
                )
            ).all(),  # fmt: skip
            "tasks": conn.execute(
                text("SELECT key, state, completed_by_id FROM human_tasks ORDER BY key")
            ).all(),
        }


def test_two_months_of_a_book_hold_every_check(engine: Engine, session: Session, files) -> None:
    run_id = _simulate(SimParams(loans=200, start=START, days=60, seed=5))
    run = sim_run.load(run_id)
    assert run.failures == []
    assert run.last_day == date(2025, 3, 2) and run.finished_at is not None
    totals = run.totals
    assert totals["opening_loans"] > 100 and totals["disbursed"] > 30
    assert totals["payments"] > 100
    for kind in ("loan_card_check", "customer_visit", "first_usage_check",
                 "classification_review", "collection_contact", "warning_disposition"):  # fmt: skip
        assert totals.get(f"completed {kind}", 0) > 0, kind
    assert [m["on"] for m in run.months] == ["2025-01-31", "2025-02-28"]
    for month in run.months:
        assert sum(t["count"] for t in month["tiers"].values()) == month["loans"] > 0
    # some borrowers default: the book has overdue and non-performing loans by the end
    states = dict(session.execute(select(Loan.state, func.count()).group_by(Loan.state)).all())
    assert states.get("overdue", 0) + states.get("non_performing", 0) > 0
    assert states.get("settled", 0) > 0
    figures = run.figures
    assert figures["chains"]["classification"]["decided"] > 0
    assert figures["ladders"]["cases"] > 0
    # people's work is journaled under the bots' accounts; the system's under its flows
    actors = {a for (a,) in session.execute(select(JournalEntry.actor).distinct())}
    assert {"u:am_bj1", "u:head_bj"} <= actors
    assert "system:daily-sweep" in actors and "system:core-banking" in actors


def test_a_stopped_run_resumed_ends_as_an_uninterrupted_one(
    engine: Engine, files, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    params = SimParams(loans=40, start=date(2025, 1, 20), days=20, seed=9)
    _simulate(params)
    whole = _book(engine)
    from tests.conftest import _empty_all_tables

    _empty_all_tables(engine)
    monkeypatch.setenv("POSTLOAN_ANCHOR_LOG", str(tmp_path / "second_anchor_log.jsonl"))
    get_settings.cache_clear()
    _simulate(params, stop_after=8)
    resumed = _book(engine)
    assert resumed["loans"] == whole["loans"]
    assert resumed["tasks"] == whole["tasks"]
    assert resumed["journal"] == whole["journal"]


def test_bad_parameters_are_named(engine: Engine) -> None:
    with pytest.raises(ValidationError) as bad:
        SimParams(loans=0, start=START, days=0, profiles={"sometimes": 1})
    fields = [e["field"] for e in bad.value.errors]
    assert fields == ["loans", "days", "profiles"]
    with pytest.raises(ValidationError, match="name=weight"):
        parse_profiles("on_time=70,late")
    with pytest.raises(ValidationError, match="空数据库|empty database"):
        params = SimParams(loans=5, start=START, days=1)
        sim_run.start(params, datetime(2026, 12, 3, tzinfo=UTC))
        sim_run.start(params, datetime(2026, 12, 3, tzinfo=UTC))
