"""`postloan demo seed` (registered on the app of api/cli.py): the demo book, brought to today by
the production day's work — each business date's scheduled steps (inspection scheduler,
pre-maturity notices, SLA escalation, daily sweep, collection ladder) run in order, in chunks,
through the same functions the Prefect steps call (no Prefect run per day)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from time import perf_counter
from typing import Annotated

import typer
from sqlalchemy import func, select

from api.cli import DateOpt, business_day, console, demo_app, domain_errors
from core.clock import SystemClock
from core.db import session_scope
from core.errors import ValidationError
from core.settings import get_settings

CHUNK = 20_000


def day_steps() -> list[tuple[str, Callable[[date], object]]]:
    """A business date's scheduled work in the order of its schedules (flows/launch.py
    SCHEDULES: inspections 06:00, pre-maturity 06:15, SLA escalation 07:30, the sweep 20:30, the
    collection ladder 21:15), each step the function its Prefect step runs."""
    from flows import escalation, inspections, pre_maturity
    from flows.daily_sweep import plan_day, run_anchor, run_chunk, run_summary

    def inspect(day: date) -> object:
        return [
            inspections.run_chunk(day, lo, hi, False)
            for lo, hi in inspections.plan_chunks.fn(day, CHUNK)
        ]

    def sweep(day: date) -> object:
        results = [run_chunk(day, lo, hi) for lo, hi in plan_day(day, CHUNK)]
        run_anchor(day)
        run_summary(day)
        return results

    def ladder(day: date) -> object:
        return [escalation.run_ladder_chunk(day, lo, hi) for lo, hi in escalation.plan.fn(CHUNK)]

    return [
        ("inspection-scheduler", inspect),
        ("pre-maturity", pre_maturity.open_notices.fn),
        ("sla-escalation", escalation.escalate_step.fn),
        ("daily-sweep", sweep),
        ("collection-ladder", ladder),
    ]


def last_swept_day() -> date | None:
    from loans.models import SweptDay

    with session_scope() as session:
        return session.execute(select(func.max(SweptDay.business_date))).scalar_one()  # type: ignore[arg-type]


def bring_to(today: date) -> int:
    """Run every date's scheduled work from the day after the last swept one up to `today`;
    returns the number of dates run (0: the book is at today already). The morning's inspection
    run is then repeated for `today` (idempotent: it opens nothing twice) so that the checks of
    loans today's sweep closed are cancelled now, not tomorrow morning."""
    last = last_swept_day()
    if last is None or last >= today:
        return 0
    steps = dict(day_steps())
    day, days = last + timedelta(days=1), 0
    while day <= today:
        for step in steps.values():
            step(day)
        day += timedelta(days=1)
        days += 1
    steps["inspection-scheduler"](today)
    return days


@demo_app.command("seed")
def demo_seed(
    loans: Annotated[int, typer.Option(min=1, help="How many demo loans.")] = 40,
    today: DateOpt = None,
    if_empty: Annotated[
        bool, typer.Option(help="If the book has data: only bring it to today.")
    ] = False,
) -> None:
    """演示数据 Seed org units, one user per role (password in README) and a demo book of loans,
    swept and scheduled up to today; with --if-empty on a seeded book, bring it to today."""
    from loans.demo import DEMO_PASSWORD, is_empty, seed_demo
    from tasks.demo import seed_demo_tasks

    day = business_day(today)
    started = perf_counter()
    with domain_errors():
        with session_scope() as session:
            empty = is_empty(session)
        if not empty:
            if not if_empty:
                raise ValidationError(
                    "数据库已有数据，演示数据需要空库 "
                    "(the database already has data; demo seed needs an empty one)"
                )
            days = bring_to(day)
            console.print(
                f"演示数据已存在 demo data already present: 补跑 {days} 个营业日 "
                f"brought to {day} ({days} days run, {perf_counter() - started:.1f} s)"
            )
            return
        with session_scope() as session:
            org = seed_demo(session, today=day, loans=loans)
        # the seed date's sweep settles what the history paid off and proposes the floors it
        # left unconfirmed; then the scheduler's checks (none for a loan the sweep closed): last
        # month's, some done before the demo began, and today's
        dict(day_steps())["daily-sweep"](day)
        with session_scope() as session:
            tasks = seed_demo_tasks(session, today=day)
        from cases.demo import seed_demo_requests

        with session_scope() as session:
            requests = seed_demo_requests(
                session, today=day, now=SystemClock(get_settings().tz).now()
            )
    console.print(
        f"[green]已生成演示数据 seeded[/] {len(org.units)} org units, {len(org.users)} users "
        f"(password [bold]{DEMO_PASSWORD}[/]), {loans} loans, {tasks} tasks, "
        f"{requests} requests, swept to {day} ({perf_counter() - started:.1f} s)"
    )
