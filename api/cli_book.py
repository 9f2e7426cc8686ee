"""`postloan` commands on the book: `import`, `loan show` (registered on the app of
api/cli.py)."""

from __future__ import annotations

from datetime import date
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
    domain_errors,
    err,
    label,
    loan_app,
    named,
    yuan,
)
from core.clock import SystemClock
from core.db import get_engine, session_scope
from core.settings import get_settings


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
            f"[bold red]错误 error:[/] 未知的导入类型 unknown import kind {kind!r} "
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
        f"[green]已导入 imported[/] {file.name}: {report.created} created 新建, "
        f"{report.skipped} already present 已存在, {report.rows} rows 行"
    )


@loan_app.command("show")
def loan_show(
    loan_no: str,
    on: Annotated[
        date | None,
        typer.Option(
            formats=["%Y-%m-%d"],
            help="截至日期 As of this date: state, class, schedule, payments, DPD and floor of "
            "that day (default: today).",
        ),
    ] = None,
) -> None:
    """贷款详情 A loan's state, class, floor, balances, schedule and payments (today or --on)."""
    from loans.queries import loan_detail

    today = business_day(None)
    with domain_errors(), Session(get_engine()) as session:
        d = loan_detail(session, loan_no, today, as_of=on)
    loan = d.loan
    title = f"{loan.loan_no} · {d.borrower.name}"
    if d.as_of:
        title += f" · {label('as_of')} {d.as_of}"
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column()
    floor = named(d.floor.risk_class)
    if d.floor.reasons:
        floor += " — " + "；".join(d.floor.reasons)
    for key, value in (
        ("branch", d.branch.name),
        ("manager", d.manager.full_name),
        ("state", named(d.state)),
        ("class", named(d.risk_class)),
        ("class_floor", floor),
        ("dpd", f"{d.days_past_due} ({d.on})"),
        ("principal", f"{yuan(loan.principal_cents)} {loan.currency}"),
        ("outstanding_total", f"{yuan(d.outstanding_cents)} {loan.currency}"),
        ("disbursed", str(loan.disbursement_date)),
        ("maturity", str(loan.maturity_date)),
    ):
        facts.add_row(label(key), value)
    console.print(f"[bold]{title}[/]")
    console.print(facts)
    if d.as_of:
        console.print(f"[dim]{label('as_of_view')}[/]")
    schedule = Table(
        "#", label("due_date"), label("principal_due"), label("interest_due"), label("paid"),
        label("paid_off_on"), title=label("schedule"),
    )  # fmt: skip
    for i in d.installments:
        schedule.add_row(
            str(i.seq_no), str(i.due_date), yuan(i.principal_due_cents),
            yuan(i.interest_due_cents), yuan(i.principal_paid_cents + i.interest_paid_cents),
            str(i.paid_off_on or ""),
        )  # fmt: skip
    console.print(schedule)
    payments = Table(
        label("value_date"), label("payment_ref"), label("payment_amount"),
        label("applied_interest"), label("applied_principal"), label("unapplied"),
        title=label("payments"),
    )  # fmt: skip
    for p in d.payments:
        payments.add_row(
            str(p.value_date), p.payment_ref, yuan(p.amount_cents), yuan(p.interest_applied_cents),
            yuan(p.principal_applied_cents), yuan(p.unapplied_cents),
        )  # fmt: skip
    console.print(payments)
