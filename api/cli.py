"""`postloan` command line (Typer + rich): database, demo data, imports, loans, audit, serve.

Exit codes: 0 ok, 1 a domain error (message printed), 2 usage error (Typer).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlmodel import Session

from core.clock import SystemClock
from core.db import get_engine, session_scope
from core.errors import PostloanError, ValidationError
from core.settings import get_settings

app = typer.Typer(
    help="postloan 贷后管理 — post-loan management.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
demo_app = typer.Typer(help="Demo data.", no_args_is_help=True)
loan_app = typer.Typer(help="Loans.", no_args_is_help=True)
audit_app = typer.Typer(help="Journal verification and replay.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(demo_app, name="demo")
app.add_typer(loan_app, name="loan")
app.add_typer(audit_app, name="audit")

console = Console()
err = Console(stderr=True)
CLI_ACTOR = "system:cli"


@contextmanager
def domain_errors() -> Iterator[None]:
    """Print a domain error for a person and exit 1 (nothing was saved: the transaction rolled
    back before we got here)."""
    try:
        yield
    except ValidationError as exc:
        err.print(f"[bold red]error:[/] {exc.message}")
        for item in exc.errors:
            where = " ".join(f"{k} {item[k]}" for k in ("line", "field") if item.get(k) is not None)
            err.print(f"  {where}: {item.get('message')}")
        raise typer.Exit(1) from exc
    except PostloanError as exc:
        err.print(f"[bold red]error:[/] {exc.message}")
        raise typer.Exit(1) from exc


def business_day(on: date | None) -> date:
    """The date asked for, or today in the bank's time zone."""
    return on or SystemClock(get_settings().tz).today()


DateOpt = Annotated[
    date | None,
    typer.Option(formats=["%Y-%m-%d"], help="Business date (default: today, bank time)."),
]


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Migrate the database to the newest schema (Alembic)."""
    import migrations

    url = get_settings().database_url
    migrations.upgrade(url)
    console.print(f"[green]database at head[/] ({get_engine().url.render_as_string()})")


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
        tasks = seed_demo_tasks(session, today=business_day(today))
    # the day's sweep proposes the floors the history left unconfirmed, then a few requests
    from cases.demo import seed_demo_requests
    from flows.daily_sweep import run_chunk
    from loans.sweep import chunk_bounds

    with domain_errors():
        with session_scope() as session:
            bounds = chunk_bounds(session, size=20_000)
        proposals = sum(
            run_chunk(business_day(today), lo, hi)["proposals_opened"] for lo, hi in bounds
        )
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


@audit_app.command("verify")
def audit_verify() -> None:
    """Check every hash chain, chain head and daily anchor; name the first broken entry."""
    from audit.verify import verify_journal

    with Session(get_engine()) as session:
        report = verify_journal(session)
    if report.ok:
        console.print(
            f"[green]journal intact[/]: {report.chains} chains, {report.entries} "
            f"entries, {report.anchors} anchors"
        )
        return
    first = report.first_break
    assert first is not None
    err.print(f"[bold red]journal broken[/] at {first.describe()}")
    for other in report.breaks[1:20]:
        err.print(f"  also: {other.describe()}")
    raise typer.Exit(1)


@audit_app.command("anchor")
def audit_anchor(on: DateOpt = None) -> None:
    """Anchor the journal: everything written since the last anchor (the daily sweep does it too;
    any number a day)."""
    from audit.journal import anchor_day, last_anchor

    clock = SystemClock(get_settings().tz)
    with domain_errors(), session_scope() as session:
        before = last_anchor(session)
        anchor = anchor_day(session, business_day(on), now=clock.now())
    if before is not None and anchor.id == before.id:
        console.print(
            f"nothing written since anchor #{anchor.id} ({anchor.business_date}, entries up to "
            f"#{anchor.last_entry_id}): 无新记录，无需再次锚定"
        )
        return
    console.print(
        f"anchor #{anchor.id} ({anchor.business_date}): entries #{anchor.first_entry_id + 1}–"
        f"#{anchor.last_entry_id}, {anchor.chains} chains, {anchor.digest[:16]}…"
    )


@audit_app.command("replay")
def audit_replay(
    loan_no: str,
    as_of: Annotated[
        date | None,
        typer.Option("--as-of", formats=["%Y-%m-%d"], help="Replay up to this business date."),
    ] = None,
) -> None:
    """Rebuild a loan's lifecycle state and class on a date from its journal."""
    from loans.queries import replay_loan

    with domain_errors(), Session(get_engine()) as session:
        r = replay_loan(session, loan_no, as_of)
    table = Table("#", "date", "machine", "event", "change", "actor", "reason")
    for e in r.result.applied:
        change = f"{e.from_state or '∅'} → {e.to_state}" if e.to_state else ""
        table.add_row(
            str(e.chain_seq),
            str(e.business_date),
            e.machine,
            e.event,
            change,
            e.actor + (f" (for {e.on_behalf_of})" if e.on_behalf_of else ""),
            e.reason or "",
        )
    console.print(table)
    states = r.result.states
    when = f"on {as_of}" if as_of else "now"
    console.print(
        f"{loan_no} {when}: lifecycle [bold]{states.get('loan_lifecycle', '—')}[/], "
        f"class [bold]{states.get('risk_classification', '—')}[/]"
    )
    for problem in r.result.problems:
        err.print(f"[red]problem:[/] {problem}")
    if r.matches_stored is True:
        console.print("[green]matches the stored state[/]")
    elif r.matches_stored is False:
        err.print(f"[bold red]does NOT match the stored state[/] {r.stored}")
        raise typer.Exit(1)
    else:
        console.print(f"[dim](later entries exist; stored state now is {r.stored})[/]")


from api import cli_flows  # noqa: E402, F401  (registers sweep, dispatch, deploy, serve)
