"""Business calendar (营业日历): China's public holidays and make-up workdays (调休), "by the 20th"
deadlines, quarter ends, business-day arithmetic. Imports only core modules of postloan.

Who decides a day, highest priority first (``explain(day).source`` names it):
1. ``bank_file:<file>``: schedules the bank loads from setting ``calendar_data_dir`` (unset: none);
   the latest ``published_on`` wins, ``with_schedule_file`` puts a file above all. A year a file
   lists is answered by it alone (weekends plus its lists).
2. ``chinesecalendar``: the State Council notices it ships (2004–2026 in 1.11).
3. ``holidays``: years ``holidays``' China holds a notice for (2001–2026 in 0.109), with its
   ``weekend_workdays``. Its later years are estimates (Sat/Sun → next weekday, no 调休): unused.
4. ``fallback``: weekends plus the statutory days of 全国年节及纪念日放假办法 (2024 revision) —
   元旦, 除夕 + 春节 3 days, 清明, 劳动节 2 days, 端午, 中秋, 国庆节 3 days; lunar and solar-term
   dates from ``holidays``' tables up to 2100, fixed-date days only after. No 调休, no days in lieu:
   the real notice usually adds both.

Contract: due dates are computed once when a task is opened and stored; loading a new schedule
never moves a stored date; ``schedule_changes`` lists the ones a bank may want to review. The
calendar never reads the time: callers pass business dates taken from the clock.

Bank file, JSON: ``{"source": "<notice>", "published_on": "2025-11-04", "years": {"2026":
{"holidays": ["2026-01-01", {"date": "2026-02-15", "name": "春节"}], "workdays": ["2026-01-04"]}}}``
(a workday falls on a weekend; dates may spill into the next or previous year); CSV: header
``year,date,kind,name,source,published_on``, kind ``holiday``/``workday``. The 2026 notice in this
format is ``calendar_data/example_schedule.json`` (an example, never loaded by default).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, get_args

import chinese_calendar
import holidays

from core.errors import ValidationError
from core.settings import get_settings

Roll = Literal["previous", "next", "none"]
ROLLS = frozenset(get_args(Roll))
Entry = tuple[bool, str | None]  # (is a business day, name)

# 贷款卡检索 and customer visits are due "by the 20th" (DOMAIN §4, 000 §1.1); bank-configurable.
DEADLINE_DAY = 20
WORKDAY_NAME = "调休上班"
HOLIDAY_NAME = "节假日"
_KINDS = {"holidays": False, "workdays": True}  # list in a schedule file → is a business day
# Fixed-date statutory days (2024 revision), used where no lunar table reaches (after 2100).
_FIXED_STATUTORY = (
    *((1, 1, "元旦"), (5, 1, "劳动节"), (5, 2, "劳动节")),
    *((10, 1, "国庆节"), (10, 2, "国庆节"), (10, 3, "国庆节")),
)
# No schedule closes a whole year; a longer search means a broken data file, not a long holiday.
_SEARCH_LIMIT = 366


class CalendarDataError(ValidationError):
    """A bank schedule file (or directory) cannot be used; `errors` says where and why."""

    code = "calendar_data_invalid"


@dataclass(frozen=True, slots=True)
class DayInfo:
    day: date
    is_business_day: bool
    name: str | None
    source: str  # "bank_file:<file>" | "chinesecalendar" | "holidays" | "fallback"


@dataclass(frozen=True)
class ScheduleFile:
    """One announced schedule (a State Council notice) as the bank typed it in."""

    name: str
    source: str
    published_on: date
    years: frozenset[int]
    days: Mapping[date, Entry]

    @property
    def label(self) -> str:
        return f"bank_file:{self.name}"


@cache
def _chinesecalendar_year(year: int) -> Mapping[date, Entry] | None:
    try:
        chinese_calendar.is_workday(date(year, 1, 1))
    except NotImplementedError:
        return None
    closed = {
        d: (False, chinese_calendar.Holiday(n).chinese)
        for d, n in _of(chinese_calendar.holidays, year)
    }
    return closed | {d: (True, WORKDAY_NAME) for d, _ in _of(chinese_calendar.workdays, year)}


@cache
def _holidays_year(year: int) -> Mapping[date, Entry] | None:
    # Next year too: a January notice may put a make-up workday on the last weekend of December.
    china = holidays.country_holidays("CN", years=(year, year + 1), language="zh_CN")
    if year not in china.special_public_holidays:  # no State Council notice in the package
        return None
    workdays = {d: (True, WORKDAY_NAME) for d in china.weekend_workdays if d.year == year}
    return {d: (False, name) for d, name in _of(china, year)} | workdays


@cache
def _statutory_year(year: int) -> dict[date, Entry]:
    china = holidays.country_holidays("CN", years=year, observed=False, language="zh_CN")
    days: dict[date, Entry] = {d: (False, name) for d, name in _of(china, year)}
    return days or {date(year, m, d): (False, name) for m, d, name in _FIXED_STATUTORY}


_LIBRARY_SOURCES: tuple[tuple[str, Callable[[int], Mapping[date, Entry] | None]], ...] = (
    ("chinesecalendar", _chinesecalendar_year),
    ("holidays", _holidays_year),
    ("fallback", _statutory_year),
)


@dataclass(frozen=True)
class BusinessCalendar:
    """Business days (营业日) of a bank in mainland China; build it once with `load()`."""

    files: tuple[ScheduleFile, ...] = ()
    deadline_day: int = DEADLINE_DAY
    deadline_roll: Roll = "previous"
    # Per year, the closed dates: one set lookup per question (the only mutable part: a cache).
    _closed: dict[int, frozenset[date]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @classmethod
    def load(cls, data_dir: Path | None = None) -> BusinessCalendar:
        """The calendar with the bank's schedule files (`data_dir`, else the configured one)."""
        settings = get_settings()
        if data_dir is None:
            configured = settings.calendar_data_dir
            data_dir = Path(configured) if configured else None
        return cls(
            files=() if data_dir is None else read_schedule_dir(data_dir),
            deadline_day=settings.calendar_deadline_day,
            deadline_roll=settings.calendar_deadline_roll,
        )

    def with_schedule_file(self, path: Path) -> BusinessCalendar:
        """A new calendar with `path` above every other source; this one is unchanged."""
        return replace(self, files=(read_schedule_file(path), *self.files))

    def explain(self, day: date) -> DayInfo:
        """Whether `day` is a business day, its holiday name, and which source decided."""
        _require_date(day)
        for schedule in self.files:
            entry = schedule.days.get(day)
            if entry is None and day.year in schedule.years:
                entry = (day.weekday() < 5, None)
            if entry is not None:
                return DayInfo(day, entry[0], entry[1], schedule.label)
        for source, lookup in _LIBRARY_SOURCES:
            days = lookup(day.year)
            if days is not None:
                is_open, name = days.get(day, (day.weekday() < 5, None))
                return DayInfo(day, is_open, name, source)
        raise AssertionError("the fallback answers every year")

    def is_business_day(self, day: date) -> bool:
        _require_date(day)
        closed = self._closed.get(day.year)
        if closed is None:
            first = date(day.year, 1, 1)
            span = (date(day.year, 12, 31) - first).days + 1
            every_day = (first + timedelta(days=i) for i in range(span))
            closed = frozenset(d for d in every_day if not self.explain(d).is_business_day)
            self._closed[day.year] = closed  # racing threads compute the same set: harmless
        return day not in closed

    def next_business_day(self, day: date) -> date:
        """The first business day strictly after `day`."""
        return self._step(day, 1)

    def previous_business_day(self, day: date) -> date:
        """The last business day strictly before `day`."""
        return self._step(day, -1)

    def add_business_days(self, day: date, n: int) -> date:
        """`n` business days after `day` (before it when `n` < 0); `day` itself when `n` == 0."""
        for _ in range(abs(n)):
            day = self._step(day, 1 if n > 0 else -1)
        return day

    def business_days_before(self, day: date, n: int) -> date:
        """The day `n` business days before `day` (提前N个工作日), counting business days only."""
        if n < 0:
            raise ValueError(f"n must not be negative, got {n}")
        return self.add_business_days(day, -n)

    def roll(self, day: date, how: Roll | None = None) -> date:
        """`day` if it is a business day, else the previous / next one (`none`: `day` as is)."""
        how = self.deadline_roll if how is None else how
        if how not in ROLLS:
            raise ValueError(f"roll must be one of {get_args(Roll)}, not {how!r}")
        if how == "none" or self.is_business_day(day):
            return day
        return self._step(day, -1 if how == "previous" else 1)

    def quarter_end(self, day: date) -> date:
        """The last calendar day of `day`'s quarter (季末)."""
        return _month_end(day.year, (day.month - 1) // 3 * 3 + 3)

    def deadline_by_day_of_month(
        self, year: int, month: int, day_of_month: int | None = None, roll: Roll | None = None
    ) -> date:
        """The deadline "by the 20th" of `month`: the configured day (20th) rolled the configured
        way (to the previous business day). A day past the month's end means its last day."""
        nominal_day = self.deadline_day if day_of_month is None else day_of_month
        if not 1 <= nominal_day <= 31:
            raise ValueError(f"day_of_month must be 1..31, got {nominal_day}")
        last = _month_end(year, month)
        return self.roll(last.replace(day=min(nominal_day, last.day)), roll)

    def quarterly_deadline(self, day: date, roll: Roll | None = None) -> date:
        """By the 20th of the month after the end of `day`'s quarter (quarterly visits, §4)."""
        after = self.quarter_end(day) + timedelta(days=1)
        return self.deadline_by_day_of_month(after.year, after.month, roll=roll)

    def _step(self, day: date, direction: int) -> date:
        start = day
        for _ in range(_SEARCH_LIMIT):
            day += timedelta(days=direction)
            if self.is_business_day(day):
                return day
        raise CalendarDataError(
            f"{start} 起一年内没有工作日 (no business day within a year of {start})", day=start
        )


@cache
def get_calendar() -> BusinessCalendar:
    """The process-wide calendar (like `get_settings`); `get_calendar.cache_clear()` re-reads files."""
    return BusinessCalendar.load()


def schedule_changes(
    old: BusinessCalendar, new: BusinessCalendar, dates: Iterable[date], roll: Roll | None = None
) -> list[date]:
    """Which of `dates` (due dates already issued) `new` would treat differently: business-day
    status changed, or rolling them (`roll`, default `new`'s) lands elsewhere. Changes nothing."""
    how = new.deadline_roll if roll is None else roll

    def moved(d: date) -> bool:
        status_changed = old.is_business_day(d) != new.is_business_day(d)
        return status_changed or old.roll(d, how) != new.roll(d, how)

    return sorted({d for d in dates if moved(d)})


def read_schedule_dir(data_dir: Path) -> tuple[ScheduleFile, ...]:
    """Every *.json / *.csv schedule in `data_dir`, latest `published_on` first."""
    if not data_dir.is_dir():
        raise CalendarDataError(
            f"未找到日历数据目录 {data_dir} (calendar data directory {data_dir} not found)",
            path=str(data_dir),
        )
    paths = sorted(p for p in data_dir.iterdir() if p.suffix.lower() in {".json", ".csv"})
    files = [read_schedule_file(p) for p in paths]
    return tuple(sorted(files, key=lambda f: (f.published_on, f.name), reverse=True))


def read_schedule_file(path: Path) -> ScheduleFile:
    """One bank schedule file (.json or .csv); CalendarDataError lists every problem in it."""
    try:
        if path.suffix.lower() == ".csv":
            return _schedule(path.name, _csv_document(path))
        return _schedule(path.name, json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:  # unreadable, not UTF-8, not JSON
        raise CalendarDataError(
            f"日历文件 {path.name} 无法读取 ({path.name}: {exc})", file=path.name
        ) from exc


def _csv_document(path: Path) -> dict[str, Any]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    meta = {(row.get("source"), row.get("published_on")) for row in rows}
    if len(meta) != 1:
        raise CalendarDataError(
            f"日历文件 {path.name} 须有且仅有一个来源和发布日期 "
            f"({path.name}: one source and published_on)",
            file=path.name,
        )
    ((source, published_on),) = meta
    years: dict[str, dict[str, list[Any]]] = {}
    for row in rows:
        kind = f"{row.get('kind')}s"  # holiday → holidays, workday → workdays
        item = {"date": row.get("date"), "name": row.get("name") or None}
        years.setdefault(row.get("year") or "", {}).setdefault(kind, []).append(item)
    return {"source": source, "published_on": published_on, "years": years}


def _schedule(name: str, document: Any) -> ScheduleFile:
    errors: list[dict[str, str]] = []
    doc: dict[str, Any] = document if isinstance(document, dict) else {}
    source, published = doc.get("source"), _as_date(doc.get("published_on"))
    if not isinstance(source, str) or not source.strip():
        errors.append({"loc": "source", "msg": "name the notice the dates come from"})
    if published is None:
        errors.append({"loc": "published_on", "msg": "a date YYYY-MM-DD"})
    raw_years = doc.get("years") if isinstance(doc.get("years"), dict) else None
    if not raw_years:
        errors.append({"loc": "years", "msg": '{"YYYY": {"holidays": [], "workdays": []}}'})
    days: dict[date, Entry] = {}
    for key, lists in (raw_years or {}).items():
        if not str(key).isdigit() or not isinstance(lists, dict) or set(lists) - set(_KINDS):
            errors.append({"loc": f"years.{key}", "msg": "only holidays and workdays lists"})
            continue
        for kind, items in lists.items():
            for i, item in enumerate(items if isinstance(items, list) else [items]):
                raw = item.get("date") if isinstance(item, dict) else item
                label = item.get("name") if isinstance(item, dict) else None
                label = label if isinstance(label, str) and label else None
                day, is_open = _as_date(raw), _KINDS[kind]
                if day is None or abs(day.year - int(key)) > 1:
                    problem = f"{raw!r} is not a date in or next to {key}"
                elif is_open and day.weekday() < 5:
                    problem = f"{day} is a weekday; a make-up workday (调休上班) is on a weekend"
                elif days.get(day, (is_open,))[0] != is_open:
                    problem = f"{day} is listed both as a holiday and as a workday"
                else:
                    days[day] = (is_open, label or (WORKDAY_NAME if is_open else HOLIDAY_NAME))
                    continue
                errors.append({"loc": f"years.{key}.{kind}[{i}]", "msg": problem})
    if errors or published is None or not isinstance(source, str):
        raise CalendarDataError(
            f"日历文件 {name} 无效 (calendar file {name} is invalid)", errors=errors, file=name
        )
    years = frozenset(int(key) for key in raw_years or {})
    return ScheduleFile(name, source, published, years, MappingProxyType(days))


def _of(days: Mapping[date, str], year: int) -> list[tuple[date, str]]:
    return [(day, name) for day, name in days.items() if day.year == year]


def _as_date(value: Any) -> date | None:
    try:
        return date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _month_end(year: int, month: int) -> date:
    return (date(year, month, 28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


def _require_date(day: date) -> None:
    # A datetime never equals a date: it would silently count as a business day.
    if isinstance(day, datetime):
        raise TypeError(f"pass the business date (a date), not a datetime: {day!r}")
