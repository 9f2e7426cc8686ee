"""`postloan` command line (Typer + rich): database, demo data, imports, loans, audit, serve.

Exit codes: 0 ok, 1 a domain error (message printed), 2 usage error (Typer).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
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


def _today(on: date | None) -> date:
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
        org = seed_demo(session, today=_today(today), loans=loans)
        tasks = seed_demo_tasks(session, today=_today(today))
    # the day's sweep proposes the floors the history left unconfirmed, then a few requests
    from cases.demo import seed_demo_requests
    from flows.daily_sweep import run_chunk
    from loans.sweep import chunk_bounds

    with domain_errors():
        with session_scope() as session:
            bounds = chunk_bounds(session, size=20_000)
        proposals = sum(run_chunk(_today(today), lo, hi)["proposals_opened"] for lo, hi in bounds)
        with session_scope() as session:
            requests = seed_demo_requests(
                session, today=_today(today), now=SystemClock(get_settings().tz).now()
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
            session, import_kind, file, actor=CLI_ACTOR, now=clock.now(), business_date=_today(on)
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
        d = loan_detail(session, loan_no, _today(on))
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
    """Record the day's anchor over all chain heads (normally done by the daily sweep)."""
    from audit.journal import anchor_day

    clock = SystemClock(get_settings().tz)
    with domain_errors(), session_scope() as session:
        anchor = anchor_day(session, _today(on), now=clock.now())
    console.print(f"anchored {anchor.business_date}: {anchor.chains} chains, {anchor.digest[:16]}…")


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


@app.command("sweep")
def sweep_cmd(
    on: DateOpt = None,
    chunk_size: Annotated[int, typer.Option(min=1, help="Loans per chunk.")] = 20_000,
) -> None:
    """Run the daily sweep for a business date now, chunk by chunk, with a progress bar."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from flows.daily_sweep import run_anchor, run_chunk
    from loans.sweep import chunk_bounds

    day = _today(on)
    with domain_errors():
        with session_scope() as session:
            bounds = chunk_bounds(session, size=chunk_size)
        totals: dict[str, float] = {}
        columns = (
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=console) as progress:
            bar = progress.add_task(f"sweep {day}", total=len(bounds))
            for lo, hi in bounds:
                for key, value in run_chunk(day, lo, hi).items():
                    if isinstance(value, int | float):
                        totals[key] = totals.get(key, 0) + value
                progress.advance(bar)
        anchor = run_anchor(day)
    table = Table("measure", "value", title=f"daily sweep {day}")
    for key, value in sorted(totals.items()):
        table.add_row(key, f"{value:,.3f}" if isinstance(value, float) else f"{value:,}")
    table.add_row("journal anchor", anchor)
    console.print(table)


@app.command("dispatch")
def dispatch(
    once: Annotated[bool, typer.Option(help="Deliver what is due now, then exit.")] = False,
) -> None:
    """Deliver the outbox to Prefect (the approval chain's continuation runs …), at least once
    with backoff: inline by default, or as deployment runs for a work pool
    (POSTLOAN_OUTBOX_DELIVERY=deployment). `postloan serve` starts it; run it alone otherwise."""
    from flows.dispatch import Dispatcher, deliver_due, pending_count

    if once:
        report = deliver_due()
        console.print(
            f"delivered {report.delivered}, failed {report.failed}, waiting {pending_count()}"
        )
        for error in report.errors[:10]:
            err.print(f"  [red]{error}[/]")
        raise typer.Exit(1 if report.failed else 0)
    loop = Dispatcher()
    loop.start()
    signal.signal(signal.SIGTERM, lambda *_: loop.stop())
    console.print(
        f"delivering the outbox to Prefect ({get_settings().outbox_delivery}; Ctrl-C stops)"
    )
    try:
        while loop.is_alive():
            loop.join(1)
    except KeyboardInterrupt:
        loop.stop()


@app.command("deploy")
def deploy(
    work_pool: Annotated[str, typer.Option(help="A Prefect work pool (type process).")],
    source: Annotated[str, typer.Option(help="Where workers find this code.")] = ".",
) -> None:
    """Register the flows in a work pool on the Prefect server in PREFECT_API_URL; workers on
    each machine (`prefect worker start --pool …`) then share the sweep's chunks."""
    from flows.launch import deploy_to_pool

    for deployment_id in deploy_to_pool(work_pool, source):
        console.print(f"deployed {deployment_id}")


def _start_prefect_server(port: int) -> subprocess.Popen[bytes]:
    """A real Prefect server (its own SQLite under var/prefect): ephemeral mode would drop
    task-run records at exit."""
    home = Path("var/prefect").resolve()
    home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PREFECT_HOME": str(home)}
    prefect_bin = Path(sys.executable).with_name("prefect")
    log = (home / "server.log").open("ab")
    proc = subprocess.Popen(
        [str(prefect_bin), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=log,
    )
    url = f"http://127.0.0.1:{port}/api/health"
    for _ in range(240):
        if proc.poll() is not None:
            raise typer.BadParameter(f"the Prefect server exited; see {home / 'server.log'}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return proc
        except OSError:
            time.sleep(0.5)
    proc.terminate()
    raise typer.BadParameter(f"the Prefect server did not start; see {home / 'server.log'}")


@app.command("serve")
def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    flows: Annotated[bool, typer.Option(help="Also serve the Prefect deployments.")] = True,
    prefect_port: int = 4200,
) -> None:
    """Serve the API and pages (api.main:app) and the flows with their schedules.

    Uses PREFECT_API_URL when set; otherwise starts a local Prefect server first."""
    import uvicorn

    if not flows:
        uvicorn.run("api.main:app", host=host, port=port)
        return
    server = None
    if not os.environ.get("PREFECT_API_URL"):
        console.print(f"starting a Prefect server on 127.0.0.1:{prefect_port} …")
        server = _start_prefect_server(prefect_port)
        os.environ["PREFECT_API_URL"] = f"http://127.0.0.1:{prefect_port}/api"  # before import
    # A chain continues within seconds: the runner looks for new runs every second (Prefect's
    # default is 10 s), unless the operator set it.
    os.environ.setdefault("PREFECT_RUNNER_POLL_FREQUENCY", "1")
    web = uvicorn.Server(uvicorn.Config("api.main:app", host=host, port=port))
    thread = threading.Thread(target=web.run, name="api", daemon=True)
    thread.start()
    # The outbox dispatcher in a process of its own (DESIGN decision 2): its flow runs do not
    # compete with the API's requests for one interpreter.
    dispatcher = subprocess.Popen([str(Path(sys.executable).with_name("postloan")), "dispatch"])
    console.print(
        f"[green]postloan[/] on http://{host}:{port}  ·  Prefect UI "
        f"{os.environ['PREFECT_API_URL'].removesuffix('/api')}"
    )
    try:
        from flows.launch import serve_all

        serve_all()  # blocks; Prefect's runner wants the main thread for its signals
    finally:
        dispatcher.terminate()
        dispatcher.wait(30)
        web.should_exit = True
        thread.join(10)
        if server is not None:
            server.terminate()
            server.wait(30)
