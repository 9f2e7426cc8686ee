"""`postloan simulate` (registered on the app of api/cli.py): a generated book run day by day
through the real flows' steps with bots for people (sim/), with a progress bar; Ctrl-C stops
after the day being run and `--resume` goes on from there. At the end it prints what a credit
officer asks of the year and writes it as JSON (and it is the page /reports/simulation)."""

from __future__ import annotations

import json
import os
import resource
import signal
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from api.cli import app, console, domain_errors, yuan

CLASSES = ("pass", "special_mention", "substandard", "doubtful", "loss")
CLASS_ZH = {"pass": "正常", "special_mention": "关注", "substandard": "次级", "doubtful": "可疑",
            "loss": "损失"}  # fmt: skip


@app.command("simulate")
def simulate(
    loans: Annotated[int, typer.Option(min=1, help="Loans in the generated book.")] = 10_000,
    start: Annotated[
        datetime | None,
        typer.Option("--from", formats=["%Y-%m-%d"], help="First simulated business date."),
    ] = None,
    days: Annotated[int, typer.Option(min=1, help="Days to simulate.")] = 365,
    seed: Annotated[int, typer.Option(help="Seed of every draw (same seed, same year).")] = 1,
    profiles: Annotated[
        str | None,
        typer.Option(
            help="Repayment profile weights, e.g. on_time=74,late_cured=12,chronic=5,"
            "default=4,prepay=5."
        ),  # fmt: skip
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Go on with the last stopped simulation.")
    ] = False,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the figures as JSON here.")
    ] = None,
) -> None:
    """模拟 Simulate a bank: a generated book through the real daily flows, bots for people."""
    from core.settings import get_settings

    if "POSTLOAN_SQLITE_SYNCHRONOUS" not in os.environ:  # a generated, resumable book: a power
        os.environ["POSTLOAN_SQLITE_SYNCHRONOUS"] = "NORMAL"  # cut repeats its last days
        get_settings.cache_clear()  # read by each new SQLite connection
    from sim import run as sim_run
    from sim.params import SimParams, parse_profiles

    with domain_errors():
        if resume:
            record = sim_run.load(None)
            if record.finished_at is not None:
                console.print(f"模拟 #{record.id} 已完成 simulation #{record.id} already finished")
                _print(record)
                return
            run_id = record.id or 0
        else:
            kwargs: dict[str, Any] = {}
            if profiles is not None:
                kwargs["profiles"] = parse_profiles(profiles)
            first = start.date() if start else date(datetime.now(UTC).year - 1, 1, 1)
            params = SimParams(loans=loans, start=first, days=days, seed=seed, **kwargs)
            with console.status(f"生成贷款组合 building the book ({loans:,} loans)"):
                run_id = sim_run.start(params, datetime.now(UTC))
        record = _run(sim_run, run_id)
    _print(record)
    if json_out is not None:
        json_out.write_text(json.dumps(as_json(record), ensure_ascii=False, indent=1), "utf-8")
        console.print(f"已写入 written: {json_out}")


def _run(sim_run: Any, run_id: int) -> Any:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    record = sim_run.load(run_id)
    params = sim_run.SimParams.from_json(record.params)
    done = (record.last_day - params.start).days + 1 if record.last_day else 0
    stopping = {"now": False}

    def stop(signum: int, frame: object) -> None:
        stopping["now"] = True
        console.print("[yellow]收到中断，本日跑完后停止 stopping after this day…[/]")

    previous = signal.signal(signal.SIGINT, stop)
    columns = ("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TimeRemainingColumn())  # fmt: skip
    try:
        with Progress(*columns, console=console) as progress:
            bar = progress.add_task(f"模拟 simulating #{run_id}", total=params.days + params.extra_days,
                                    completed=done)  # fmt: skip

            def advance(day: date, counts: dict[str, int]) -> None:
                progress.update(bar, advance=1, description=f"模拟 simulating {day}")

            record = sim_run.run_days(run_id, progress=advance, stop=lambda: stopping["now"])
    finally:
        signal.signal(signal.SIGINT, previous)
    if record.finished_at is None:
        console.print(f"[yellow]已停止于 stopped after {record.last_day}[/]; "
                      "继续 resume: postloan simulate --resume")  # fmt: skip
        raise typer.Exit(0)
    return record


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def as_json(record: Any) -> dict[str, Any]:
    return {
        "run": record.id,
        "params": record.params,
        "seconds": round(record.seconds, 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "last_day": record.last_day.isoformat() if record.last_day else None,
        "finished": record.finished_at is not None,
        "totals": record.totals,
        "months": record.months,
        "figures": record.figures,
        "failures": record.failures,
    }


def _print(record: Any) -> None:
    months = Table("月末 Month end", *(f"{CLASS_ZH[c]} {c}" for c in CLASSES),
                   "不良率 NPL %", "预期损失 Expected bad debt", title="五级分类 Five tiers (count)")  # fmt: skip
    for m in record.months:
        months.add_row(m["on"], *(f"{m['tiers'].get(c, {}).get('count', 0):,}" for c in CLASSES),
                       f"{m['npl_ratio_pct']}", yuan(m["expected_bad_debt_cents"]))  # fmt: skip
    console.print(months)
    figures = record.figures
    if figures.get("roll_rates"):
        buckets = list(figures["roll_rates"][-1]["cells"])
        roll = Table("期间 Period", *buckets, title="迁徙率 Roll rates (count %, to next or worse)")
        for p in figures["roll_rates"]:
            roll.add_row(f"{p['start']}→{p['end']}",
                         *(_pct(p["cells"].get(b, {}).get("rate_pct")) for b in buckets))  # fmt: skip
        console.print(roll)
    late = Table("机构 Branch", "应检 Due", "按时 On time", "逾期登记 Late", "未登记 Open late",
                 "逾期率 Late %", title="检查逾期（按登记日期考核） Late inspections")  # fmt: skip
    for r in figures.get("late_inspections", []):
        late.add_row(f"{r['name']} {r['branch']}", *(f"{r[k]:,}" for k in
                     ("due", "on_time", "late", "open_late")), _pct(r["late_rate_pct"]))  # fmt: skip
    console.print(late)
    chains = Table("申请 Request", "提交 Filed", "已决 Decided", "结果 Outcomes",
                   "天数 p50 / p95 Days", title="审批链 Approval chains")  # fmt: skip
    from api.i18n import REQUEST_KINDS, REQUEST_STATES, lookup

    for kind, c in figures.get("chains", {}).items():
        chains.add_row(f"{lookup(REQUEST_KINDS, kind, 'zh')} {kind}", f"{c['filed']:,}", f"{c['decided']:,}",
                       ", ".join(f"{lookup(REQUEST_STATES, k, 'zh')} {v}"
                                 for k, v in c["outcomes"].items()),
                       f"{c['days_p50']} / {c['days_p95']}")  # fmt: skip
    console.print(chains)
    console.print(f"超时升级 SLA escalations: {figures.get('sla_escalations', {})}")
    console.print(f"催收梯度 Collection ladders: {figures.get('ladders', {})}")
    done = {k: v for k, v in sorted(record.totals.items()) if k.startswith("completed")}
    console.print(f"机器人完成 bots completed: {done}")
    if record.failures:
        console.print(f"[bold red]检查未通过 checks failed ({len(record.failures)}):[/]")
        for failure in record.failures:
            console.print(f"  {failure}")
    else:
        console.print("[green]全部检查通过 every check held[/] (floors at month ends, "
                      "inspections opened, late ones flagged, journal verified, replay = state)")  # fmt: skip
    console.print(f"用时 time {record.seconds:,.1f} s, 内存峰值 peak RSS {peak_rss_mb():,.0f} MB")


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"
