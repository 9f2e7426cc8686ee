"""inspection-scheduler: opens the scheduled post-loan work of DOMAIN §4 for a business date —
first usage checks, loan-card checks by the 20th, customer visits (monthly for key and
关注-or-worse loans, quarterly for the rest), intensive monitoring when the bank enables it.
One set-based step; idempotent by task key, so a daily run opens each task once."""

from __future__ import annotations

from datetime import date
from typing import Any

from prefect import flow, task
from pydantic import BaseModel, Field

from flows.common import business_date, calendar, clock, transaction
from tasks.inspections import schedule_inspections

ACTOR = "system:inspection-scheduler"


class InspectionParams(BaseModel):
    business_date: date | None = Field(default=None, description="Default: today (bank time).")
    intensive_monitoring: bool = Field(
        default=False, description="Phone every 10 days, on-site twice a month for watched loans."
    )


@task(name="open-inspections", retries=2, retry_delay_seconds=10, timeout_seconds=900)
def open_inspections(day: date, intensive: bool) -> dict[str, Any]:
    with transaction() as session:
        result = schedule_inspections(
            session,
            on=day,
            calendar=calendar(),
            actor=ACTOR,
            now=clock().now(),
            intensive_monitoring=intensive,
        )
    return {kind: len(ids) for kind, ids in result.created.items()}


@flow(name="inspection-scheduler", log_prints=True)
def inspection_scheduler(params: InspectionParams | None = None) -> dict[str, Any]:
    """Open the scheduled inspections due on a business date (idempotent)."""
    params = params or InspectionParams()
    day = business_date(params.business_date)
    opened = open_inspections(day, params.intensive_monitoring)
    print(f"inspections {day}: opened {opened}")
    return {"business_date": day.isoformat(), "opened": opened}
