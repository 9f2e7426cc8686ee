"""Repayment schedule maths (还款计划): due dates and each installment's principal/interest split.
Pure functions on integer cents (分) and Decimal annual rates; imports no DB, web or Prefect."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, localcontext
from enum import StrEnum
from typing import Any

from core.errors import ValidationError

# Day count, per PBoC《人民币利率管理规定》(月利率 = 年利率 ÷ 12, 日利率 = 年利率 ÷ 360): a whole
# monthly period accrues annual_rate / 12 whatever its length in days; a final stub period shorter
# than a month, and a bullet loan, accrue annual_rate × actual days / 360.
MONTHS_PER_YEAR = 12
DAY_COUNT_BASIS = 360
# Above 100 % a year the rate was almost certainly keyed as a percentage (4.35 for 4.35 %).
MAX_ANNUAL_RATE = Decimal("1")
# Significant digits for intermediate maths: (1 + r) ** 360 needs headroom before rounding to cents.
_PRECISION = 40


class RepaymentMethod(StrEnum):
    """还款方式; values are stored in the DB."""

    equal_installment = "equal_installment"  # 等额本息
    equal_principal = "equal_principal"  # 等额本金
    monthly_interest_bullet = "monthly_interest_bullet"  # 按月付息、到期还本
    bullet = "bullet"  # 到期一次还本付息


@dataclass(frozen=True)
class ScheduledInstallment:
    """One row of a repayment plan (还款计划), amounts in cents (分)."""

    seq_no: int  # 1-based (期次)
    due_date: date
    principal_cents: int
    interest_cents: int

    @property
    def total_cents(self) -> int:
        return self.principal_cents + self.interest_cents


class ScheduleError(ValidationError):
    """Loan terms from which no schedule can be built; `errors` names every bad field."""


def add_months(day: date, months: int) -> date:
    """`day` moved by `months` calendar months, clamped to month end (Jan 31 + 1 → Feb 28/29).

    Always count from the original anchor, never chain: add_months(Jan 31, 2) is Mar 31, whereas
    add_months(add_months(Jan 31, 1), 1) would drift to Mar 28.
    """
    year, month_index = divmod(day.year * 12 + day.month - 1 + months, 12)
    last_day = calendar.monthrange(year, month_index + 1)[1]
    return date(year, month_index + 1, min(day.day, last_day))


def generate_schedule(
    *,
    principal_cents: int,
    annual_rate: Decimal,
    disbursement_date: date,
    maturity_date: date,
    method: RepaymentMethod,
) -> list[ScheduledInstallment]:
    """The installments of a loan, in due-date order.

    Monthly methods fall due on add_months(disbursement_date, k) for each k whose date is before
    maturity, plus a last installment on maturity_date; when maturity is not a whole number of
    months after disbursement that last period is a short stub accruing actual/360. Interest is
    rounded half-up to the cent per installment; the last installment takes whatever principal is
    left, so principal always sums to `principal_cents` exactly. A bullet loan has one installment.
    Raises ScheduleError (a ValidationError) naming each bad field.
    """
    method = _validated_method(
        principal_cents, annual_rate, disbursement_date, maturity_date, method
    )
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        if method is RepaymentMethod.bullet:
            days = (maturity_date - disbursement_date).days
            interest = _to_cents(principal_cents * annual_rate * days / DAY_COUNT_BASIS)
            return [ScheduledInstallment(1, maturity_date, principal_cents, interest)]
        return _monthly_schedule(
            principal_cents, annual_rate, disbursement_date, maturity_date, method
        )


def _monthly_schedule(
    principal_cents: int,
    annual_rate: Decimal,
    disbursement_date: date,
    maturity_date: date,
    method: RepaymentMethod,
) -> list[ScheduledInstallment]:
    due_dates = _due_dates(disbursement_date, maturity_date)
    periods = len(due_dates)
    monthly_rate = annual_rate / MONTHS_PER_YEAR
    last_rate = monthly_rate
    if add_months(disbursement_date, periods) != maturity_date:
        stub_start = add_months(disbursement_date, periods - 1)
        last_rate = annual_rate * (maturity_date - stub_start).days / DAY_COUNT_BASIS
    # A stub counts as one annuity period; its actual/360 interest lands on the last installment.
    payment = None
    if method is RepaymentMethod.equal_installment and annual_rate > 0:
        payment = _annuity_payment(principal_cents, monthly_rate, periods)
    equal_part = principal_cents // periods

    installments = []
    balance = principal_cents
    for seq_no, due_date in enumerate(due_dates, start=1):
        is_last = seq_no == periods
        interest = _to_cents(balance * (last_rate if is_last else monthly_rate))
        if is_last:
            principal = balance
        elif method is RepaymentMethod.monthly_interest_bullet:
            principal = 0
        elif payment is None:  # equal_principal, or equal_installment at a zero rate
            principal = equal_part
        else:
            # Clamped: accumulated cent rounding must never make principal negative or overpay.
            principal = min(max(payment - interest, 0), balance)
        balance -= principal
        installments.append(ScheduledInstallment(seq_no, due_date, principal, interest))
    return installments


def interest_periods(
    principal_cents: int, annual_rate: Decimal, start: date, end: date
) -> list[tuple[date, date, int]]:
    """(from, to, interest) of the monthly interest periods from `start` to `end` on a principal
    that does not change: the schedule's day count — a whole month accrues annual_rate / 12, a
    final stub shorter than a month actual/360. None when `end` is not after `start`."""
    if end <= start:
        return []
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        periods, begin = [], start
        for k, due in enumerate(_due_dates(start, end), start=1):
            whole = add_months(start, k) == due
            interest = (
                _to_cents(principal_cents * annual_rate / MONTHS_PER_YEAR)
                if whole
                else accrued_interest(principal_cents, annual_rate, begin, due)
            )
            periods.append((begin, due, interest))
            begin = due
        return periods


def accrued_interest(principal_cents: int, annual_rate: Decimal, start: date, end: date) -> int:
    """Interest on a principal from `start` to `end`, actual/360 (a part of a period)."""
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        days = max((end - start).days, 0)
        return _to_cents(principal_cents * annual_rate * days / DAY_COUNT_BASIS)


def _due_dates(disbursement_date: date, maturity_date: date) -> list[date]:
    dates = []
    months = 1
    while (due := add_months(disbursement_date, months)) < maturity_date:
        dates.append(due)
        months += 1
    dates.append(maturity_date)
    return dates


def _annuity_payment(principal_cents: int, rate: Decimal, periods: int) -> int:
    """等额本息 payment: P·r·(1+r)^n / ((1+r)^n − 1), rounded to the cent."""
    growth = (1 + rate) ** periods
    return _to_cents(principal_cents * rate * growth / (growth - 1))


def _to_cents(amount: Decimal) -> int:
    return int(amount.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _validated_method(
    principal_cents: Any,
    annual_rate: Any,
    disbursement_date: date,
    maturity_date: date,
    method: Any,
) -> RepaymentMethod:
    errors: list[dict[str, str]] = []

    def bad(field: str, zh: str, en: str) -> None:
        errors.append({"field": field, "message": zh, "message_en": en})

    if isinstance(principal_cents, bool) or not isinstance(principal_cents, int):
        bad("principal_cents", "须为整数（分）", "must be a whole number of cents")
    elif principal_cents <= 0:
        bad("principal_cents", "须大于零", "must be greater than zero")
    if not isinstance(annual_rate, Decimal) or not annual_rate.is_finite():
        bad(
            "annual_rate",
            "须为有限的 Decimal，不能是浮点数",
            "must be a finite Decimal, never a float",
        )
    elif not 0 <= annual_rate <= MAX_ANNUAL_RATE:
        bad(
            "annual_rate",
            f"年利率须在 0 至 {MAX_ANNUAL_RATE} 之间",
            f"must be between 0 and {MAX_ANNUAL_RATE} a year",
        )
    if maturity_date <= disbursement_date:
        bad("maturity_date", "须晚于放款日", "must be after the disbursement date")
    try:
        checked = RepaymentMethod(method)
    except ValueError:
        bad("method", f"未知还款方式 {method!r}", f"unknown repayment method {method!r}")
    if errors:
        fields = ", ".join(error["field"] for error in errors)
        raise ScheduleError(
            f"无法生成还款计划：{fields} 无效 (cannot build a repayment schedule: invalid {fields})",
            errors=errors,
        )
    return checked
