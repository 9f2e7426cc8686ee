"""Steps 2 and 3 of the sweep: days past due (from each installment's pay-by day) and the overdue
bucket in one UPDATE per chunk, and the bucket history."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import (
    ARRAY,
    Column,
    Date,
    Integer,
    MetaData,
    Table,
    any_,
    case,
    cast,
    exists,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    update,
)
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session

from core.db import is_postgres
from loans import aging
from loans.sweeping.results import (
    AGED,
    HISTORY,
    INSTALLMENTS,
    LOANS,
    ChunkResult,
    among,
    id_parts,
)

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


def load_facts(session: Session, d: date, lo: int, hi: int) -> None:
    FACTS.create(session.connection())
    _insert_facts(session, d, INSTALLMENTS.c.loan_id.between(lo, hi))


def load_pay_by(session: Session, d: date) -> None:
    conn = session.connection()
    PAY_BY.create(conn)
    dues = conn.execute(
        select(FACTS.c.first_unpaid).where(FACTS.c.first_unpaid < d).distinct()
    ).scalars()
    rolled = {due: aging.pay_by(due) for due in (_as_date(value) for value in dues)}
    moved = [{"due": due, "pay_by": day} for due, day in rolled.items() if day != due]
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


def hold_arrears(session: Session, d: date, lo: int, hi: int) -> None:
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


def aging_update(session: Session, d: date, lo: int, hi: int, bounds: Sequence[int]) -> Any:
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


def update_history(session: Session, result: ChunkResult, aged: list[int]) -> None:
    """For the loans whose aging changed: close the open history row whose bucket is no longer the
    loan's, then open one for each loan in arrears without an open row. Both statements re-check
    the rows, so a re-run does nothing (and a loan whose aging did not change needs nothing)."""
    conn, d, loans = session.connection(), result.business_date, LOANS
    closed_ids: set[int] = set()
    opened_ids: set[int] = set()
    has_open = exists().where(HISTORY.c.loan_id == loans.c.id, HISTORY.c.left_on.is_(None))
    for part in id_parts(session, aged):
        close = (
            update(HISTORY)
            .where(
                HISTORY.c.loan_id == loans.c.id,
                among(session, HISTORY.c.loan_id, part),
                HISTORY.c.left_on.is_(None),
                HISTORY.c.bucket.is_distinct_from(loans.c.bucket),
            )
            .values(left_on=d)
            .returning(HISTORY.c.loan_id)
        )
        closed_ids.update(conn.execute(close).scalars())
        entered = select(loans.c.id, loans.c.bucket, literal(d, Date)).where(
            among(session, loans.c.id, part), loans.c.bucket.is_not(None), ~has_open
        )
        opened = insert(HISTORY).from_select(["loan_id", "bucket", "entered_on"], entered)
        opened_ids.update(conn.execute(opened.returning(HISTORY.c.loan_id)).scalars())
    result.bucket_rows_closed, result.bucket_rows_opened = len(closed_ids), len(opened_ids)
    result.bucket_changes = len(closed_ids | opened_ids)
