"""Roll rates between overdue buckets month over month (迁徙率/滚动率), and the expected bad debt
M = Σ Mi·Pi (003): Mi the balance in bucket i on D, Pi the share of the loans that were ever in
bucket i and whose outcome is known by D that ended as bad debt (written off, or classified 损失)
rather than cured (back to current, or settled). A bucket with fewer known outcomes than the
setting `bad_debt_min_sample` takes its configured rate instead (`bad_debt_rates`), and says so.

All from the sweep's bucket history and the loans' status history on each date; balances by
value date (loans.balances). Imports no web or Prefect library."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import Date, and_, case, func, literal, or_, select, union_all
from sqlmodel import Session

from core.settings import Settings
from loans.balances import principal_repaid_at
from loans.schedule import add_months
from loans.status_history import (
    BUCKETS,
    CLASSIFICATION,
    LIFECYCLE,
    bucket_on_day,
    on_day,
)
from reports.book_on import LOANS, scoped
from reports.inspections import rate
from statemachines.enums import LoanState, RiskClass

MONTHS = 12


@dataclass(frozen=True)
class RollCell:
    """Of the loans in `bucket` at the period's start, those in the next bucket or a worse one
    at its end (a 31-day month can carry a loan across two 30-day buckets: it rolled forward)."""

    bucket: str
    next_bucket: str
    count: int
    balance_cents: int  # at the start
    rolled_count: int
    rolled_balance_cents: int  # their balance at the start
    count_rate: Decimal | None
    balance_rate: Decimal | None


@dataclass(frozen=True)
class RollPeriod:
    start: date
    end: date
    cells: list[RollCell]


@dataclass(frozen=True)
class BadDebtRow:
    bucket: str
    balance_cents: int  # Mi
    bad: int  # loans ever in the bucket that ended as bad debt by D
    cured: int
    unresolved: int  # still in arrears on D: not counted either way
    rate: Decimal  # Pi
    from_history: bool  # False: the configured rate (too few known outcomes)
    expected_cents: int  # Mi · Pi, to the cent


def month_points(on: date, months: int = MONTHS) -> list[date]:
    """The last day of each of the `months` months before D's, then D."""
    first = on.replace(day=1)
    ends = [add_months(first, 1 - k) - timedelta(days=1) for k in range(months, 0, -1)]
    return [*ends, on]


# a period's loans in arrears at its start: (bucket at the start, bucket at the end or None
# when no longer in arrears) → (count, balance at the start)
Pairs = dict[tuple[str, str | None], tuple[int, int]]
BranchPairs = dict[tuple[int, str, str | None], tuple[int, int]]  # the same, by branch


def before_the_book(session: Session) -> date | None:
    """The day before the first loan was booked (a period may start there: the book was empty
    at its end); None while the book is empty."""
    first_booked = session.scalar(select(func.min(LOANS.c.booked_on)))
    return None if first_booked is None else first_booked - timedelta(days=1)


def roll_points(session: Session, on: date) -> list[date]:
    """The month ends of the twelve months before D's, then D, from the month the book began."""
    start = before_the_book(session)
    return [] if start is None else [p for p in month_points(on) if p >= start]


def roll_rates(
    session: Session,
    points: Sequence[date],
    org_paths: Sequence[str] | None,
    buckets: list[str],
    stored: dict[date, Pairs] | None = None,
) -> list[RollPeriod]:
    """Month over month between the `points` (roll_points of D): each period's pairs from
    `stored` (by the period's end: the book summaries) or, without them, from the bucket
    history in one query."""
    if stored is None:
        at = _buckets_at(session, list(points), org_paths)
        stored = {
            end: whole_bank(period_pairs(at.get(start, {}), at.get(end, {})))
            for start, end in zip(points, points[1:], strict=False)
        }
    return [
        RollPeriod(start, end, roll_cells(stored.get(end, {}), buckets))
        for start, end in zip(points, points[1:], strict=False)
    ]


def period_pairs(
    before: dict[int, tuple[int, str, int]], after: dict[int, tuple[int, str, int]]
) -> BranchPairs:
    """(branch, bucket at the start, bucket at the end) → (count, balance at the start) of the
    loans in arrears at the period's start."""
    pairs: BranchPairs = {}
    for loan, (branch, bucket, balance) in before.items():
        end = after.get(loan)
        key = (branch, bucket, end[1] if end else None)
        count, total = pairs.get(key, (0, 0))
        pairs[key] = (count + 1, total + balance)
    return pairs


def whole_bank(pairs: BranchPairs) -> Pairs:
    """The pairs summed over branches."""
    summed: Pairs = {}
    for (_, start, end), (count, balance) in pairs.items():
        n, total = summed.get((start, end), (0, 0))
        summed[(start, end)] = (n + count, total + balance)
    return summed


def roll_cells(pairs: Pairs, buckets: list[str]) -> list[RollCell]:
    """Of the loans in each bucket at the start, those in the next bucket or a worse one at the
    end, by count and by their balance at the start."""
    cells = []
    for bucket, following in zip(buckets, buckets[1:], strict=False):
        worse = set(buckets[buckets.index(following) :])
        held = [(to, n, bal) for (start, to), (n, bal) in pairs.items() if start == bucket]
        count, balance = sum(n for _, n, _ in held), sum(bal for _, _, bal in held)
        r_count = sum(n for to, n, _ in held if to in worse)
        r_balance = sum(bal for to, _, bal in held if to in worse)
        cells.append(RollCell(bucket, following, count, balance, r_count, r_balance,
                              rate(r_count, count), rate(r_balance, balance)))  # fmt: skip
    return cells


def _buckets_at(
    session: Session, points: list[date], org_paths: Sequence[str] | None
) -> dict[date, dict[int, tuple[int, str, int]]]:
    """On each point: every loan in arrears then, its branch, bucket and balance then (one
    query)."""
    if not points:
        return {}
    pts = union_all(*(select(literal(p, Date).label("d")) for p in points)).subquery("pts")
    repaid = principal_repaid_at(BUCKETS.c.loan_id, pts.c.d)
    query = select(
        pts.c.d,
        BUCKETS.c.loan_id,
        LOANS.c.branch_id,
        BUCKETS.c.bucket,
        LOANS.c.principal_cents - repaid,
    ).select_from(
        pts.join(
            BUCKETS,
            and_(
                BUCKETS.c.entered_on <= pts.c.d,
                or_(BUCKETS.c.left_on.is_(None), BUCKETS.c.left_on > pts.c.d),
            ),
        ).join(LOANS, LOANS.c.id == BUCKETS.c.loan_id)
    )
    found: dict[date, dict[int, tuple[int, str, int]]] = {}
    for day, loan_id, branch, bucket, balance in session.exec(scoped(query, org_paths)).all():  # type: ignore[call-overload]
        day = day if isinstance(day, date) else date.fromisoformat(str(day))
        found.setdefault(day, {})[loan_id] = (branch, bucket, int(balance))
    return found


def last_period_pairs(session: Session, on: date) -> tuple[date | None, BranchPairs]:
    """The whole bank's pairs, by branch, of the last roll period up to D (from the month end
    before D's month): what a book summary of D keeps. No period before the book began."""
    points = roll_points(session, on)
    if len(points) < 2:
        return None, {}
    start = points[-2]
    at = _buckets_at(session, [start, on], None)
    return start, period_pairs(at.get(start, {}), at.get(on, {}))


Outcomes = dict[str, dict[str, int]]  # bucket → outcome (bad, cured, unresolved) → loans


def outcome_counts(session: Session, on: date) -> Outcomes:
    """Of the loans ever in each bucket by D, whole bank: how many ended as bad debt, were
    cured, or are still in arrears on D."""
    entered = (
        select(BUCKETS.c.loan_id, BUCKETS.c.bucket)
        .where(BUCKETS.c.entered_on <= on)
        .distinct()
        .subquery("entered")
    )
    life, risk, now = on_day(LIFECYCLE, on), on_day(CLASSIFICATION, on), bucket_on_day(on)
    outcome = case(
        (or_(life.c.state == LoanState.written_off.value, risk.c.state == RiskClass.loss.value),
         "bad"),
        (now.c.bucket.is_(None), "cured"),
        else_="unresolved",
    ).label("outcome")  # fmt: skip
    query = (
        select(entered.c.bucket, outcome, func.count())
        .select_from(
            entered.join(life, life.c.loan_id == entered.c.loan_id)
            .join(risk, risk.c.loan_id == entered.c.loan_id)
            .outerjoin(now, now.c.loan_id == entered.c.loan_id)
        )
        .group_by(entered.c.bucket, outcome)
    )
    counts: Outcomes = {}
    for bucket, result, count in session.exec(query).all():  # type: ignore[call-overload]
        counts.setdefault(bucket, {})[result] = count
    return counts


def expected_bad_debt(
    counts: Outcomes, balances: dict[str, int], settings: Settings
) -> list[BadDebtRow]:
    """M = Σ Mi·Pi on D; Pi from the whole bank's history (`counts`: a model parameter, not the
    reader's branch alone), Mi from the reader's book (`balances`, bucket → balance on D)."""
    rows = []
    for bucket, balance in balances.items():
        seen = counts.get(bucket, {})
        bad, cured = seen.get("bad", 0), seen.get("cured", 0)
        known = bad + cured
        from_history = known >= settings.bad_debt_min_sample
        share = rate(bad, known) if from_history else None
        pi = share if share is not None else configured_rate(bucket, settings)
        expected = int((Decimal(balance) * pi).quantize(Decimal(1), ROUND_HALF_UP))
        rows.append(BadDebtRow(bucket, balance, bad, cured, seen.get("unresolved", 0), pi,
                               from_history, expected))  # fmt: skip
    return rows


def configured_rate(bucket: str, settings: Settings) -> Decimal:
    """The configured Pi of a bucket; a bucket with no rate of its own (the bounds were changed
    without the rates, or the history holds a bucket of older bounds) takes the highest rate
    configured — the cautious reading, and the report says the rate is configured."""
    rates = settings.bad_debt_rates
    if bucket in rates:
        return Decimal(rates[bucket])
    return max((Decimal(v) for v in rates.values()), default=Decimal(1))
