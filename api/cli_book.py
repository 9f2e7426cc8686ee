"""`postloan` commands on the book: `demo seed`, `import`, `loan show` (registered on the app of
api/cli.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from sqlmodel import Session

from api.cli import (
    CLI_ACTOR,
    DateOpt,
    app,
    business_day,
    console,
    demo_app,
    domain_errors,
    err,
    loan_app,
)
from core.clock import SystemClock
from core.db import get_engine, session_scope
from core.errors import ValidationError
from core.settings import get_settings


@demo_app.command("seed")
def demo_seed(
    loans: Annotated[int, typer.Option(min=1, help="How many demo loans.")] = 40,
    today: DateOpt = None,
    if_empty: Annotated[bool, typer.Option(help="Do nothing if the book has data.")] = False,
) -> None:
    """Seed org units, one user per role (password in README) and a demo book of loans."""
    from loans.demo import DEMO_PASSWORD, is_empty, seed_demo
    from tasks.demo import seed_demo_tasks

    with domain_errors(), session_scope() as session:
        if not is_empty(session):
            if if_empty:
                console.print("demo data already present — nothing to do")
                return
            raise ValidationError("the database already has data; demo seed needs an empty one")
        org = seed_demo(session, today=business_day(today), loans=loans)
    # the day's sweep settles what the history paid off and proposes the floors it left
    # unconfirmed; then the scheduler's checks (none for a loan the sweep closed), a few requests
    from cases.demo import seed_demo_requests
    from flows.daily_sweep import plan_day, run_anchor, run_chunk

    with domain_errors():
        day = business_day(today)
        proposals = sum(
            run_chunk(day, lo, hi)["proposals_opened"] for lo, hi in plan_day(day, 20_000)
        )
        run_anchor(day)
        with session_scope() as session:
            tasks = seed_demo_tasks(session, today=day)
        with session_scope() as session:
            requests = seed_demo_requests(
                session, today=business_day(today), now=SystemClock(get_settings().tz).now()
            )
    console.print(
        f"[green]seeded[/] {len(org.units)} org units, {len(org.users)} users "
        f"(password [bold]{DEMO_PASSWORD}[/]), {loans} loans, {tasks} tasks, "
        f"{proposals} classification proposals, {requests} requests"
    )


@app.command("import")
def import_file(
    kind: Annotated[str, typer.Argument(help="loans | installments | payments")],
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    on: DateOpt = None,
) -> None:
    """Import a CSV file all-or-nothing (format: README, samples/)."""
    from loans.importer import ImportKind, import_csv

    try:
        import_kind = ImportKind(kind)
    except ValueError:
        err.print(
            f"[bold red]error:[/] unknown import kind {kind!r} "
            f"(use {', '.join(k.value for k in ImportKind)})"
        )
        raise typer.Exit(2) from None
    clock = SystemClock(get_settings().tz)
    with domain_errors(), session_scope() as session:
        report = import_csv(
            session,
            import_kind,
            file,
            actor=CLI_ACTOR,
            now=clock.now(),
            business_date=business_day(on),
        )
    console.print(
        f"[green]imported[/] {file.name}: {report.created} created, "
        f"{report.skipped} already present, {report.rows} rows"
    )


@loan_app.command("show")
def loan_show(loan_no: str, on: DateOpt = None) -> None:
    """A loan's state, class, floor, balances and schedule."""
    from loans.queries import loan_detail

    with domain_errors(), Session(get_engine()) as session:
        d = loan_detail(session, loan_no, business_day(on))
        loan = d.loan
        console.print(
            f"[bold]{loan.loan_no}[/] {d.borrower.name} · {d.branch.name} · {d.manager.full_name}"
        )
        console.print(
            f"state {loan.state} · class {loan.risk_class} "
            f"(floor {d.floor.risk_class}{': ' + ', '.join(d.floor.reasons) if d.floor.reasons else ''})"
            f" · {d.days_past_due} days past due · outstanding {d.outstanding_cents / 100:,.2f}"
            f" {loan.currency} · version {loan.version}"
        )
        table = Table("#", "due", "principal", "interest", "paid", "paid off")
        for i in d.installments:
            table.add_row(
                str(i.seq_no),
                str(i.due_date),
                f"{i.principal_due_cents / 100:,.2f}",
                f"{i.interest_due_cents / 100:,.2f}",
                f"{(i.principal_paid_cents + i.interest_paid_cents) / 100:,.2f}",
                str(i.paid_off_on or ""),
            )
        console.print(table)
