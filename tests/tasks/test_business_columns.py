"""One definition of buckets (the configured bounds everywhere) and open tasks' business columns
kept current: the sweep refreshes bucket, class and exposure of the loans it changed."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlmodel import Session

import loans.sweep as sweep
from core.settings import get_settings
from loans import aging
from loans.book import get_loan, installments_of
from loans.payments import record_payment
from statemachines.enums import TaskState
from tasks.models import HumanTask
from tasks.opening import refresh_business_columns
from tests.tasks.conftest import new_task

NOW = datetime(2025, 3, 20, 12, tzinfo=UTC)


def _sweep(session: Session, day: date) -> sweep.ChunkResult:
    result = sweep.sweep_chunk(session, business_date=day, loan_id_from=1, loan_id_to=10**9,
                               now=NOW)  # fmt: skip
    refresh_business_columns(session, result.changed)
    session.commit()
    session.expire_all()  # the sweep writes with Core statements
    return result


def test_configured_bucket_bounds_are_used_by_tasks_and_the_sweep_alike(
    session, org, clock, loan, monkeypatch
):
    """The issue: tasks used the default bounds while the sweep used the configured ones."""
    monkeypatch.setenv("POSTLOAN_OVERDUE_BUCKET_BOUNDS", "[10, 20, 30]")
    get_settings.cache_clear()
    assert aging.bucket_for(15) == "M2" and aging.bucket_for(45) == "M3+"
    task = new_task(session, org, clock, loan)  # opened on 03-03: 16 days past due
    assert task.bucket == "M2"  # not M1 as the default bounds say
    _sweep(session, date(2025, 3, 3))
    assert get_loan(session, "L1").bucket == "M2"  # the sweep's SQL, same bounds


def test_sweep_refreshes_bucket_class_and_exposure_of_open_tasks(session, org, clock, loan):
    """The issue: a task's bucket, class and exposure were never refreshed after it opened."""
    open_one = new_task(session, org, clock, loan, key="OPEN")
    done = new_task(session, org, clock, loan, key="DONE")
    done.state = TaskState.completed
    session.add(done)
    session.commit()
    assert (open_one.bucket, open_one.exposure_cents) == ("M1", 120_000_00)  # opened on 03-03
    result = _sweep(session, date(2025, 3, 20))  # 33 days past due
    assert loan.id in result.changed
    session.refresh(open_one)
    session.refresh(done)
    assert open_one.bucket == "M2" and done.bucket == "M1"  # a closed task keeps its record
    due = installments_of(session, loan.id)[:2]  # 02-15 and 03-15
    record_payment(session, get_loan(session, "L1"), payment_ref="P1", value_date=date(2025, 3, 21),
                   amount_cents=sum(i.outstanding_cents for i in due), actor="u:teller", now=NOW,
                   business_date=date(2025, 3, 21))  # fmt: skip
    session.commit()
    _sweep(session, date(2025, 3, 21))
    session.refresh(open_one)
    assert open_one.bucket is None
    assert open_one.exposure_cents == 120_000_00 - sum(i.principal_due_cents for i in due)
    assert open_one.risk_class == get_loan(session, "L1").risk_class


def test_refresh_writes_only_what_differs(session, org, clock, loan):
    task = new_task(session, org, clock, loan)
    assert refresh_business_columns(session, [loan.id]) == 1  # the loan was never swept
    assert refresh_business_columns(session, [loan.id]) == 0
    assert refresh_business_columns(session, []) == 0
    session.commit()
    session.expire_all()
    assert session.get(HumanTask, task.id).bucket is None
