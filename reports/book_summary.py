"""日终汇总: the book's figures of one business date, kept by branch, so the portfolio report of a
day reads a few thousand rows instead of grouping a million loans — what a bank's end-of-day
batch (日终跑批) does for its reports. The daily sweep writes the summary of its date after the
anchor (flows/daily_sweep.py); a day without one, or with a migration start other than the
default, is computed live, with the same numbers.

What a day keeps, by branch (rows of `book_summary_rows`):
- `book`: (product, class, bucket) → loans, balance on D — the tiers, the overdue matrix and Mi;
- `migration`: (class at the end of last year, where on D) → loans, balance at the start;
- `roll`: (bucket at the last month end before D's month, bucket on D or none) → loans,
  balance at the start — the last roll period; the earlier ones are the month ends' own;
- `outcome` (whole bank, no branch): (bucket, bad / cured / unresolved) → loans — Pi.

**Never stale.** A summary of D is only as good as the rows it was made from. Database triggers
(migration 0014) delete every summary of D or later whenever a row a figure of D reads changes:
a loan's product, principal, branch or booking date; a payment valued on or before D; a status
or bucket history row whose interval reaches D. A backdated payment or a late journal entry thus
removes the days it changes, and the report of those days is computed live until the next sweep
rebuilds them. A summary is built in three steps so a change made while it is computed is not
lost: a marker is committed first (on Postgres under an exclusive advisory lock that every
trigger takes shared, so no writer is half-way), then the figures are computed, then they are
kept only if the marker is still there. Imports no web or Prefect library."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    delete,
    func,
    insert,
    select,
    text,
    update,
)
from sqlmodel import Field, Session, SQLModel

from core.db import is_postgres
from core.identity import OrgUnit
from reports.book_on import book_groups
from reports.inspections import in_scope
from reports.migration import Pair, migration_pairs
from reports.roll_rates import (
    Outcomes,
    Pairs,
    before_the_book,
    last_period_pairs,
    month_points,
    outcome_counts,
)

# the advisory lock the triggers take shared and a build's marker exclusive (Postgres)
ADVISORY_LOCK = 7_270_014
BOOK, MIGRATION, ROLL, OUTCOME = "book", "migration", "roll", "outcome"
RECENT_DAYS = 7  # days back a sweep rebuilds a removed summary (T+1 payments remove yesterday's)


class BookSummaryDay(SQLModel, table=True):
    """One summarised business date; its rows count only once `complete`."""

    __tablename__ = "book_summary_days"

    day: date = Field(sa_column=Column(Date, primary_key=True))
    since: date = Field(sa_column=Column(Date, nullable=False))  # the migration's start
    roll_start: date | None = Field(default=None, sa_column=Column(Date))  # None: no period
    build_id: str = Field(sa_column=Column(String(32), nullable=False))
    complete: bool = Field(default=False, sa_column=Column(Boolean, nullable=False))
    built_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class BookSummaryRow(SQLModel, table=True):
    __tablename__ = "book_summary_rows"
    __table_args__ = (Index("ix_book_summary_rows_day_figure", "day", "figure", "branch_id"),)

    id: int | None = Field(default=None, primary_key=True)
    day: date = Field(
        sa_column=Column(
            Date, ForeignKey("book_summary_days.day", ondelete="CASCADE"), nullable=False
        )
    )
    figure: str = Field(sa_column=Column(String(12), nullable=False))
    branch_id: int | None = Field(default=None, sa_column=Column(Integer))  # None: whole bank
    a: str = Field(sa_column=Column(String(40), nullable=False))
    b: str | None = Field(default=None, sa_column=Column(String(40)))
    c: str | None = Field(default=None, sa_column=Column(String(40)))
    loans: int = Field(sa_column=Column(BigInteger, nullable=False))
    balance_cents: int = Field(sa_column=Column(BigInteger, nullable=False))


DAYS: Table = BookSummaryDay.__table__  # type: ignore[attr-defined]
ROWS: Table = BookSummaryRow.__table__  # type: ignore[attr-defined]
ORG: Table = OrgUnit.__table__  # type: ignore[attr-defined]


# -- building ---------------------------------------------------------------------------------


def begin_build(session: Session, day: date, since: date, *, now: datetime) -> str:
    """Step 1, its own transaction: replace the day's summary by an incomplete marker. Commit
    before computing: a change committed after it removes the marker."""
    if is_postgres(session):
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": ADVISORY_LOCK})
    session.execute(delete(DAYS).where(DAYS.c.day == day))
    build_id = uuid.uuid4().hex
    session.execute(
        insert(DAYS).values(day=day, since=since, build_id=build_id, complete=False, built_at=now)
    )
    return build_id


def compute(session: Session, day: date, since: date) -> tuple[date | None, list[dict[str, Any]]]:
    """Step 2: the day's rows, whole bank, by branch (the same queries as the live report)."""
    rows: list[dict[str, Any]] = []

    def keep(figure: str, branch: int | None, a: str, b: Any, c: Any, n: int, bal: Any) -> None:
        rows.append({"day": day, "figure": figure, "branch_id": branch, "a": a, "b": b, "c": c,
                     "loans": n, "balance_cents": int(bal or 0)})  # fmt: skip

    for branch, product, risk_class, bucket, n, bal in book_groups(
        session, day, None, by_branch=True
    ):
        keep(BOOK, branch, product, risk_class, bucket, n, bal)
    for branch, start, now, n, bal in migration_pairs(session, since, day, None, by_branch=True):
        keep(MIGRATION, branch, start, now, None, n, bal)
    roll_start, pairs = last_period_pairs(session, day)
    for (branch, start, end), (n, bal) in pairs.items():
        keep(ROLL, branch, start, end, None, n, bal)
    for bucket, outcomes in outcome_counts(session, day).items():
        for outcome, n in outcomes.items():
            keep(OUTCOME, None, bucket, outcome, None, n, 0)
    return roll_start, rows


def finish_build(
    session: Session,
    day: date,
    build_id: str,
    roll_start: date | None,
    rows: list[dict[str, Any]],
    *,
    now: datetime,
) -> bool:
    """Step 3, its own transaction: keep the rows if the marker survived (False: something the
    day reads changed meanwhile; the day stays live until the next build)."""
    marked = session.execute(
        update(DAYS)
        .where(DAYS.c.day == day, DAYS.c.build_id == build_id, DAYS.c.complete.is_(False))
        .values(complete=True, roll_start=roll_start, built_at=now)
    )
    if not marked.rowcount:  # type: ignore[attr-defined]
        return False
    if rows:
        session.execute(insert(ROWS), rows)
    return True


def due_days(session: Session, day: date) -> list[date]:
    """What the sweep of `day` summarises: each of `day`, the `RECENT_DAYS` before it and the
    month ends its roll rates read that lacks a summary (a backdated payment or a late entry
    removed it), from the book's first day on, oldest first."""
    start = before_the_book(session)
    if start is None:
        return []
    candidates = {
        *month_points(day)[:-1],
        *(day - timedelta(days=k) for k in range(RECENT_DAYS + 1)),
    }
    return missing_days(session, sorted(d for d in candidates if d >= start))


def missing_days(session: Session, days: Sequence[date]) -> list[date]:
    """Those of `days` without a complete summary."""
    done = set(
        session.scalars(select(DAYS.c.day).where(DAYS.c.day.in_(days), DAYS.c.complete.is_(True)))
    )
    return [d for d in days if d not in done]


# -- reading ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stored:
    """A day's figures summed over the reader's branches."""

    built_at: datetime
    book: list[tuple[str, str, str | None, int, int]]  # product, class, bucket, loans, balance
    migration: list[Pair] | None  # None: another start than the summary's
    outcomes: Outcomes
    roll: dict[date, Pairs] | None  # by period end; None: a month end lacks its summary


def read(
    session: Session,
    on: date,
    since: date,
    org_paths: Sequence[str] | None,
    roll_points: Sequence[date],
) -> Stored | None:
    """The summary of D summed over the reader's branches, or None when D has none."""
    marker = session.execute(
        select(DAYS.c.since, DAYS.c.built_at).where(DAYS.c.day == on, DAYS.c.complete.is_(True))
    ).first()
    if marker is None:
        return None
    kept_since, built_at = marker
    outcomes: Outcomes = {}
    for bucket, outcome, n, _ in _summed(session, on, OUTCOME, None, 2):
        outcomes.setdefault(bucket, {})[outcome] = n
    return Stored(
        built_at=built_at,
        book=[(a, b, c, n, bal) for a, b, c, n, bal in _summed(session, on, BOOK, org_paths, 3)],
        migration=(
            [(a, b, n, bal) for a, b, n, bal in _summed(session, on, MIGRATION, org_paths, 2)]
            if _as_date(kept_since) == since
            else None
        ),
        outcomes=outcomes,
        roll=_roll(session, roll_points, org_paths),
    )


def _roll(
    session: Session, points: Sequence[date], org_paths: Sequence[str] | None
) -> dict[date, Pairs] | None:
    """Each period's pairs from the summary of its end, when every end has one whose period
    starts where the previous ends."""
    periods = list(zip(points, points[1:], strict=False))
    if not periods:
        return {}
    query = select(DAYS.c.day, DAYS.c.roll_start).where(
        DAYS.c.day.in_([end for _, end in periods]), DAYS.c.complete.is_(True)
    )
    kept = {
        _as_date(day): _as_date(start) if start is not None else None
        for day, start in session.execute(query).all()
    }
    if any(end not in kept or kept[end] != start for start, end in periods):
        return None
    query = (
        select(ROWS.c.day, ROWS.c.a, ROWS.c.b, func.sum(ROWS.c.loans),
               func.sum(ROWS.c.balance_cents))
        .where(ROWS.c.day.in_([end for _, end in periods]), ROWS.c.figure == ROLL,
               _branches(org_paths))
        .group_by(ROWS.c.day, ROWS.c.a, ROWS.c.b)
    )  # fmt: skip
    found: dict[date, Pairs] = {end: {} for _, end in periods}
    for day, start, end, n, bal in session.execute(query).all():
        found[_as_date(day)][(start, end)] = (int(n), int(bal))
    return found


def _summed(
    session: Session, on: date, figure: str, org_paths: Sequence[str] | None, keys: int
) -> list[Any]:
    dims = [ROWS.c.a, ROWS.c.b, ROWS.c.c][:keys]
    query = (
        select(*dims, func.sum(ROWS.c.loans), func.sum(ROWS.c.balance_cents))
        .where(ROWS.c.day == on, ROWS.c.figure == figure, _branches(org_paths))
        .group_by(*dims)
    )
    return [(*row[:keys], int(row[keys]), int(row[keys + 1])) for row in session.execute(query)]


def _branches(org_paths: Sequence[str] | None) -> Any:
    """Rows of the reader's branches (whole-bank rows have none; they are read without scope)."""
    if org_paths is None:
        return text("1 = 1")
    return ROWS.c.branch_id.in_(select(ORG.c.id).where(in_scope(ORG.c.path, org_paths)))


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))
