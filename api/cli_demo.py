"""`postloan demo seed` (registered on the app of api/cli.py): the demo book, brought to today by
the production day's work (flows/days.py: each business date's scheduled steps in order)."""

from __future__ import annotations

from datetime import date, timedelta
from time import perf_counter
from typing import Annotated

import typer
from sqlalchemy import func, select

from api.cli import DateOpt, business_day, console, demo_app, domain_errors
from core.clock import SystemClock
from core.db import session_scope
from core.errors import PostloanError, ValidationError
from core.settings import get_settings


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
    from flows.days import day_steps, inspect

    day, days = last + timedelta(days=1), 0
    while day <= today:
        for _, step in day_steps():
            step(day)
        day += timedelta(days=1)
        days += 1
    inspect(today)
    return days


DEMO_DAYS = 60  # the demo book's history: two months of the real flows, bots for people
DEMO_SEED = 7


@demo_app.command("seed")
def demo_seed(
    loans: Annotated[int, typer.Option(min=1, help="How many demo loans.")] = 40,
    days: Annotated[
        int, typer.Option(min=1, help="Days of history the simulation makes before today.")
    ] = DEMO_DAYS,
    today: DateOpt = None,
    if_empty: Annotated[
        bool, typer.Option(help="If the book has data: only bring it to today.")
    ] = False,
) -> None:
    """演示数据 Seed org units, one user per role (password in README) and a demo book whose
    history was made by the real flows: a short simulation (postloan simulate) up to today;
    with --if-empty on a seeded book, bring it to today."""
    from loans.demo import DEMO_PASSWORD, is_empty
    from sim import run as sim_run
    from sim.params import SimParams

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
            days = _catch_up(sim_run, day)
            console.print(
                f"演示数据已存在 demo data already present: 补跑 {days} 个营业日 "
                f"brought to {day} ({days} days run, {perf_counter() - started:.1f} s)"
            )
            return
        params = SimParams(loans=loans, start=day - timedelta(days=days), days=days + 1,
                           seed=DEMO_SEED)  # fmt: skip
        with console.status(f"模拟 {days} 天 simulating {days} days of the demo book"):
            record = sim_run.run_days(sim_run.start(params, _now()))
        from cases.demo import seed_demo_requests

        with session_scope() as session:
            requests = seed_demo_requests(session, today=day, now=_now())
    done = sum(v for k, v in record.totals.items() if k.startswith("completed "))
    console.print(
        f"[green]已生成演示数据 seeded[/] {loans} loans, {days + 1} days simulated to {day}: "
        f"{done} tasks done by the bots, {record.totals.get('payments', 0)} payments, "
        f"{requests} requests filed (password [bold]{DEMO_PASSWORD}[/]; "
        f"{perf_counter() - started:.1f} s)"
    )
    if record.failures:
        console.print(f"[yellow]模拟检查未通过 simulation checks failed:[/] {record.failures}")


def _now():  # type: ignore[no-untyped-def]
    return SystemClock(get_settings().tz).now()


def _catch_up(sim_run, day: date) -> int:  # type: ignore[no-untyped-def]
    """The demo's simulation carried on to `day` (a book imported some other way: the day's
    scheduled steps only, no bots)."""
    last = last_swept_day()
    if last is None or last >= day:
        return 0
    try:
        record = sim_run.load(None)
    except PostloanError:
        return bring_to(day)
    sim_run.extend_to(record.id or 0, day)
    return (day - last).days
