"""What every flow shares: the clock and business date at the edge, and one DB transaction per
step (steps touch the world; flow bodies only decide)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

from sqlmodel import Session

from core.calendar import BusinessCalendar, get_calendar
from core.clock import Clock, SystemClock
from core.db import session_scope
from core.settings import get_settings


def clock() -> Clock:
    return SystemClock(get_settings().tz)


def business_date(value: date | None) -> date:
    """The date a run works on: the one asked for, or today in the bank's time zone."""
    return value or clock().today()


def calendar() -> BusinessCalendar:
    return get_calendar()


@contextmanager
def transaction() -> Iterator[Session]:
    with session_scope() as session:
        yield session
