"""A business date's scheduled work, in the order of its schedules (flows/launch.py SCHEDULES:
inspections 06:00, pre-maturity 06:15, SLA escalation 07:30, the sweep 20:30, the collection
ladder 21:15), each step the function its Prefect step runs, in chunks — no Prefect run per day.
`postloan demo seed` and `postloan simulate` bring a book forward date by date with it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from flows import escalation, inspections, pre_maturity
from flows.daily_sweep import plan_day, run_anchor, run_chunk, run_summary

CHUNK = 20_000

Step = Callable[[date], Any]


def _inspect(day: date) -> list[dict[str, Any]]:
    return [
        inspections.run_chunk(day, lo, hi, False)
        for lo, hi in inspections.plan_chunks.fn(day, CHUNK)
    ]


def _sweep(day: date) -> dict[str, Any]:
    chunks = [run_chunk(day, lo, hi) for lo, hi in plan_day(day, CHUNK)]
    run_anchor(day)
    run_summary(day)
    return {"chunks": chunks}


def _ladder(day: date) -> list[dict[str, Any]]:
    return [escalation.run_ladder_chunk(day, lo, hi) for lo, hi in escalation.plan.fn(CHUNK)]


MORNING: list[tuple[str, Step]] = [
    ("inspection-scheduler", _inspect),
    ("pre-maturity", pre_maturity.open_notices.fn),
    ("sla-escalation", escalation.escalate_step.fn),
]
EVENING: list[tuple[str, Step]] = [
    ("daily-sweep", _sweep),
    ("collection-ladder", _ladder),
]


def day_steps() -> list[tuple[str, Step]]:
    """The whole day's steps in schedule order."""
    return [*MORNING, *EVENING]


def inspect(day: date) -> list[dict[str, Any]]:
    """The morning's inspection run alone (idempotent: repeating it opens nothing twice)."""
    return _inspect(day)


def sweep(day: date) -> dict[str, Any]:
    """The evening's sweep alone: chunks, anchor, book summary."""
    return _sweep(day)
