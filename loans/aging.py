"""Days past due, arrears and restructuring observation facts, computed from installments as of a
date (pure functions; the daily sweep does the same set-based in SQL)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Protocol

from core.calendar import get_calendar
from core.settings import get_settings
from loans.schedule import add_months


class InstallmentLike(Protocol):
    due_date: date
    principal_due_cents: int
    interest_due_cents: int
    principal_paid_cents: int
    interest_paid_cents: int
    paid_off_on: date | None


def _paid_off_by(inst: InstallmentLike, on: date) -> bool:
    return inst.paid_off_on is not None and inst.paid_off_on <= on


def pay_by(due: date) -> date:
    """The day an amount due on `due` (an installment, a maturity) must be paid by: `due` moved
    off a non-business day per the setting `installment_due_roll` (顺延 to the next business day
    by default; "none" keeps the contract date). Monotone, so the oldest unpaid installment is
    also the one whose pay-by day is oldest."""
    how = get_settings().installment_due_roll
    return due if how == "none" else get_calendar().roll(due, how)


def paid_on_time(inst: InstallmentLike) -> bool:
    """Paid in full by its pay-by day."""
    return inst.paid_off_on is not None and inst.paid_off_on <= pay_by(inst.due_date)


def days_past_due(installments: Iterable[InstallmentLike], on: date) -> int:
    """Days since the oldest installment that was due before `on` and not paid off by `on`.

    Extensions add or re-spread only future installments, so an extension never resets this
    (分类办法: overdue days count on after an extension).
    """
    unpaid = [i.due_date for i in installments if i.due_date < on and not _paid_off_by(i, on)]
    return days_past_due_since(min(unpaid) if unpaid else None, on)


def days_past_due_since(oldest_unpaid_due: date | None, on: date) -> int:
    """Days past due on `on` when the oldest installment not paid off by then fell due on
    `oldest_unpaid_due` (None: nothing in arrears), counted from its pay-by day. The one
    definition: the sweep's SQL does the same arithmetic (loans.sweep._aging_update)."""
    if oldest_unpaid_due is None or oldest_unpaid_due >= on:
        return 0
    return max(0, (on - pay_by(oldest_unpaid_due)).days)


def outstanding_cents(installments: Iterable[InstallmentLike]) -> int:
    return sum(
        (i.principal_due_cents - i.principal_paid_cents)
        + (i.interest_due_cents - i.interest_paid_cents)
        for i in installments
    )


def outstanding_principal_cents(installments: Iterable[InstallmentLike]) -> int:
    return sum(i.principal_due_cents - i.principal_paid_cents for i in installments)


@dataclass(frozen=True)
class Observation:
    start: date | None  # first repayment date after the change, or the last missed date
    on_time_periods: int  # consecutive periods paid in full and on time since `start`


def restructuring_observation(
    installments: Iterable[InstallmentLike], restructured_on: date, on: date
) -> Observation:
    """Observation period of a restructured asset (分类办法 第十九条): it starts at the first
    repayment date after the change and restarts from any missed repayment date."""
    after = sorted(
        (i for i in installments if i.due_date > restructured_on), key=lambda i: i.due_date
    )
    start = after[0].due_date if after else None
    count = 0
    for inst in after:
        if inst.due_date > on:
            break
        if paid_on_time(inst):
            count += 1
        else:
            start, count = inst.due_date, 0
    return Observation(start, count)


def bucket_names(bounds: Sequence[int] | None = None) -> list[str]:
    """Every bucket bucket_for can give, in order: M1..Mn, then Mn+."""
    if bounds is None:
        bounds = get_settings().overdue_bucket_bounds
    return [*(f"M{i}" for i in range(1, len(bounds) + 1)), f"M{len(bounds)}+"]


def bucket_for(dpd: int, bounds: Sequence[int] | None = None) -> str | None:
    """Overdue bucket (003): M1 1–30, M2 31–60, … M6 151–180, M6+ beyond; None when current.

    The one definition of buckets: the bounds are the setting `overdue_bucket_bounds` unless
    given (the sweep's SQL, loans.sweep.bucket_case, takes the same setting)."""
    if bounds is None:
        bounds = get_settings().overdue_bucket_bounds
    if dpd <= 0:
        return None
    for index, upper in enumerate(bounds, start=1):
        if dpd <= upper:
            return f"M{index}"
    return f"M{len(bounds)}+"


@dataclass(frozen=True)
class NplExit:
    """Whether the repayment record allows an upgrade out of 不良 (DOMAIN §3: arrears cleared,
    then at least max(two periods, six months) paid in full and on time). `problem` says why not."""

    problem: str | None
    since: date | None = None  # the clock starts here: arrears cleared (or classified 不良)
    on_time_periods: int = 0

    @property
    def allowed(self) -> bool:
        return self.problem is None


def npl_exit(
    installments: Iterable[InstallmentLike],
    *,
    npl_since: date | None,
    on: date,
    min_periods: int,
    min_months: int,
) -> NplExit:
    """The evidence for an upgrade out of 不良, from the book as of `on`. The clock starts when the
    last arrear was cleared (or when the loan became 不良, if it never was late since) and restarts
    at every installment paid late after it."""
    insts = sorted(installments, key=lambda i: i.due_date)
    dpd = days_past_due(insts, on)
    if dpd > 0:
        return NplExit(
            f"逾期未清偿：截至 {on} 已逾期 {dpd} 天 "
            f"(arrears are not cleared: {dpd} days past due on {on})"
        )
    cleared = [
        i.paid_off_on
        for i in insts
        if i.paid_off_on is not None and pay_by(i.due_date) < i.paid_off_on <= on
    ]
    starts = [d for d in (max(cleared, default=None), npl_since) if d is not None]
    since = max(starts) if starts else None
    if since is None:
        return NplExit(None)  # never late, never 不良 on record: nothing to wait for
    periods = 0
    for inst in insts:
        if inst.due_date <= since or inst.due_date > on:
            continue
        if paid_on_time(inst):
            periods += 1
    ends = add_months(since, min_months)
    if periods < min_periods or on < ends:
        return NplExit(
            f"自 {since} 起：{min_periods} 期中已按时足额还款 {periods} 期，"
            f"{min_months} 个月的良好还款期至 {ends} 届满 "
            f"(since {since}: {periods} of {min_periods} repayment periods paid in full and on "
            f"time, and {min_months} months of good repayment end on {ends})",
            since,
            periods,
        )
    return NplExit(None, since, periods)
