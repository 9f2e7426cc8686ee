"""`postloan audit` commands: `verify`, `anchor`, `replay` (registered on the app of api/cli.py)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
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
    label,
    named,
)
from core.clock import SystemClock
from core.db import get_engine, session_scope
from core.settings import get_settings


@audit_app.command("verify")
def audit_verify() -> None:
    """校验日志 Check every hash chain and head against the signed anchors of the external log;
    name each broken entry, and the entries not yet anchored."""
    from audit.verify import verify_journal

    report = verify_journal(get_engine())
    first, *rest = report.summary()
    if report.ok:
        console.print(f"[green]{first}[/]")
        for line in rest:
            console.print(f"[yellow]{line}[/]")
        return
    err.print(f"[bold red]{first}[/]")
    for line in rest[:50]:
        err.print(f"  {line}")
    if len(rest) > 50:
        err.print(f"  … 另有 {len(rest) - 50} 项 ({len(rest) - 50} more)")
    raise typer.Exit(1)


@audit_app.command("rotate-key")
def audit_rotate_key() -> None:
    """更换锚点签名密钥 Make a new anchor signing key; the old public key stays trusted, so the
    anchors it signed still verify."""
    from audit.anchor_keys import rotate

    settings = get_settings()
    with domain_errors():
        old, new = rotate(settings)
    console.print(
        f"新签名密钥 new signing key {new} ({settings.anchor_key_file}); 受信任公钥 trusted "
        f"public keys in {settings.anchor_trusted_keys_dir}"
        + (f"; 旧密钥 {old} 仍受信任 (the old key stays trusted)" if old else "")
    )


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
        f"锚点 anchor #{anchor.id} ({anchor.business_date}): 记录 entries "
        f"#{anchor.first_entry_id + 1}–#{anchor.last_entry_id}, {anchor.chains} 条链 chains, "
        f"{anchor.digest[:16]}…"
    )


@audit_app.command("replay")
def audit_replay(
    loan_no: str,
    as_of: Annotated[
        date | None,
        typer.Option("--as-of", formats=["%Y-%m-%d"], help="Replay up to this business date."),
    ] = None,
) -> None:
    """日志回放 Rebuild a loan's lifecycle state and class on a date from its journal."""
    from loans.queries import replay_loan

    with domain_errors(), Session(get_engine()) as session:
        r = replay_loan(session, loan_no, as_of, today=business_day(None))
    table = Table(
        "#", label("date"), "对象 Machine", label("event"), label("from_to"), label("actor"),
        label("reason"),
    )  # fmt: skip
    for e in r.result.applied:
        change = f"{named(e.from_state)} → {named(e.to_state)}" if e.to_state else ""
        table.add_row(
            str(e.chain_seq),
            str(e.business_date),
            MACHINE_NAMES.get(e.machine, e.machine),
            named(e.event),
            change,
            e.actor + (f" (代 for {e.on_behalf_of})" if e.on_behalf_of else ""),
            e.reason or "",
        )
    console.print(table)
    states = r.result.states
    when = f"截至 as of {as_of}" if as_of else "当前 now"
    console.print(
        f"{loan_no} {when}: {label('state')} [bold]{named(states.get('loan_lifecycle'))}[/] · "
        f"{label('class')} [bold]{named(states.get('risk_classification'))}[/]"
    )
    for problem in r.result.problems:
        err.print(f"[red]问题 problem:[/] {problem}")
    stored = (
        f"{label('state')} {named(r.stored['loan_lifecycle'])} · "
        f"{label('class')} {named(r.stored['risk_classification'])}"
    )
    if r.matches_stored is True:
        console.print(f"[green]{label('replay_ok')}[/]")
    elif r.matches_stored is False:
        err.print(f"[bold red]{label('replay_bad')}[/] — 当前 stored: {stored}")
        raise typer.Exit(1)
    else:
        console.print(f"[dim]此后还有记录 later entries exist; 当前 stored now: {stored}[/]")


MACHINE_NAMES = {  # audit.replay.MACHINES and the book's balance entries, for a person
    "loan_lifecycle": "贷款状态 lifecycle",
    "risk_classification": "五级分类 class",
    "loan_book": "账务 book",
}


@audit_app.command("export")
def audit_export(
    fmt: Annotated[
        str, typer.Option("--format", help="csv | xes (IEEE 1849) | ocel (OCEL 2.0 JSON).")
    ],
    output: Annotated[Path, typer.Option("-o", "--output", help="The file to write.")],
    date_from: Annotated[
        date | None,
        typer.Option("--from", formats=["%Y-%m-%d"], help="Entries from this business date."),
    ] = None,
    date_to: Annotated[
        date | None,
        typer.Option("--to", formats=["%Y-%m-%d"], help="Entries up to this business date."),
    ] = None,
    branch: Annotated[
        str | None, typer.Option(help="Loans of this org unit and the units below it.")
    ] = None,
) -> None:
    """日志导出 The journal as an event log of loans: CSV, XES or OCEL 2.0 (sign-ins excluded)."""
    from audit.event_log import ExportFilter
    from audit.exports import ExportFormat, write_export
    from reports.journal_cases import BookCases

    if fmt not in ExportFormat.__members__:
        err.print(f"[bold red]错误 error:[/] 未知格式 {fmt!r}，可选 csv、xes、ocel "
                  f"(unknown format {fmt!r}: csv, xes or ocel)")  # fmt: skip
        raise typer.Exit(2)
    filt = ExportFilter(date_from, date_to, branch)
    with domain_errors(), Session(get_engine()) as session:
        filt.check()
        source = BookCases(session, filt)
        with output.open("w", encoding="utf-8", newline="") as out:
            stats = write_export(session, source, ExportFormat(fmt), filt, out)
    console.print(
        f"已写入 wrote {stats.events} 条事件 events, {stats.cases} 笔贷款 loans, "
        f"{stats.objects} 个对象 objects → {output}"
    )
