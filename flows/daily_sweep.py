"""daily-sweep: the portfolio sweep for one business date (DESIGN decision 3).

One Prefect step per chunk of loans (thousands each): payments applied, days past due, buckets,
lifecycle moves through the machine, regulatory floors. Each chunk is one transaction and
idempotent, so a re-run of the date — or of a run killed halfway — creates nothing twice. Loans
below their floor get a classification request whose first level (the branch head) opens at once
— a downgrade *proposal*, never a silent change; a waiting one is raised as the floor worsens.
The day ends with the journal's anchor, then the book's summary of the date (日终汇总,
reports/book_summary.py) that the portfolio report reads.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from prefect import flow, task
from prefect.task_runners import ThreadPoolTaskRunner
from prefect.utilities.asyncutils import run_coro_as_sync
from pydantic import BaseModel, Field

from approvals.proposals import propose_floors
from approvals.steps import withdraw_moot
from cases.completion import EFFECTS
from core.db import get_engine, is_postgres, refresh_statistics
from core.settings import get_settings
from flows.common import business_date, clock, transaction
from loans import sweep
from reports import book_summary
from reports.portfolio import default_since
from tasks.opening import refresh_business_columns

ACTOR = "system:daily-sweep"
CHUNK_WAIT_SECONDS = 3600
CHUNK_ATTEMPTS = 3  # a chunk whose run crashed is started again, this many runs in all


class SweepParams(BaseModel):
    business_date: date | None = Field(default=None, description="Default: today (bank time).")
    chunk_size: int = Field(default=20_000, ge=1, le=200_000)
    parallel_chunks: int = Field(
        default=2,
        ge=1,
        le=16,
        description="Chunks swept at once in this process on Postgres (SQLite: always one).",
    )
    chunk_deployment: str | None = Field(
        default=None,
        description="Run each chunk as a run of this deployment (a work pool's workers spread "
        "them over machines); None: chunks run here, one after another.",
    )


def plan_day(day: date, chunk_size: int) -> list[tuple[int, int]]:
    """Record the date as being swept (refused before the last swept date), then its chunks.
    Shared by the Prefect step and `postloan sweep`."""
    with transaction() as session:
        sweep.begin_sweep(session, day, now=clock().now())
    with transaction() as session:
        return sweep.chunk_bounds(session, size=chunk_size)


@task(name="plan-chunks", retries=2, retry_delay_seconds=5)
def plan_chunks(day: date, chunk_size: int) -> list[tuple[int, int]]:
    return plan_day(day, chunk_size)


def run_chunk(day: date, lo: int, hi: int) -> dict[str, Any]:
    """One chunk in one transaction: the sweep, then classification requests for the loans below
    their floor, the live requests of the loans it settled withdrawn, then the business columns
    of the changed loans' open tasks. Shared by the Prefect step and `postloan sweep`."""
    with transaction() as session:
        now = clock().now()
        result = sweep.sweep_chunk(
            session, business_date=day, loan_id_from=lo, loan_id_to=hi, now=now
        )
        proposed = propose_floors(
            session, result.proposals, actor=ACTOR, now=now, business_date=day
        )
        withdrawn = withdraw_moot(
            session, result.settled, EFFECTS, actor=ACTOR, now=now, business_date=day
        )
        refreshed = refresh_business_columns(session, result.changed)
        counts = {
            **summary(result),
            "proposals_opened": proposed.opened,
            "proposals_raised": proposed.raised,
            "requests_withdrawn": withdrawn,
            "tasks_refreshed": refreshed,
        }
        sweep.record_chunk(session, day, lo, hi, counts, node=get_settings().node_name, now=now)
    return counts


def summary(result: sweep.ChunkResult) -> dict[str, Any]:
    """Counts and timings of a chunk, JSON-safe (a Prefect result, a CLI table)."""
    counts = {
        name: getattr(result, name)
        for name in (
            "loans",
            "payments_applied",
            "dpd_updated",
            "bucket_changes",
            "journal_entries",
        )
    }
    counts.update({f"moved_{event}": n for event, n in result.moves.items()})
    counts.update(
        {
            "conflicts_skipped": len(result.conflicts),
            "refused_by_machine": len(result.refused),
            "below_floor": len(result.proposals),
        }
    )
    counts.update({f"seconds_{step}": round(t, 3) for step, t in result.elapsed.items()})
    return counts


def run_anchor(day: date) -> str:
    """The sweep of the day finished, and the journal anchored up to now (a re-run that wrote
    nothing new keeps the last anchor)."""
    with transaction() as session:
        return sweep.finish_sweep(session, day, now=clock().now()).digest


def run_summary(day: date) -> dict[str, int]:
    """The book summary of the date, and of each recent day or month end whose summary a later
    change removed (reports/book_summary.due_days) — each in three transactions: marker,
    figures, keep; then the database's planner statistics (core.db.refresh_statistics). Shared
    by the Prefect step and `postloan sweep`."""
    with transaction() as session:
        due = book_summary.due_days(session, day)
    built = superseded = 0
    for d in due:
        since = default_since(d)
        with transaction() as session:
            build_id = book_summary.begin_build(session, d, since, now=clock().now())
        with transaction() as session:
            roll_start, rows = book_summary.compute(session, d, since)
        with transaction() as session:
            kept = book_summary.finish_build(
                session, d, build_id, roll_start, rows, now=clock().now()
            )
        built, superseded = built + kept, superseded + (not kept)
    with transaction() as session:  # the day's writes done: the planner's statistics follow
        refresh_statistics(session)
    return {"summaries_built": built, "summaries_superseded": superseded}


@task(name="sweep-chunk", retries=2, retry_delay_seconds=10, timeout_seconds=900)
def sweep_chunk(day: date, lo: int, hi: int) -> dict[str, Any]:
    return run_chunk(day, lo, hi)


@task(name="anchor-journal", retries=2, retry_delay_seconds=5)
def anchor(day: date) -> str:
    return run_anchor(day)


@task(name="summarize-book", retries=2, retry_delay_seconds=10)
def summarize(day: date) -> dict[str, int]:
    return run_summary(day)


@flow(name="sweep-chunk", log_prints=True)
def sweep_chunk_flow(business_date: date, lo: int, hi: int) -> dict[str, Any]:
    """One chunk as a flow run of its own, for workers of a work pool."""
    return run_chunk(business_date, lo, hi)


def _distributed(day: date, bounds: list[tuple[int, int]], deployment: str) -> list[dict[str, Any]]:
    """Start every chunk as a deployment run (a work pool's workers pick them up) and wait for
    all with Prefect's own wait (events, not polling). A chunk whose run crashed — its worker
    was lost mid-chunk, and the server's automation marked the silent run Crashed
    (flows/launch.ensure_crash_automation) — is started again, up to CHUNK_ATTEMPTS times: its
    transaction never committed, and a chunk is idempotent. A chunk's result lives on the worker
    that ran it, so its counts are read back from the chunk's record in the app database,
    written in the chunk's own transaction — the real counts, with the machine that ran each."""
    from prefect.deployments import run_deployment

    def start(lo: int, hi: int) -> Any:
        return run_deployment(
            deployment,
            parameters={"business_date": day, "lo": lo, "hi": hi},
            timeout=0,
            as_subflow=True,
        )

    pending = {bound: start(*bound) for bound in bounds}
    for attempt in range(1, CHUNK_ATTEMPTS + 1):
        finished = run_coro_as_sync(_wait_all([run.id for run in pending.values()])) or []
        again = {}
        for bound, run in zip(pending, finished, strict=True):
            if run.state is not None and run.state.is_completed():
                continue
            if run.state is not None and run.state.is_crashed() and attempt < CHUNK_ATTEMPTS:
                print(f"chunk {bound[0]}-{bound[1]}: run {run.name} crashed; starting it again")
                again[bound] = start(*bound)
                continue
            state = run.state.type if run.state else "unknown"
            raise RuntimeError(
                f"chunk run {run.name} ended {state}; run the date again (it is idempotent)"
            )
        pending = again
        if not pending:
            break
    with transaction() as session:
        records = sweep.chunk_records(session, day, bounds)
        return [{**record.counts, f"chunks_on_{record.node}": 1} for record in records]


async def _wait_all(run_ids: list[Any]) -> list[Any]:
    import asyncio

    from prefect.flow_runs import wait_for_flow_run

    return list(
        await asyncio.gather(
            *(wait_for_flow_run(run_id, timeout=CHUNK_WAIT_SECONDS) for run_id in run_ids)
        )
    )


def _in_parallel(day: date, bounds: list[tuple[int, int]], width: int) -> list[dict[str, Any]]:
    """Chunks `width` at a time (Postgres row locks keep concurrent chunks apart)."""
    results: list[dict[str, Any]] = []
    for start in range(0, len(bounds), width):
        futures = [sweep_chunk.submit(day, lo, hi) for lo, hi in bounds[start : start + width]]
        results += [future.result() for future in futures]
    return results


@flow(name="daily-sweep", log_prints=True, task_runner=ThreadPoolTaskRunner(max_workers=16))
def daily_sweep(params: SweepParams | None = None) -> dict[str, Any]:
    """The portfolio sweep for a business date: chunks, floor proposals, the journal anchor."""
    params = params or SweepParams()
    day = business_date(params.business_date)
    totals: dict[str, Any] = {"business_date": day.isoformat(), "chunks": 0}
    bounds = plan_chunks(day, params.chunk_size)
    if params.chunk_deployment:
        results = _distributed(day, bounds, params.chunk_deployment)
    elif params.parallel_chunks > 1 and is_postgres(get_engine()):
        results = _in_parallel(day, bounds, params.parallel_chunks)
    else:
        results = [sweep_chunk(day, lo, hi) for lo, hi in bounds]
    for result in results:
        for key, value in result.items():
            if isinstance(value, int | float):
                totals[key] = totals.get(key, 0) + value
        totals["chunks"] += 1
    totals["anchor"] = anchor(day)
    totals.update(summarize(day))
    print(f"daily sweep {day}: {totals}")
    return totals
