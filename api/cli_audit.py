"""`postloan audit` commands: `verify`, `anchor`, `replay` (registered on the app of api/cli.py)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer
from rich.table import Table
from sqlmodel import Session

from api.cli import (
    DateOpt,
    audit_app,
    business_day,
    console,
    domain_errors,
    err,
)
from core.clock import SystemClock
from core.db import get_engine, session_scope
from core.settings import get_settings


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
