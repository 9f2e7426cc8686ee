"""Escalation ladders, each a daily flow over data-defined steps: `sla-escalation` (every human
task not done by its due date: reminder → the unit's head → one level up, tasks/escalation.py)
and `collection-ladder` (every loan in arrears: negotiation … legal referral, cases/collection.py),
the latter in chunks of loans like the sweep. Idempotent: a re-run of a date fires nothing twice."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from typing import Any

from prefect import flow, task
from pydantic import BaseModel, Field

from cases.collection import run_ladder
from cases.completion import EFFECTS
from flows.common import business_date, calendar, clock, transaction
from loans.sweep import chunk_bounds
from tasks.escalation import escalate_overdue

SLA_ACTOR = "system:sla-escalation"
LADDER_ACTOR = "system:collection-ladder"


class EscalationParams(BaseModel):
    business_date: date | None = Field(default=None, description="Default: today (bank time).")


class LadderParams(BaseModel):
    business_date: date | None = Field(default=None, description="Default: today (bank time).")
    chunk_size: int = Field(default=20_000, ge=1, le=200_000)


@task(name="escalate-overdue-tasks", retries=2, retry_delay_seconds=10, timeout_seconds=900)
def escalate_step(day: date) -> dict[str, Any]:
    with transaction() as session:
        result = escalate_overdue(
            session, on=day, calendar=calendar(), actor=SLA_ACTOR, now=clock().now()
        )
    return asdict(result)


@flow(name="sla-escalation", log_prints=True)
def sla_escalation(params: EscalationParams | None = None) -> dict[str, Any]:
    """Remind, then escalate, every task past its due date (each step once per task)."""
    params = params or EscalationParams()
    day = business_date(params.business_date)
    result = escalate_step(day)
    print(f"sla escalation {day}: {result}")
    return {"business_date": day.isoformat(), **result}


def run_ladder_chunk(day: date, lo: int, hi: int) -> dict[str, Any]:
    with transaction() as session:
        result = run_ladder(
            session, on=day, lo=lo, hi=hi, actor=LADDER_ACTOR, now=clock().now(), effects=EFFECTS
        )
    counts = asdict(result)
    counts["by_step"] = {str(k): v for k, v in result.by_step.items()}
    return counts


@task(name="ladder-chunk", retries=2, retry_delay_seconds=10, timeout_seconds=900)
def ladder_chunk(day: date, lo: int, hi: int) -> dict[str, Any]:
    return run_ladder_chunk(day, lo, hi)


@task(name="plan-ladder-chunks", retries=2, retry_delay_seconds=5)
def plan(size: int) -> list[tuple[int, int]]:
    with transaction() as session:
        return chunk_bounds(session, size=size)


@flow(name="collection-ladder", log_prints=True)
def collection_ladder(params: LadderParams | None = None) -> dict[str, Any]:
    """Walk every loan in arrears one day up the collection ladder (after the sweep)."""
    params = params or LadderParams()
    day = business_date(params.business_date)
    totals: dict[str, Any] = {"business_date": day.isoformat(), "chunks": 0}
    for lo, hi in plan(params.chunk_size):
        for key, value in ladder_chunk(day, lo, hi).items():
            if isinstance(value, int):
                totals[key] = totals.get(key, 0) + value
        totals["chunks"] += 1
    print(f"collection ladder {day}: {totals}")
    return totals
