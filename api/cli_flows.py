"""`postloan` commands that run the flows: `sweep`, `dispatch`, `deploy`, `serve` (registered on
the app of api/cli.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from api.cli import DateOpt, app, business_day, console, domain_errors, err
from core.settings import get_settings


@app.command("sweep")
def sweep_cmd(
    on: DateOpt = None,
    chunk_size: Annotated[int, typer.Option(min=1, help="Loans per chunk.")] = 20_000,
) -> None:
    """Run the daily sweep for a business date now, chunk by chunk, with a progress bar."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from flows.daily_sweep import plan_day, run_anchor, run_chunk

    day = business_day(on)
    with domain_errors():
        bounds = plan_day(day, chunk_size)
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
    workers: Annotated[int, typer.Option(min=1, help="API worker processes.")] = 1,
) -> None:
    """Serve the API and pages (api.main:app) and the flows with their schedules.

    Uses PREFECT_API_URL when set; otherwise starts a local Prefect server first."""
    from api import http_server

    if not flows:
        http_server.run(host, port, workers)
        return
    server = None
    if not os.environ.get("PREFECT_API_URL"):
        console.print(f"starting a Prefect server on 127.0.0.1:{prefect_port} …")
        server = _start_prefect_server(prefect_port)
        os.environ["PREFECT_API_URL"] = f"http://127.0.0.1:{prefect_port}/api"  # before import
    # A chain continues within seconds: the runner looks for new runs every second (Prefect's
    # default is 10 s), unless the operator set it.
    os.environ.setdefault("PREFECT_RUNNER_POLL_FREQUENCY", "1")
    web, api_proc = None, None
    if workers > 1:  # uvicorn's supervisor wants a main thread of its own: another process
        api_proc = subprocess.Popen([_postloan(), "serve", "--no-flows", "--host", host,
                                     "--port", str(port), "--workers", str(workers)])  # fmt: skip
    else:
        import uvicorn

        cfg = http_server.config(host, port)
        web = uvicorn.Server(cfg)
        thread = threading.Thread(
            target=web.run, kwargs={"sockets": [cfg.bind_socket()]}, name="api", daemon=True
        )
        thread.start()
    # The outbox dispatcher in a process of its own (DESIGN decision 2): its flow runs do not
    # compete with the API's requests for one interpreter.
    dispatcher = subprocess.Popen([_postloan(), "dispatch"])
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
        if api_proc is not None:
            api_proc.terminate()
            api_proc.wait(30)
        if web is not None:
            web.should_exit = True
            thread.join(10)
        if server is not None:
            server.terminate()
            server.wait(30)


def _postloan() -> str:
    return str(Path(sys.executable).with_name("postloan"))
