"""What every flow shares: the clock and business date at the edge, and one DB transaction per
step (steps touch the world; flow bodies only decide)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date

from sqlmodel import Session

from core.calendar import BusinessCalendar, get_calendar
from core.clock import Clock, SystemClock
from core.db import session_scope
from core.settings import get_settings

_clock: ContextVar[Clock | None] = ContextVar("postloan_flow_clock", default=None)


def clock() -> Clock:
    """The bank's wall clock, or the one `using_clock` set (the simulator's day by day)."""
    return _clock.get() or SystemClock(get_settings().tz)


@contextmanager
def using_clock(chosen: Clock) -> Iterator[Clock]:
    """Run the flows' steps on `chosen` (a simulated clock): every `now` they journal and every
    business date they default to is read from it, in this thread and context only."""
    token = _clock.set(chosen)
    try:
        yield chosen
    finally:
        _clock.reset(token)


def business_date(value: date | None) -> date:
    """The date a run works on: the one asked for, or today in the bank's time zone."""
    return value or clock().today()


def calendar() -> BusinessCalendar:
    return get_calendar()


@contextmanager
def transaction() -> Iterator[Session]:
    with session_scope() as session:
        yield session
