"""The daily portfolio sweep (日终批处理) of one business date over one chunk of loan ids: payments,
days past due, overdue buckets, lifecycle moves and class-floor proposals; set-based, idempotent,
one transaction per chunk. Must not import tasks/ or flows/: proposals are returned as plain data.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from time import perf_counter
from typing import Any

from sqlalchemy import (
    ARRAY,
    Column,
    Date,
    Integer,
    MetaData,
    Table,
    and_,
    any_,
    bindparam,
    case,
    cast,
    exists,
    false,
    func,
    insert,
    literal,
    literal_column,
    null,
    or_,
    select,
    update,
)
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session

from audit import journal
from audit.journal import DailyAnchor
from core.db import is_postgres
from core.errors import RuleViolationError, TransitionNotAllowedError
from core.settings import Settings, get_settings
from loans import aging
from loans.book import LOAN
from loans.floors import floors_for
from loans.models import (
    Borrower,
    BorrowerKind,
    Installment,
    Loan,
    LoanBucketHistory,
    Payment,
    SweptDay,
)
from loans.payments import BOOK_MACHINE, allocate, lock_loans, reallocation_entry
from loans.regulation import Floor, FloorFacts, RuleBook, classification_floor
from statemachines.enums import LoanState, RiskClass
from statemachines.loan_lifecycle import LoanFacts, LoanLifecycle

ACTOR = "system:daily-sweep"
MACHINE = "loan_lifecycle"
MARK_OVERDUE, CURE, SETTLE = "mark_overdue", "cure", "settle"
STEPS = ("payments", "dpd", "buckets", "moves", "floors")

LOANS: Table = Loan.__table__  # type: ignore[attr-defined]
INSTALLMENTS: Table = Installment.__table__  # type: ignore[attr-defined]
HISTORY: Table = LoanBucketHistory.__table__  # type: ignore[attr-defined]
BORROWERS: Table = Borrower.__table__  # type: ignore[attr-defined]
OPEN = tuple(s.value for s in LoanState if s.is_open)
AGED = (*OPEN, LoanState.settled.value)  # a loan settled between sweeps drops its bucket too
NPL = tuple(c.value for c in RiskClass if c.is_npl)
IN_LIST = 1000  # ids per IN (…) list


@dataclass(frozen=True)
class FloorProposal:
    """A loan whose regulatory floor is worse than its class: a downgrade to propose to the
    classification chain (客户经理 → 部门负责人 → 信贷评审委员会), never applied here."""

    loan_id: int
    loan_no: str
    current_class: RiskClass
    floor_class: RiskClass
    reasons: tuple[str, ...]  # rule codes binding at floor_class
    rule_refs: tuple[str, ...]  # "<source> <article> (<effective_from>)"
    days_past_due: int = 0


@dataclass(frozen=True)
class SkippedMove:
    """A move the sweep did not make: refused by the machine, or lost to a concurrent writer."""

    loan_id: int
    loan_no: str
    event: str
    state: str
    reason: str


@dataclass
class ChunkResult:
    business_date: date
    loan_id_from: int
    loan_id_to: int
    loans: int = 0  # open loans in the chunk
    payments_applied: int = 0
    dpd_updated: int = 0
    bucket_changes: int = 0
    bucket_rows_opened: int = 0
    bucket_rows_closed: int = 0
    moves: Counter[str] = field(default_factory=Counter)
    conflicts: list[SkippedMove] = field(default_factory=list)  # next run picks them up
    refused: list[SkippedMove] = field(default_factory=list)  # the machine said no: a human's turn
    proposals: list[FloorProposal] = field(default_factory=list)
    journal_entries: int = 0
    elapsed: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STEPS, 0.0))
    # loans whose days past due, bucket, state or balances this chunk changed: their open tasks'
    # business columns are refreshed from them (tasks.opening.refresh_business_columns)
    changed: set[int] = field(default_factory=set)


@dataclass
class SweepResult:
    business_date: date
    chunks: int = 0
    loans: int = 0
    payments_applied: int = 0
    dpd_updated: int = 0
    bucket_changes: int = 0
    bucket_rows_opened: int = 0
    bucket_rows_closed: int = 0
    moves: Counter[str] = field(default_factory=Counter)
    conflicts: list[SkippedMove] = field(default_factory=list)
    refused: list[SkippedMove] = field(default_factory=list)
    proposals: list[FloorProposal] = field(default_factory=list)
    journal_entries: int = 0
    elapsed: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STEPS, 0.0))
    seconds: float = 0.0
    anchored: bool = False  # this run wrote a journal anchor (there was something new to cover)

    def add(self, chunk: ChunkResult) -> None:
        self.chunks += 1
        for name in (
            "loans",
            "payments_applied",
            "dpd_updated",
            "bucket_changes",
            "bucket_rows_opened",
            "bucket_rows_closed",
            "journal_entries",
        ):
            setattr(self, name, getattr(self, name) + getattr(chunk, name))
        self.moves.update(chunk.moves)
        self.conflicts += chunk.conflicts
        self.refused += chunk.refused
        self.proposals += chunk.proposals
        for step, seconds in chunk.elapsed.items():
            self.elapsed[step] = self.elapsed.get(step, 0.0) + seconds


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

    items, paid = _apply_payments(session, d, lo, hi)
    result.payments_applied = sum(item["event"] == "allocate_payment" for item in items)
    result.changed.update(paid)
    session.flush()  # the Core statements below read the installments allocate() changed
    lap("payments")
    conn = session.connection()
    in_chunk = and_(LOANS.c.id.between(lo, hi), LOANS.c.state.in_(OPEN), LOANS.c.booked_on <= d)
    result.loans = conn.execute(select(func.count()).where(in_chunk)).scalar_one()
    _load_facts(session, d, lo, hi)
    _hold_arrears(session, d, lo, hi)
    _load_pay_by(session, d)
    aging_update = _aging_update(session, d, lo, hi, settings.overdue_bucket_bounds)
    aged = list(conn.execute(aging_update.returning(LOANS.c.id)).scalars())
    result.dpd_updated = len(aged)
    result.changed.update(aged)
    lap("dpd")
    _update_history(session, result, aged)
    lap("buckets")
    movers = _select_movers(session, d, lo, hi)
    moves = _decide(movers, result)
    result.changed.update(mover.id for mover, _ in moves)
    items += _write_moves(session, moves, result)
    result.journal_entries = journal.append_many(session, items, now=now, business_date=d)
    FACTS.drop(conn)
    PAY_BY.drop(conn)
    lap("moves")
    book = RuleBook.from_settings(settings)
    result.proposals = _floor_proposals(session, d, lo, hi, book, contagious_borrowers)
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


# -- 1. payments ---------------------------------------------------------------------------------
RECOVERY = "record_recovery"  # the machine's own transition: written off → written off
assert LoanLifecycle.transition_table()[(LoanState.written_off.value, RECOVERY)] == {
    LoanState.written_off.value
}


def _apply_payments(
    session: Session, d: date, lo: int, hi: int
) -> tuple[list[dict[str, Any]], list[int]]:
    """Allocate unallocated payments valued on or before `d` (few a day), each loan's under its
    lock (lock_loans: all of them first, in id order), in value-date order."""
    rows = session.execute(
        select(Payment, LOANS.c.loan_no, LOANS.c.state)
        .join(LOANS, LOANS.c.id == Payment.loan_id)
        .where(
            ~Payment.allocated,  # type: ignore[operator]  # ix_payments_unallocated
            Payment.value_date <= d,
            Payment.loan_id.between(lo, hi),  # type: ignore[attr-defined]
            LOANS.c.booked_on <= d,
        )
        .order_by(Payment.loan_id, Payment.value_date, Payment.id)  # type: ignore[arg-type]
    ).all()
    by_loan: dict[int, list[Payment]] = {}
    loan_of: dict[int, tuple[str, str]] = {}
    for payment, loan_no, state in rows:
        by_loan.setdefault(payment.loan_id, []).append(payment)
        loan_of[payment.loan_id] = (loan_no, state)
    lock_loans(session, by_loan)
    items = []
    for loan_id, payments in by_loan.items():
        loan_no, state = loan_of[loan_id]
        allocation = allocate(session, loan_id, payments)
        for payment in allocation.applied:
            items += _allocation_items(payment, loan_no, state)
        reallocation = reallocation_entry(loan_no, allocation, ACTOR)
        if reallocation is not None:
            items.append(reallocation)
    return items, list(by_loan)


def _allocation_items(payment: Payment, loan_no: str, state: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = [
        {
            "aggregate_type": LOAN,
            "aggregate_id": loan_no,
            "machine": BOOK_MACHINE,
            "event": "allocate_payment",
            "from_state": None,
            "to_state": None,
            "actor": ACTOR,
            "reason": f"payment {payment.payment_ref} valued {payment.value_date}",
            "payload": {
                "payment_ref": payment.payment_ref,
                "value_date": payment.value_date,
                "amount_cents": payment.amount_cents,
                "interest_applied_cents": payment.interest_applied_cents,
                "principal_applied_cents": payment.principal_applied_cents,
                "unapplied_cents": payment.unapplied_cents,
            },
        }
    ]
    if state == LoanState.written_off.value:  # still pursued after write-off (001)
        items.append(
            {
                "aggregate_type": LOAN,
                "aggregate_id": loan_no,
                "machine": MACHINE,
                "event": RECOVERY,
                "from_state": state,
                "to_state": state,
                "actor": ACTOR,
                "reason": f"核销后收回 {payment.amount_cents / 100:,.2f} "
                f"(payment {payment.payment_ref})",
                "payload": {
                    "payment_ref": payment.payment_ref,
                    "amount_cents": payment.amount_cents,
                },
            }
        )
    return items


# -- 2. days past due ----------------------------------------------------------------------------
# One pass over the chunk's installments gathers what steps 2 and 4 need, for the loans that are in
# arrears or have nothing left unpaid on D (a few percent): a temporary table, dropped per chunk.
FACTS = Table(
    "sweep_facts",
    MetaData(),
    Column("loan_id", Integer, nullable=False),
    # due date of the oldest installment not paid off by D: before D it is the oldest arrear, NULL
    # means everything is paid off by D (one aggregate with FILTER: the cheapest form measured)
    Column("first_unpaid", Date),
    prefixes=["TEMPORARY"],
)
# The oldest arrears' due dates that fall on a non-business day, with the day they are payable
# by (aging.pay_by: 顺延 by default): a few rows, computed in Python from the calendar.
PAY_BY = Table(
    "sweep_pay_by",
    MetaData(),
    Column("due", Date, nullable=False),
    Column("pay_by", Date, nullable=False),
    prefixes=["TEMPORARY"],
)


def _load_facts(session: Session, d: date, lo: int, hi: int) -> None:
    FACTS.create(session.connection())
    _insert_facts(session, d, INSTALLMENTS.c.loan_id.between(lo, hi))


def _load_pay_by(session: Session, d: date) -> None:
    conn = session.connection()
    PAY_BY.create(conn)
    dues = conn.execute(
        select(FACTS.c.first_unpaid).where(FACTS.c.first_unpaid < d).distinct()
    ).scalars()
    moved = [
        {"due": due, "pay_by": aging.pay_by(due)}
        for due in (_as_date(value) for value in dues)
        if aging.pay_by(due) != due
    ]
    if moved:
        conn.execute(insert(PAY_BY), moved)


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))  # SQLite: text


def _insert_facts(session: Session, d: date, which: ColumnElement[bool]) -> None:
    conn, inst = session.connection(), INSTALLMENTS
    unpaid_by_d = or_(inst.c.paid_off_on.is_(None), inst.c.paid_off_on > d)
    first_unpaid = func.min(inst.c.due_date).filter(unpaid_by_d)
    conn.execute(
        insert(FACTS).from_select(
            ["loan_id", "first_unpaid"],
            select(inst.c.loan_id, first_unpaid)
            .where(which)
            .group_by(inst.c.loan_id)
            .having(or_(first_unpaid < d, first_unpaid.is_(None))),
        )
    )
    if is_postgres(session):
        conn.exec_driver_sql("ANALYZE sweep_facts")  # a temp table has no statistics otherwise


def _hold_arrears(session: Session, d: date, lo: int, hi: int) -> None:
    """Postgres: lock the loans whose days past due may change (in the facts, or in arrears
    before) the way an allocator does (lock_loans), then re-read their facts. A payment that
    committed after the facts were read is then counted, and one arriving later waits for the
    chunk. SQLite has one writer: a payment committed meanwhile fails the chunk cleanly instead."""
    if not is_postgres(session):
        return
    conn = session.connection()
    held = list(
        conn.execute(
            select(LOANS.c.id)
            .where(
                LOANS.c.id.between(lo, hi),
                or_(LOANS.c.id.in_(select(FACTS.c.loan_id)), LOANS.c.days_past_due != 0),
            )
            .order_by(LOANS.c.id)
            .with_for_update(key_share=True)
        ).scalars()
    )
    if not held:
        return
    conn.execute(FACTS.delete())
    _insert_facts(session, d, INSTALLMENTS.c.loan_id == any_(cast(held, ARRAY(Integer))))


def days_between(session: Session, later: date, earlier: Any) -> ColumnElement[int]:
    """`later - earlier` in days, in the dialect's own date arithmetic."""
    if is_postgres(session):
        return literal(later, Date) - earlier  # date - date is an integer on Postgres
    return cast(func.julianday(literal(later, Date)) - func.julianday(earlier), Integer)


def _aging_update(session: Session, d: date, lo: int, hi: int, bounds: Sequence[int]) -> Any:
    """ONE UPDATE: days past due (aging.days_past_due in SQL, counted from the pay-by day) and the
    bucket it falls in, for the chunk's open loans (and settled ones, which drop to 0 / none),
    written only where either changed. No version bump: derived columns, not a state change."""
    loans, first = LOANS.alias("l"), FACTS.c.first_unpaid
    payable = func.coalesce(PAY_BY.c.pay_by, first)
    dpd = case((payable < d, days_between(session, d, payable)), else_=0)
    fresh = (
        select(loans.c.id, dpd.label("dpd"))
        .select_from(
            loans.outerjoin(FACTS, FACTS.c.loan_id == loans.c.id).outerjoin(
                PAY_BY, PAY_BY.c.due == first
            )
        )
        .where(
            loans.c.id.between(lo, hi),
            loans.c.state.in_(AGED),
            loans.c.booked_on <= d,  # nothing happens to a loan before it was booked
            # only a loan in arrears now or before can change: a few percent of the chunk
            or_(
                loans.c.id.in_(select(FACTS.c.loan_id).where(first < d)),  # filters in the scan
                loans.c.days_past_due != 0,
                loans.c.bucket.is_not(None),
            ),
        )
        .subquery("fresh")
    )
    bucket = bucket_case(fresh.c.dpd, bounds)
    return (
        update(LOANS)
        .where(
            LOANS.c.id == fresh.c.id,
            LOANS.c.id.between(lo, hi),  # else Postgres hashes the whole loans table
            or_(LOANS.c.days_past_due != fresh.c.dpd, LOANS.c.bucket.is_distinct_from(bucket)),
        )
        .values(days_past_due=fresh.c.dpd, bucket=bucket)
    )


# -- 3. buckets ----------------------------------------------------------------------------------
def bucket_case(dpd: Any, bounds: Sequence[int]) -> ColumnElement[str | None]:
    """aging.bucket_for in SQL: NULL when current, M1..Mn by upper bound, then Mn+."""
    whens = [(dpd <= 0, null())] + [(dpd <= upper, f"M{i}") for i, upper in enumerate(bounds, 1)]
    return case(*whens, else_=f"M{len(bounds)}+")


def _update_history(session: Session, result: ChunkResult, aged: list[int]) -> None:
    """For the loans whose aging changed: close the open history row whose bucket is no longer the
    loan's, then open one for each loan in arrears without an open row. Both statements re-check
    the rows, so a re-run does nothing (and a loan whose aging did not change needs nothing)."""
    conn, d, loans = session.connection(), result.business_date, LOANS
    closed_ids: set[int] = set()
    opened_ids: set[int] = set()
    has_open = exists().where(HISTORY.c.loan_id == loans.c.id, HISTORY.c.left_on.is_(None))
    for part in _parts(session, aged):
        close = (
            update(HISTORY)
            .where(
                HISTORY.c.loan_id == loans.c.id,
                _among(session, HISTORY.c.loan_id, part),
                HISTORY.c.left_on.is_(None),
                HISTORY.c.bucket.is_distinct_from(loans.c.bucket),
            )
            .values(left_on=d)
            .returning(HISTORY.c.loan_id)
        )
        closed_ids.update(conn.execute(close).scalars())
        entered = select(loans.c.id, loans.c.bucket, literal(d, Date)).where(
            _among(session, loans.c.id, part), loans.c.bucket.is_not(None), ~has_open
        )
        opened = insert(HISTORY).from_select(["loan_id", "bucket", "entered_on"], entered)
        opened_ids.update(conn.execute(opened.returning(HISTORY.c.loan_id)).scalars())
    result.bucket_rows_closed, result.bucket_rows_opened = len(closed_ids), len(opened_ids)
    result.bucket_changes = len(closed_ids | opened_ids)


# -- 4. lifecycle moves ---------------------------------------------------------------------------
# Sources come from the machine's own transition table: it stays the one definition of what moves.
OVERDUE_FROM = tuple(sorted(LoanLifecycle.sources_of(MARK_OVERDUE)))
CURE_FROM = tuple(sorted(LoanLifecycle.sources_of(CURE)))
SETTLE_FROM = tuple(sorted(LoanLifecycle.sources_of(SETTLE)))


@dataclass(frozen=True)
class Mover:
    """A loan SQL selected to move, with the facts the machine's guards read."""

    id: int
    loan_no: str
    state: str
    risk_class: str
    days_past_due: int
    version: int
    event: str
    outstanding_cents: int = 0


class _Slot:
    """The machine's model: only a state, re-pointed loan by loan (never the ORM row)."""

    __slots__ = ("state",)

    def __init__(self, state: str) -> None:
        self.state = state


def _select_movers(session: Session, d: date, lo: int, hi: int) -> list[Mover]:
    """The loans whose state must move, in one scan of the chunk: arrears in a performing state,
    none in an overdue one, or a schedule paid off by D (which wins over a cure)."""
    loans, first = LOANS, FACTS.c.first_unpaid
    paid_up = and_(FACTS.c.loan_id.is_not(None), first.is_(None))
    query = (
        select(
            loans.c.id,
            loans.c.loan_no,
            loans.c.state,
            loans.c.risk_class,
            loans.c.days_past_due,
            loans.c.version,
            paid_up.label("paid_up"),
        )
        .select_from(loans.outerjoin(FACTS, FACTS.c.loan_id == loans.c.id))
        .where(
            loans.c.id.between(lo, hi),
            loans.c.booked_on <= d,
            or_(
                and_(loans.c.state.in_(OVERDUE_FROM), loans.c.days_past_due > 0),
                and_(loans.c.state.in_(CURE_FROM), loans.c.days_past_due == 0),
                and_(loans.c.state.in_(SETTLE_FROM), paid_up),
            ),
        )
        .order_by(loans.c.id)
    )
    rows = list(session.connection().execute(query))
    outstanding = _outstanding(session, [row.id for row in rows])
    return [
        Mover(
            row.id,
            row.loan_no,
            row.state,
            row.risk_class,
            row.days_past_due,
            row.version,
            _event(row),
            outstanding.get(row.id, 0),
        )
        for row in rows
    ]


def _event(row: Any) -> str:
    if row.paid_up and row.state in SETTLE_FROM:
        return SETTLE  # paid in full wins over a cure
    return MARK_OVERDUE if row.days_past_due > 0 else CURE


def _outstanding(session: Session, loan_ids: list[int]) -> dict[int, int]:
    inst, found = INSTALLMENTS, {}
    due = (inst.c.principal_due_cents - inst.c.principal_paid_cents) + (
        inst.c.interest_due_cents - inst.c.interest_paid_cents
    )
    for part in _parts(session, loan_ids):
        query = select(inst.c.loan_id, func.sum(due)).where(_among(session, inst.c.loan_id, part))
        found.update(
            (loan_id, int(amount or 0))
            for loan_id, amount in session.connection().execute(query.group_by(inst.c.loan_id))
        )
    return found


def _decide(movers: list[Mover], result: ChunkResult) -> list[tuple[Mover, str]]:
    """Run the real LoanLifecycle for each mover; refusals are reported, never raised.

    One machine per chunk, re-pointed through its public `current_state_value` (~130 µs a loan
    against ~500 µs constructing one per loan, python-statemachine 3.2.2).
    """
    machine = LoanLifecycle.restore(_Slot(LoanState.normal))
    moves = []
    for mover in movers:
        machine.current_state_value = LoanState(mover.state)  # ValueError on an unknown state
        facts = LoanFacts(
            risk_class=RiskClass(mover.risk_class),
            days_past_due=mover.days_past_due,
            outstanding_cents=mover.outstanding_cents,
        )
        try:
            machine.fire(mover.event, facts=facts)
        except (RuleViolationError, TransitionNotAllowedError) as exc:
            result.refused.append(
                SkippedMove(mover.id, mover.loan_no, mover.event, mover.state, str(exc))
            )
            continue
        moves.append((mover, str(machine.current_state_value)))
        if machine.is_terminated:  # a final state (settled) stops the engine: take a fresh one
            machine = LoanLifecycle.restore(_Slot(LoanState.normal))
    return moves


def _reason(mover: Mover, d: date) -> str:
    if mover.event == MARK_OVERDUE:
        return f"installment due {d - timedelta(days=mover.days_past_due)} unpaid"
    return "arrears cleared" if mover.event == CURE else "nothing outstanding"


def _write_moves(
    session: Session, moves: list[tuple[Mover, str]], result: ChunkResult
) -> list[dict[str, Any]]:
    """Optimistic bulk write: state and version only where the version is still the one read."""
    if not moves:
        return []
    stmt = (
        update(LOANS)
        .where(LOANS.c.id == bindparam("m_id"), LOANS.c.version == bindparam("m_version"))
        .values(state=bindparam("m_state"), version=LOANS.c.version + 1)
    )
    params = [{"m_id": m.id, "m_version": m.version, "m_state": to} for m, to in moves]
    matched = _execute_checked(session, stmt, params)
    items = []
    for (mover, to), ok in zip(moves, matched, strict=True):
        if not ok:
            result.conflicts.append(
                SkippedMove(
                    mover.id,
                    mover.loan_no,
                    mover.event,
                    mover.state,
                    f"changed concurrently since version {mover.version}; left for the next run",
                )
            )
            continue
        result.moves[mover.event] += 1
        items.append(
            {
                "aggregate_type": LOAN,
                "aggregate_id": mover.loan_no,
                "machine": MACHINE,
                "event": mover.event,
                "from_state": mover.state,
                "to_state": to,
                "actor": ACTOR,
                "reason": _reason(mover, result.business_date),
                "payload": {
                    "days_past_due": mover.days_past_due,
                    "outstanding_cents": mover.outstanding_cents,
                    "risk_class": mover.risk_class,
                },
            }
        )
    return items


def _execute_checked(session: Session, stmt: Any, params: list[dict[str, Any]]) -> list[bool]:
    """executemany, and which rows matched. Drivers report only the total, so on a short count
    the batch is rolled back to a savepoint and replayed row by row (rare: a concurrent writer)."""
    savepoint = session.begin_nested()
    if session.connection().execute(stmt, params).rowcount == len(params):
        savepoint.commit()
        return [True] * len(params)
    savepoint.rollback()
    conn = session.connection()
    return [conn.execute(stmt, p).rowcount == 1 for p in params]


# -- 5. class floors ------------------------------------------------------------------------------
def npl_borrowers(session: Session) -> frozenset[int]:
    """Non-retail borrowers with at least one 不良 loan (第七条 contagion): the loans of these
    borrowers get the full floor facts. Computed once per date by sweep_date (one small query)."""
    npl = LOANS.c.risk_class.in_([literal_column(f"'{c}'") for c in NPL])  # ix_loans_npl_borrower
    query = (
        select(LOANS.c.borrower_id)
        .distinct()
        .join(BORROWERS, BORROWERS.c.id == LOANS.c.borrower_id)
        .where(
            npl,
            LOANS.c.state.in_(OPEN),  # claims on the books only (not settled, not written off)
            BORROWERS.c.kind != BorrowerKind.individual.value,
        )
    )
    return frozenset(session.connection().execute(query).scalars())


def _floor_proposals(
    session: Session,
    d: date,
    lo: int,
    hi: int,
    book: RuleBook,
    contagious: frozenset[int] | None = None,
) -> list[FloorProposal]:
    """Loans whose floor on `d` is worse than their class. Days-past-due floors in SQL (a CASE over
    the rule parameters in force); restructured loans and non-retail borrowers with another 不良
    loan get the full facts of floor_for, gathered for the whole chunk at once."""
    conn, loans = session.connection(), LOANS
    dpd_rules = sorted(
        (r for r in book.in_force(d) if r.floor is not None and "days" in r.params),
        key=lambda r: r.floor.rank if r.floor else 0,
        reverse=True,
    )  # the days-past-due rules (分类办法 第九–十二条); worst first, so CASE yields the worst
    whens = [
        (loans.c.days_past_due > r.params["days"], r.floor.rank if r.floor else 0)
        for r in dpd_rules
    ]
    floor_rank: Any = case(*whens, else_=0) if whens else literal(0)
    class_rank = case({c.value: c.rank for c in RiskClass}, value=loans.c.risk_class, else_=0)
    cols = (
        loans.c.id,
        loans.c.loan_no,
        loans.c.risk_class,
        loans.c.days_past_due,
        loans.c.borrower_id,
        loans.c.restructured_on,
        loans.c.class_before_restructure,
    )
    chunk = and_(loans.c.id.between(lo, hi), loans.c.state.in_(OPEN), loans.c.booked_on <= d)
    maybe_full = or_(loans.c.restructured_on.is_not(None), _contagion(session, contagious))
    rows = list(
        conn.execute(
            select(*cols, maybe_full.label("maybe_full")).where(
                chunk, or_(floor_rank > class_rank, maybe_full)
            )
        )
    )  # one scan: the days-past-due candidates and those that need the full facts
    kind_of: dict[int, str] = {}
    borrowers = {row.borrower_id for row in rows if row.maybe_full}
    for part in _parts(session, borrowers):
        query = select(BORROWERS.c.id, BORROWERS.c.kind).where(
            _among(session, BORROWERS.c.id, part)
        )
        kind_of.update((borrower_id, kind) for borrower_id, kind in conn.execute(query))
    retail = BorrowerKind.individual.value
    full = [
        r for r in rows if r.maybe_full and (r.restructured_on or kind_of[r.borrower_id] != retail)
    ]
    skip = {row.id for row in full}
    floors_for_rows = floors_for(session, full, d, book)  # the same facts as floor_for, in bulk
    by_dpd: dict[int, Floor] = {}  # a days-past-due floor depends on the days only

    def dpd_floor(days: int) -> Floor:
        if days not in by_dpd:
            by_dpd[days] = classification_floor(FloorFacts(days_past_due=days), d, book)
        return by_dpd[days]

    found: list[tuple[Any, Floor]] = [
        (row, dpd_floor(row.days_past_due)) for row in rows if row.id not in skip
    ]
    found += [(row, floors_for_rows[row.id]) for row in full]
    proposals = [
        FloorProposal(
            row.id,
            row.loan_no,
            RiskClass(row.risk_class),
            floor.risk_class,
            floor.reasons,
            floor.rule_refs,
            row.days_past_due,
        )
        for row, floor in found
        if floor.risk_class.rank > RiskClass(row.risk_class).rank
    ]
    return sorted(proposals, key=lambda p: p.loan_id)


def _contagion(session: Session, contagious: frozenset[int] | None) -> ColumnElement[bool]:
    """The loan's borrower may be caught by 第七条: on Postgres from the precomputed set when given
    (one array parameter), else asked per loan of the partial index ix_loans_npl_borrower (its
    predicate needs the literal class values). Retail borrowers are dropped afterwards."""
    if contagious is None or not is_postgres(session):
        other = LOANS.alias("other")
        return exists().where(
            other.c.borrower_id == LOANS.c.borrower_id,
            other.c.risk_class.in_([literal_column(f"'{c}'") for c in NPL]),
            other.c.id != LOANS.c.id,
            other.c.state.in_(OPEN),  # a written-off loan is no longer a claim on the books
        )
    if not contagious:
        return false()
    return LOANS.c.borrower_id == any_(literal(sorted(contagious), ARRAY(Integer)))


def _parts(session: Session, ids: Sequence[int]) -> list[list[int]]:
    """Id lists for `_among`: all at once on Postgres (one array parameter), else by IN_LIST."""
    ids = sorted(ids)
    if not ids:
        return []
    if is_postgres(session):
        return [ids]
    return [ids[start : start + IN_LIST] for start in range(0, len(ids), IN_LIST)]


def _among(session: Session, column: Any, ids: list[int]) -> ColumnElement[bool]:
    """`column IN ids`: on Postgres `= ANY(array)`, one parameter however many ids (a thousand
    bound parameters cost more to send than the statement costs to run)."""
    if is_postgres(session):
        return column == any_(literal(ids, ARRAY(Integer)))
    return column.in_(ids)
