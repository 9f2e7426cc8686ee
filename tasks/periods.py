"""Periods of recurring post-loan work (DOMAIN §4) on the business calendar: the month (by the
20th), the quarter (by the 20th of the month after it), the 旬 and the half month. Pure."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, timedelta

from core.calendar import BusinessCalendar
from loans.schedule import add_months


@dataclass(frozen=True)
class Period:
    """One occurrence of a recurring check; `label` goes into the task key. Its work is open from
    `opens` to `deadline`: never before the period starts (a monthly check belongs to its month),
    and not before the previous period's deadline has passed."""

    label: str
    start: date
    end: date
    deadline: date
    opens: date = date.min  # set by current_period

    def is_open(self, on: date) -> bool:
        return self.opens <= on


def _month_end(day: date) -> date:
    return add_months(day.replace(day=1), 1) - timedelta(days=1)


def _last_business_day(calendar: BusinessCalendar, start: date, end: date) -> date:
    day = calendar.roll(end, "previous")
    return day if day >= start else calendar.roll(end, "next")  # a slot that is all holiday


def monthly(calendar: BusinessCalendar, day: date) -> Period:
    """By the 20th of the month (rolled per the calendar: to the previous business day)."""
    deadline = calendar.deadline_by_day_of_month(day.year, day.month)
    return Period(f"{day:%Y-%m}", day.replace(day=1), _month_end(day), deadline)


def quarterly(calendar: BusinessCalendar, day: date) -> Period:
    """By the 20th of the month after the quarter's end (客户拜访, 000 §1.2)."""
    start = date(day.year, (day.month - 1) // 3 * 3 + 1, 1)
    label = f"{day.year}Q{(day.month - 1) // 3 + 1}"
    return Period(label, start, calendar.quarter_end(day), calendar.quarterly_deadline(day))


def dekad(calendar: BusinessCalendar, day: date) -> Period:
    """旬: the 1st–10th, 11th–20th, 21st–end (电话回访 "本旬销售", 000), due its last business day."""
    start = day.replace(day=min((day.day - 1) // 10, 2) * 10 + 1)
    end = _month_end(day) if start.day == 21 else start + timedelta(days=9)
    return Period(start.isoformat(), start, end, _last_business_day(calendar, start, end))


def half_month(calendar: BusinessCalendar, day: date) -> Period:
    """The 1st–15th and the 16th–end (现场回访 2次/月, 000), due its last business day."""
    half = 1 if day.day <= 15 else 2
    start = day.replace(day=1 if half == 1 else 16)
    end = day.replace(day=15) if half == 1 else _month_end(day)
    return Period(f"{day:%Y-%m}-{half}", start, end, _last_business_day(calendar, start, end))


Cadence = Callable[[BusinessCalendar, date], Period]


def current_period(cadence: Cadence, calendar: BusinessCalendar, on: date) -> Period:
    """The period whose deadline is the next one on or after `on`, with the day its work opens.

    A month's checks open on its 1st (the days after the 20th belong to no open period, so two
    "monthly" checks can never both be done in one month); a quarter's visits, due after the
    quarter ends, open the day after the previous quarter's deadline. The scheduler runs daily;
    keys make re-runs no-ops. After an outage, run it for the missed dates: what they open is
    born late, and the late report shows it.
    """
    period = cadence(calendar, cadence(calendar, on).start - timedelta(days=1))
    previous = cadence(calendar, period.start - timedelta(days=1))
    while period.deadline < on:
        previous, period = period, cadence(calendar, period.end + timedelta(days=1))
    return replace(period, opens=max(previous.deadline + timedelta(days=1), period.start))
