"""pre-maturity: maturity notices (贷款到期通知书) N days before maturity (default 30, never
fewer than 10) and overdue notices (贷款逾期通知书) after an unpaid maturity, as tasks for the
account manager with the generated document attached. Idempotent by loan and maturity date."""

from __future__ import annotations

from datetime import date
from typing import Any

from prefect import flow, task
from pydantic import BaseModel, Field

from flows.common import business_date, calendar, clock, transaction
from tasks.pre_maturity import schedule_pre_maturity

ACTOR = "system:pre-maturity"


class PreMaturityParams(BaseModel):
    business_date: date | None = Field(default=None, description="Default: today (bank time).")


@task(name="open-notices", retries=2, retry_delay_seconds=10, timeout_seconds=900)
def open_notices(day: date) -> dict[str, Any]:
    with transaction() as session:
        result = schedule_pre_maturity(
            session, on=day, calendar=calendar(), actor=ACTOR, now=clock().now()
        )
    return {kind: len(ids) for kind, ids in result.created.items()}


@flow(name="pre-maturity", log_prints=True)
def pre_maturity(params: PreMaturityParams | None = None) -> dict[str, Any]:
    """Open maturity and overdue notices for a business date (idempotent)."""
    params = params or PreMaturityParams()
    day = business_date(params.business_date)
    opened = open_notices(day)
    print(f"pre-maturity {day}: opened {opened}")
    return {"business_date": day.isoformat(), "opened": opened}
