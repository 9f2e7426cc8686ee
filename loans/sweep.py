"""The daily portfolio sweep (日终批处理) of one business date over one chunk of loan ids: payments,
days past due, overdue buckets, lifecycle moves and class-floor proposals; set-based, idempotent,
one transaction per chunk. Must not import tasks/ or flows/: proposals are returned as plain data.
This module orders a date's work (the date only moves forward, chunks, the anchor) and runs a
chunk's steps; each step is a module of loans/sweeping/.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import date, datetime
from time import perf_counter
from typing import Any

from sqlalchemy import (
    Table,
    and_,
    func,
    or_,
    select,
)
from sqlmodel import Session

from audit import journal
from audit.journal import DailyAnchor
from core.db import is_postgres
from core.errors import RuleViolationError
from core.settings import Settings, get_settings
from loans.models import (
    Payment,
    SweptChunk,
    SweptDay,
)
from loans.regulation import RuleBook
from loans.sweeping.arrears import (
    FACTS,
    PAY_BY,
    aging_update,
    bucket_case,
    days_between,
    hold_arrears,
    load_facts,
    load_pay_by,
    update_history,
)
from loans.sweeping.floors import floor_proposals, npl_borrowers
from loans.sweeping.moves import decide, select_movers, write_moves
from loans.sweeping.payments import apply_payments
from loans.sweeping.results import (
    ACTOR,
    LOANS,
    OPEN,
    STEPS,
    ChunkResult,
    FloorProposal,
    SkippedMove,
    SweepResult,
)
from statemachines.enums import LoanState

__all__ = [
    "ACTOR",
    "OPEN",
    "STEPS",
    "ChunkResult",
    "FloorProposal",
    "SkippedMove",
    "SweepResult",
    "bucket_case",
    "days_between",
    "npl_borrowers",
]


def chunk_bounds(session: Session, size: int = 10_000) -> list[tuple[int, int]]:
    """Contiguous inclusive id ranges covering every loan the sweep has work for (the open ones,
    a settled one still showing a bucket, any with a payment to allocate), each holding at most `size` of them (at least 95 %
    of it but for the last). One scan counting loans per block of size/20 ids: a window function
    numbering a million rows costs three times as much (measured)."""
    unallocated = select(Payment.loan_id).where(~Payment.allocated)  # type: ignore[operator]
    swept = or_(
        LOANS.c.state.in_(OPEN),
        and_(LOANS.c.state == LoanState.settled.value, LOANS.c.bucket.is_not(None)),
        LOANS.c.id.in_(unallocated),  # a recovery on a written-off loan is allocated too
    )
    block = (LOANS.c.id // max(1, size // 20)).label("block")
    counts = session.execute(
        select(func.min(LOANS.c.id), func.max(LOANS.c.id), func.count())
        .where(swept)
        .group_by(block)
        .order_by(block)
    ).all()
    bounds: list[tuple[int, int]] = []
    start: int | None = None
    held = last = 0
    for first, final, n in counts:
        if start is not None and held + n > size:
            bounds.append((start, first - 1))
            start, held = None, 0
        start = first if start is None else start
        held, last = held + n, final
    if start is not None:
        bounds.append((start, last))
    return bounds


SWEPT: Table = SweptDay.__table__  # type: ignore[attr-defined]


def begin_sweep(session: Session, business_date: date, *, now: datetime) -> None:
    """Record that `business_date` is being swept; refuse a date before the last one swept.

    The sweep moves forward only: sweeping 11-20 after 11-30 would cure loans nothing was paid
    on and journal moves out of order. The same date again is a re-run and allowed."""
    last = session.execute(select(func.max(SWEPT.c.business_date))).scalar_one()
    if last is not None and business_date < last:
        raise RuleViolationError(
            f"不能跑批 {business_date}：{last} 已经跑过批，营业日只能向前 "
            f"(the sweep of {business_date} is refused: {last} has been swept already; "
            "the sweep only moves forward)",
            rule="sweep_date_order",
            business_date=business_date.isoformat(),
            last_swept=last.isoformat(),
        )
    if session.get(SweptDay, business_date) is None:
        session.add(SweptDay(business_date=business_date, started_at=now))
        session.flush()


def finish_sweep(session: Session, business_date: date, *, now: datetime) -> DailyAnchor:
    """The sweep of `business_date` is done: mark it and anchor the journal up to now (a new
    anchor if anything was written since the last one)."""
    day = session.get(SweptDay, business_date)
    if day is not None:
        day.finished_at = now
        session.add(day)
    return journal.anchor_day(session, business_date, now=now)


def record_chunk(
    session: Session,
    business_date: date,
    lo: int,
    hi: int,
    counts: dict[str, Any],
    *,
    node: str,
    now: datetime,
) -> None:
    """Keep what a chunk did, in its own transaction (a re-run of the chunk replaces it)."""
    row = session.get(SweptChunk, (business_date, lo)) or SweptChunk(
        business_date=business_date, loan_id_from=lo
    )
    row.loan_id_to, row.counts, row.node, row.finished_at = hi, counts, node, now
    session.add(row)


def chunk_records(
    session: Session, business_date: date, bounds: Sequence[tuple[int, int]]
) -> list[SweptChunk]:
    """The chunks of `bounds` as they last ran on `business_date`; a chunk that never finished
    is refused, named (its run ended without its transaction committing)."""
    found = {
        c.loan_id_from: c
        for c in session.scalars(
            select(SweptChunk).where(SweptChunk.business_date == business_date)  # type: ignore[arg-type]
        )
    }
    missing = [(lo, hi) for lo, hi in bounds if lo not in found or found[lo].loan_id_to != hi]
    if missing:
        raise RuleViolationError(
            f"跑批 {business_date} 有 {len(missing)} 个分片没有完成记录（首个：贷款 id "
            f"{missing[0][0]}–{missing[0][1]}），请重跑该日 (the sweep of {business_date} has "
            f"{len(missing)} chunks with no record of finishing, the first loan ids "
            f"{missing[0][0]}–{missing[0][1]}; run the date again: it is idempotent)",
            rule="sweep_chunk_unfinished",
            business_date=business_date.isoformat(),
        )
    return [found[lo] for lo, _ in bounds]


def sweep_chunk(
    session: Session,
    *,
    business_date: date,
    loan_id_from: int,
    loan_id_to: int,
    now: datetime,
    settings: Settings | None = None,
    contagious_borrowers: frozenset[int] | None = None,
) -> ChunkResult:
    """Sweep loans with loan_id_from ≤ id ≤ loan_id_to for `business_date`; the caller commits.

    Re-running the same date (or after a crash) finds nothing left to do: each step compares the
    stored value with the one it would write, and a move is selected from the loan's state.
    `contagious_borrowers` (npl_borrowers(), once per date) saves each chunk asking per loan.
    """
    settings = settings or get_settings()
    d, lo, hi = business_date, loan_id_from, loan_id_to
    begin_sweep(session, d, now=now)  # a chunk run on its own is held to the same order
    result = ChunkResult(d, lo, hi)
    clock = perf_counter()

    def lap(step: str) -> None:
        nonlocal clock
        result.elapsed[step] += perf_counter() - clock
        clock = perf_counter()

    items, paid = apply_payments(session, d, lo, hi)
    result.payments_applied = sum(item["event"] == "allocate_payment" for item in items)
    result.changed.update(paid)
    session.flush()  # the Core statements below read the installments allocate() changed
    lap("payments")
    conn = session.connection()
    in_chunk = and_(LOANS.c.id.between(lo, hi), LOANS.c.state.in_(OPEN), LOANS.c.booked_on <= d)
    result.loans = conn.execute(select(func.count()).where(in_chunk)).scalar_one()
    load_facts(session, d, lo, hi)
    hold_arrears(session, d, lo, hi)
    load_pay_by(session, d)
    ages = aging_update(session, d, lo, hi, settings.overdue_bucket_bounds)
    aged = list(conn.execute(ages.returning(LOANS.c.id)).scalars())
    result.dpd_updated = len(aged)
    result.changed.update(aged)
    lap("dpd")
    update_history(session, result, aged)
    lap("buckets")
    movers = select_movers(session, d, lo, hi)
    moves = decide(movers, result)
    result.changed.update(mover.id for mover, _ in moves)
    items += write_moves(session, moves, result)
    result.journal_entries = journal.append_many(session, items, now=now, business_date=d)
    FACTS.drop(conn)
    PAY_BY.drop(conn)
    lap("moves")
    book = RuleBook.from_settings(settings)
    result.proposals = floor_proposals(session, d, lo, hi, book, contagious_borrowers)
    lap("floors")
    return result


def sweep_date(
    session_factory: Callable[[], Session],
    business_date: date,
    *,
    now: datetime,
    chunk_size: int = 10_000,
    progress: Callable[[int, int, ChunkResult], None] | None = None,
    settings: Settings | None = None,
    workers: int = 1,
) -> SweepResult:
    """Sweep every open loan for `business_date`, one committed transaction per chunk, then anchor
    the journal. Killed halfway, it is simply run again.

    `workers` > 1 sweeps that many chunks at once on Postgres (chunks touch disjoint loans, so
    they never wait on each other); SQLite has one writer and always runs them one by one.
    """
    started = perf_counter()
    with session_factory() as session:
        begin_sweep(session, business_date, now=now)
        session.commit()
        bounds = chunk_bounds(session, chunk_size)
        postgres = is_postgres(session)
        contagious = npl_borrowers(session) if postgres else None
    result = SweepResult(business_date)

    def run(lo: int, hi: int) -> ChunkResult:
        with session_factory() as session:
            chunk = sweep_chunk(
                session,
                business_date=business_date,
                loan_id_from=lo,
                loan_id_to=hi,
                now=now,
                settings=settings,
                contagious_borrowers=contagious,
            )
            session.commit()
            return chunk

    def done(chunk: ChunkResult) -> None:
        result.add(chunk)
        if progress is not None:
            progress(result.chunks, len(bounds), chunk)

    if workers > 1 and postgres:
        with ThreadPoolExecutor(workers, thread_name_prefix="sweep") as pool:
            futures = [pool.submit(run, lo, hi) for lo, hi in bounds]
            try:
                for future in as_completed(futures):
                    done(future.result())
            except BaseException:
                for future in futures:  # committed chunks stay; the re-run picks up the rest
                    future.cancel()
                raise
    else:
        for lo, hi in bounds:
            done(run(lo, hi))
    for found in (result.conflicts, result.refused, result.proposals):
        found.sort(key=lambda item: item.loan_id)  # chunks may finish in any order
    with session_factory() as session:
        before = journal.last_anchor(session)
        anchor = finish_sweep(session, business_date, now=now)
        session.commit()
        result.anchored = before is None or anchor.id != before.id
    result.seconds = perf_counter() - started
    return result
