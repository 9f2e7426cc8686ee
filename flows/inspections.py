"""inspection-scheduler: opens the scheduled post-loan work of DOMAIN §4 for a business date —
first usage checks, loan-card checks by the 20th, customer visits (monthly for key and
关注-or-worse loans, quarterly for the rest), intensive monitoring when the bank enables it; for
student loans the graduation confirmation and the yearly contact (tasks/student_work.py).
One set-based step per chunk of borrowers; idempotent by task key, so a daily run opens each
task once; open checks of settled, written-off and handed-over loans are cancelled with the
reason."""

from __future__ import annotations

from datetime import date
from typing import Any

from prefect import flow, task
from pydantic import BaseModel, Field

from flows.common import business_date, calendar, clock, transaction
from tasks.inspections import borrower_chunks, schedule_inspections

ACTOR = "system:inspection-scheduler"


class InspectionParams(BaseModel):
    business_date: date | None = Field(default=None, description="Default: today (bank time).")
    intensive_monitoring: bool = Field(
        default=False, description="Phone every 10 days, on-site twice a month for watched loans."
    )
    chunk_size: int = Field(default=20_000, ge=1, le=200_000, description="Borrowers per step.")


@task(name="plan-borrower-chunks", retries=2, retry_delay_seconds=5)
def plan_chunks(day: date, size: int) -> list[tuple[int, int]]:
    with transaction() as session:
        return borrower_chunks(session, day, size)


def run_chunk(day: date, lo: int, hi: int, intensive: bool) -> dict[str, Any]:
    """One chunk of borrowers in one transaction: cancel what closed loans no longer need, open
    what the date calls for. Shared by the Prefect step and tests."""
    with transaction() as session:
        result = schedule_inspections(
            session,
            on=day,
            calendar=calendar(),
            actor=ACTOR,
            now=clock().now(),
            intensive_monitoring=intensive,
            borrowers=(lo, hi),
        )
    return {
        **{kind: len(ids) for kind, ids in result.created.items()},
        "cancelled": result.cancelled,
    }


@task(name="open-inspections", retries=2, retry_delay_seconds=10, timeout_seconds=900)
def open_inspections(day: date, lo: int, hi: int, intensive: bool) -> dict[str, Any]:
    return run_chunk(day, lo, hi, intensive)


@flow(name="inspection-scheduler", log_prints=True)
def inspection_scheduler(params: InspectionParams | None = None) -> dict[str, Any]:
    """Open the scheduled inspections due on a business date, a chunk of borrowers per step
    (idempotent)."""
    params = params or InspectionParams()
    day = business_date(params.business_date)
    opened: dict[str, int] = {}
    chunks = plan_chunks(day, params.chunk_size)
    for lo, hi in chunks:
        for kind, n in open_inspections(day, lo, hi, params.intensive_monitoring).items():
            opened[kind] = opened.get(kind, 0) + n
    cancelled = opened.pop("cancelled", 0)
    print(f"inspections {day}: {len(chunks)} chunks, opened {opened}, cancelled {cancelled}")
    return {
        "business_date": day.isoformat(),
        "chunks": len(chunks),
        "opened": opened,
        "cancelled": cancelled,
    }
