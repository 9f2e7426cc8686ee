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

from api.cli import DateOpt, app, business_day, console, domain_errors, err, named
from core.settings import get_settings

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


@app.command("sweep")
def sweep_cmd(
    on: DateOpt = None,
    chunk_size: Annotated[int, typer.Option(min=1, help="Loans per chunk.")] = 20_000,
) -> None:
    """Run the daily sweep for a business date now, chunk by chunk, with a progress bar."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from flows.daily_sweep import plan_day, run_anchor, run_chunk, run_summary

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
        with console.status(f"日终汇总 book summary {day}"):
            totals.update(run_summary(day))
    table = Table("项目 Measure", "数值 Value", title=f"日终跑批 Daily sweep {day}")
    for key, value in sorted(totals.items(), key=lambda kv: _measure_order(kv[0])):
        table.add_row(
            measure_label(key), f"{value:,.3f}" if isinstance(value, float) else f"{value:,}"
        )
    table.add_row("日志锚点 Journal anchor", anchor)
    console.print(table)


SWEEP_MEASURES: dict[str, str] = {  # flows.daily_sweep.run_chunk's keys, for a person
    "loans": "参与跑批的贷款 Loans swept",
    "payments_applied": "分配的还款 Payments allocated",
    "dpd_updated": "逾期天数更新 Days past due updated",
    "bucket_changes": "逾期档变化 Bucket changes",
    "journal_entries": "日志记录 Journal entries",
    "conflicts_skipped": "并发冲突跳过 Skipped (concurrent change)",
    "refused_by_machine": "状态机拒绝 Refused by the state machine",
    "below_floor": "低于分类底线 Below their class floor",
    "proposals_opened": "新开分类申请 Classification requests opened",
    "proposals_raised": "调高待批申请 Waiting requests raised",
    "requests_withdrawn": "贷款结清、撤回待批申请 Requests withdrawn (loan settled)",
    "tasks_refreshed": "刷新任务 Tasks refreshed",
    "summaries_built": "生成日终汇总 Book summaries built",
    "summaries_superseded": "汇总期间数据变动、待重建 Summaries superseded by a change",
}
SWEEP_STEPS = {
    "payments": "还款分配 payments",
    "dpd": "逾期天数 days past due",
    "buckets": "逾期档 buckets",
    "moves": "状态迁移 moves",
    "floors": "分类底线 floors",
}


def measure_label(key: str) -> str:
    """A sweep measure for a person: Chinese, then English; moves and timings by their part."""
    if key in SWEEP_MEASURES:
        return SWEEP_MEASURES[key]
    if key.startswith("moved_"):
        return f"迁移 Moved: {named(key.removeprefix('moved_'))}"
    if key.startswith("seconds_"):
        step = key.removeprefix("seconds_")
        return f"耗时（秒）Seconds: {SWEEP_STEPS.get(step, step)}"
    return key


def _measure_order(key: str) -> tuple[int, str]:
    order = list(SWEEP_MEASURES)
    if key in SWEEP_MEASURES:
        return (order.index(key), key)
    return (len(order) + (1 if key.startswith("seconds_") else 0), key)


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
            f"已投递 delivered {report.delivered}, 失败 failed {report.failed}, "
            f"待投递 waiting {pending_count()}"
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
    crash_after: Annotated[
        int | None,
        typer.Option(
            min=31,
            help="Seconds without a heartbeat after which a run counts as crashed (its worker "
            "was lost); default three heartbeat periods (PREFECT_FLOWS_HEARTBEAT_FREQUENCY).",
        ),
    ] = None,
) -> None:
    """Register the flows in a work pool on the Prefect server in PREFECT_API_URL; workers on
    each machine (`prefect worker start --pool …`) then share the sweep's chunks."""
    from flows.launch import deploy_to_pool

    for deployment_id in deploy_to_pool(work_pool, source, crash_after):
        console.print(f"已部署 deployed {deployment_id}")


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
        start_new_session=True,  # Ctrl-C reaches `serve` only; it stops the server last
    )
    url = f"http://127.0.0.1:{port}/api/health"
    try:
        for _ in range(240):
            if proc.poll() is not None:
                raise typer.BadParameter(f"the Prefect server exited; see {home / 'server.log'}")
            try:
                with urllib.request.urlopen(url, timeout=1):
                    return proc
            except OSError:
                time.sleep(0.5)
        raise typer.BadParameter(f"the Prefect server did not start; see {home / 'server.log'}")
    except BaseException:  # Ctrl-C while it starts, too: it has a session of its own
        proc.terminate()
        proc.wait(30)
        raise


@app.command("serve")
def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    flows: Annotated[bool, typer.Option(help="Also serve the Prefect deployments.")] = True,
    prefect_port: int = 4200,
    workers: Annotated[int, typer.Option(min=1, help="API worker processes.")] = 1,
) -> None:
    """Serve the API and pages (api.main:app) and the flows with their schedules.

    Uses PREFECT_API_URL when set; otherwise starts a local Prefect server first. On a
    loopback host (the local demo, plain HTTP) cookies go without the Secure flag unless
    POSTLOAN_COOKIE_SECURE says otherwise."""
    from api import http_server

    if host in LOOPBACK and "POSTLOAN_COOKIE_SECURE" not in os.environ:
        os.environ["POSTLOAN_COOKIE_SECURE"] = "false"  # before the app reads its settings
        get_settings.cache_clear()

    if not flows:
        http_server.run(host, port, workers)
        return
    # Ctrl-C (SIGINT) reaches this process only: the Prefect server, the dispatcher and a
    # multi-worker API have sessions of their own, so that the runner can pause its schedules
    # on the server before this process stops the others, in order. SIGTERM is taken like Ctrl-C.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    server = dispatcher = api_proc = web = thread = None
    try:
        if not os.environ.get("PREFECT_API_URL"):
            console.print(f"starting a Prefect server on 127.0.0.1:{prefect_port} … 启动 Prefect")
            server = _start_prefect_server(prefect_port)
            os.environ["PREFECT_API_URL"] = f"http://127.0.0.1:{prefect_port}/api"  # before import
        # A chain continues within seconds: the runner looks for new runs every second
        # (Prefect's default is 10 s), unless the operator set it.
        os.environ.setdefault("PREFECT_RUNNER_POLL_FREQUENCY", "1")
        if workers > 1:  # uvicorn's supervisor wants a main thread of its own: another process
            api_proc = subprocess.Popen(
                [_postloan(), "serve", "--no-flows", "--host", host, "--port", str(port),
                 "--workers", str(workers)],
                start_new_session=True,
            )  # fmt: skip
        else:
            import uvicorn

            cfg = http_server.config(host, port)
            web = uvicorn.Server(cfg)
            thread = threading.Thread(
                target=web.run, kwargs={"sockets": [cfg.bind_socket()]}, name="api", daemon=True
            )
            thread.start()
        # The outbox dispatcher in a process of its own (DESIGN decision 2): its flow runs do
        # not compete with the API's requests for one interpreter.
        dispatcher = subprocess.Popen([_postloan(), "dispatch"], start_new_session=True)
        console.print(
            f"[green]postloan[/] on http://{host}:{port}  ·  Prefect UI "
            f"{os.environ['PREFECT_API_URL'].removesuffix('/api')}  (Ctrl-C 停止 stops)"
        )
        from flows.launch import serve_all

        serve_all()  # blocks until Ctrl-C / SIGTERM; the runner wants the main thread
    except KeyboardInterrupt:
        pass  # Ctrl-C before the runner was up: shut down the same way
    finally:
        console.print("stopping … 正在停止")
        for proc in (dispatcher, api_proc):
            if proc is not None:
                proc.terminate()
                proc.wait(30)
        if web is not None and thread is not None:
            web.should_exit = True
            thread.join(10)
        if server is not None:
            server.terminate()
            server.wait(30)
        console.print("stopped 已停止")


def _postloan() -> str:
    return str(Path(sys.executable).with_name("postloan"))
