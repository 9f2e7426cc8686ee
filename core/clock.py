"""Time is explicit (DESIGN decision 4): domain code takes `now` / business dates from a Clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


class Clock(Protocol):
    def now(self) -> datetime: ...

    def today(self) -> date: ...


@dataclass
class SystemClock:
    """The wall clock, in the bank's time zone (only the edges — CLI, API, flows — build one)."""

    tz: ZoneInfo = SHANGHAI

    def now(self) -> datetime:
        return datetime.now(UTC)

    def today(self) -> date:
        return self.now().astimezone(self.tz).date()


@dataclass
class FixedClock:
    """A clock that moves only when told: tests and the simulator."""

    current: datetime = field(default_factory=lambda: datetime(2026, 1, 5, 1, 0, tzinfo=UTC))
    tz: ZoneInfo = SHANGHAI

    def now(self) -> datetime:
        return self.current

    def today(self) -> date:
        return self.current.astimezone(self.tz).date()

    def advance(self, **delta: float) -> None:
        self.current = self.current + timedelta(**delta)

    def set_date(self, day: date, hour: int = 9) -> None:
        self.current = datetime(day.year, day.month, day.day, hour, tzinfo=self.tz).astimezone(UTC)
