"""What the reports on scheduled work rest on: the inspection kinds the bank is assessed on and
the registration date (登记日期考核, 000) of a completion. The figures themselves — late
inspections, annual on-site coverage — are in reports/inspections.py, as of any past date."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Date, cast, func
from sqlmodel import Session

from core.settings import Settings
from statemachines.enums import LoanState

CLOSED = (LoanState.settled.value, LoanState.written_off.value)  # no more post-loan work
# The kinds the late report and the bank's assessment look at (登记日期考核, 000).
INSPECTION_KINDS = ("first_usage_check", "loan_card_check", "customer_visit", "phone_follow_up")


def registration_date(session: Session, column: Any, settings: Settings) -> Any:
    """登记日期: the business date (bank time zone) of a stored UTC timestamp, in SQL.

    SQLite keeps timestamps as UTC text (the clocks of core.clock give UTC), so it shifts by the
    zone's offset; Asia/Shanghai has had no daylight saving since 1991, so the offset is fixed.
    """
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.timezone(settings.timezone, column), Date)
    offset = datetime(2000, 1, 1, tzinfo=settings.tz).utcoffset() or timedelta()
    return func.date(column, f"{int(offset.total_seconds()) // 60:+d} minutes")
