"""The business calendar: the 20th rule, 调休 make-up workdays, which source answers which year,
bank schedule files and `schedule_changes`. Dates are checked against the published State Council
notices (chinesecalendar 1.11 / holidays 0.109, pinned in constraints.txt)."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from core import calendar as calendar_module
from core.calendar import BusinessCalendar, CalendarDataError, DayInfo, schedule_changes
from core.settings import Settings

EXAMPLE = Path(calendar_module.__file__).parent / "calendar_data" / "example_schedule.json"


@pytest.fixture(scope="module")
def cal() -> BusinessCalendar:
    return BusinessCalendar()


def _write_schedule(
    path: Path,
    years: dict[str, Any],
    published_on: str = "2026-11-20",
    source: str = "test notice",
) -> Path:
    document = {"source": source, "published_on": published_on, "years": years}
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.fixture
def june_2025_file(tmp_path: Path) -> Path:
    """A bank file re-stating 2025 with an extra day off on Fri 20 June and Sat 21 June worked."""
    return _write_schedule(
        tmp_path / "bank_2025.json",
        {
            "2025": {
                "holidays": [{"date": "2025-06-20", "name": "行庆"}],
                "workdays": ["2025-06-21"],
            }
        },
    )


# --- the 20th rule -------------------------------------------------------------------------------


def test_deadline_twentieth_on_saturday_rolls_to_friday(cal: BusinessCalendar) -> None:
    assert date(2024, 4, 20).weekday() == 5
    assert cal.deadline_by_day_of_month(2024, 4) == date(2024, 4, 19)


def test_deadline_twentieth_on_sunday_rolls_to_friday(cal: BusinessCalendar) -> None:
    assert date(2025, 4, 20).weekday() == 6
    assert cal.deadline_by_day_of_month(2025, 4) == date(2025, 4, 18)


def test_deadline_twentieth_inside_spring_festival_rolls_to_makeup_saturday(
    cal: BusinessCalendar,
) -> None:
    # 2026 春节 runs 15–23 Feb; Sat 14 Feb is a make-up workday (国务院办公厅, 2025-11-04).
    assert cal.explain(date(2026, 2, 20)) == DayInfo(
        date(2026, 2, 20), False, "春节", "chinesecalendar"
    )
    assert cal.deadline_by_day_of_month(2026, 2) == date(2026, 2, 14)


def test_deadline_twentieth_on_makeup_sunday_stays(cal: BusinessCalendar) -> None:
    assert date(2026, 9, 20).weekday() == 6
    assert cal.deadline_by_day_of_month(2026, 9) == date(2026, 9, 20)


@pytest.mark.parametrize(
    ("year", "month", "roll", "expected"),
    [
        (2026, 2, "next", date(2026, 2, 24)),
        (2025, 4, "next", date(2025, 4, 21)),
        (2026, 2, "none", date(2026, 2, 20)),
        (2024, 4, "none", date(2024, 4, 20)),
        (2026, 2, "previous", date(2026, 2, 14)),
    ],
)
def test_deadline_explicit_roll_moves_as_asked(
    cal: BusinessCalendar, year: int, month: int, roll: Any, expected: date
) -> None:
    assert cal.deadline_by_day_of_month(year, month, roll=roll) == expected


def test_deadline_calendar_roll_next_used_by_default() -> None:
    assert BusinessCalendar(deadline_roll="next").deadline_by_day_of_month(2026, 2) == date(
        2026, 2, 24
    )


def test_deadline_day_past_month_end_uses_last_day(cal: BusinessCalendar) -> None:
    assert cal.deadline_by_day_of_month(2025, 2, day_of_month=31) == date(2025, 2, 28)
    assert cal.deadline_by_day_of_month(2024, 2, day_of_month=30) == date(2024, 2, 29)


def test_deadline_unknown_roll_raises(cal: BusinessCalendar) -> None:
    with pytest.raises(ValueError, match="roll"):
        cal.deadline_by_day_of_month(2024, 5, roll="sideways")  # type: ignore[arg-type]


# --- quarters ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2025, 1, 1), date(2025, 3, 31)),
        (date(2025, 5, 31), date(2025, 6, 30)),
        (date(2024, 9, 30), date(2024, 9, 30)),
        (date(2024, 10, 1), date(2024, 12, 31)),
    ],
)
def test_quarter_end_any_day_last_calendar_day(
    cal: BusinessCalendar, day: date, expected: date
) -> None:
    assert cal.quarter_end(day) == expected


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2023, 11, 5), date(2024, 1, 19)),  # Q4 → Sat 20 Jan of the next year → Fri 19th
        (date(2024, 5, 1), date(2024, 7, 19)),  # Q2 → Sat 20 July → Fri 19th
        (date(2025, 8, 15), date(2025, 10, 20)),  # Q3 → Mon 20 October, a business day
        (date(2026, 1, 31), date(2026, 4, 20)),  # Q1 → Mon 20 April
    ],
)
def test_quarterly_deadline_month_after_quarter_end_rolled(
    cal: BusinessCalendar, day: date, expected: date
) -> None:
    assert cal.quarterly_deadline(day) == expected


# --- make-up workdays, business-day arithmetic ----------------------------------------------------


@pytest.mark.parametrize("day", [date(2024, 2, 4), date(2024, 10, 12), date(2024, 9, 29)])
def test_is_business_day_makeup_weekend_open(cal: BusinessCalendar, day: date) -> None:
    assert day.weekday() >= 5
    assert cal.is_business_day(day)
    assert cal.explain(day) == DayInfo(day, True, "调休上班", "chinesecalendar")


def test_is_business_day_national_day_weekday_closed(cal: BusinessCalendar) -> None:
    assert not cal.is_business_day(date(2024, 10, 7))
    assert cal.explain(date(2024, 10, 1)).name == "国庆节"


def test_add_business_days_across_golden_week_skips_holiday(cal: BusinessCalendar) -> None:
    assert cal.add_business_days(date(2024, 9, 30), 1) == date(2024, 10, 8)
    assert cal.add_business_days(date(2024, 9, 30), 5) == date(2024, 10, 12)  # a make-up Saturday
    assert cal.add_business_days(date(2024, 10, 8), -1) == date(2024, 9, 30)
    assert cal.add_business_days(date(2024, 10, 3), 0) == date(2024, 10, 3)


def test_business_days_before_holiday_counts_makeup_sunday(cal: BusinessCalendar) -> None:
    # Back from Tue 8 Oct 2024: Mon 30 Sep (1), Sun 29 Sep worked (2), Fri 27 Sep (3).
    assert cal.business_days_before(date(2024, 10, 8), 3) == date(2024, 9, 27)
    assert cal.business_days_before(date(2024, 10, 5), 1) == date(2024, 9, 30)


def test_business_days_before_negative_n_raises(cal: BusinessCalendar) -> None:
    with pytest.raises(ValueError):
        cal.business_days_before(date(2024, 10, 8), -1)


def test_next_and_previous_business_day_strictly_move(cal: BusinessCalendar) -> None:
    assert cal.next_business_day(date(2024, 9, 27)) == date(2024, 9, 29)
    assert cal.previous_business_day(date(2024, 10, 8)) == date(2024, 9, 30)


def test_is_business_day_datetime_rejected(cal: BusinessCalendar) -> None:
    with pytest.raises(TypeError):
        cal.is_business_day(datetime(2024, 10, 1, 9, 0))


def test_is_business_day_cached_years_agree_with_explain(cal: BusinessCalendar) -> None:
    for year in (2003, 2005, 2026, 2027, 2101):
        day = date(year, 1, 1)
        while day.year == year:
            assert cal.is_business_day(day) == cal.explain(day).is_business_day, day
            day = date.fromordinal(day.toordinal() + 1)


# --- which source answers which year ---------------------------------------------------------------


def test_explain_2027_answered_by_fallback_statutory_days(cal: BusinessCalendar) -> None:
    # chinesecalendar 1.11 stops at 2026 and holidays 0.109 holds no 2027 notice: the fallback
    # answers, with the statutory 除夕 closed and no guessed day in lieu (Tue 9 Feb stays open).
    assert cal.explain(date(2027, 2, 5)) == DayInfo(date(2027, 2, 5), False, "农历除夕", "fallback")
    assert cal.explain(date(2027, 2, 9)) == DayInfo(date(2027, 2, 9), True, None, "fallback")
    assert cal.deadline_by_day_of_month(2027, 2) == date(2027, 2, 19)  # Sat 20th → Fri


def test_explain_2030_answered_by_fallback_lunar_and_fixed(cal: BusinessCalendar) -> None:
    assert cal.explain(date(2030, 2, 4)) == DayInfo(date(2030, 2, 4), False, "春节", "fallback")
    assert cal.explain(date(2030, 5, 2)) == DayInfo(date(2030, 5, 2), False, "劳动节", "fallback")
    assert not cal.is_business_day(date(2030, 10, 3))


def test_explain_after_lunar_tables_fixed_dates_only(cal: BusinessCalendar) -> None:
    assert cal.explain(date(2150, 10, 2)) == DayInfo(date(2150, 10, 2), False, "国庆节", "fallback")
    assert cal.explain(date(2150, 1, 1)).is_business_day is False


def test_explain_2001_answered_by_holidays_with_makeup_workday(cal: BusinessCalendar) -> None:
    # 2002 New Year notice: Sat 29 Dec 2001 worked; chinesecalendar starts in 2004.
    assert cal.explain(date(2001, 12, 29)) == DayInfo(
        date(2001, 12, 29), True, "调休上班", "holidays"
    )


# --- bank files ------------------------------------------------------------------------------------


def test_bank_file_overrides_year_holiday_and_workday_added(
    cal: BusinessCalendar, june_2025_file: Path
) -> None:
    bank = cal.with_schedule_file(june_2025_file)
    assert bank.explain(date(2025, 6, 20)) == DayInfo(
        date(2025, 6, 20), False, "行庆", "bank_file:bank_2025.json"
    )
    assert bank.is_business_day(date(2025, 6, 21))
    assert bank.deadline_by_day_of_month(2025, 6) == date(2025, 6, 19)
    # The file restates the whole year: a day it does not list is a plain weekday again.
    assert bank.explain(date(2025, 10, 1)).source == "bank_file:bank_2025.json"
    assert bank.explain(date(2026, 10, 1)).source == "chinesecalendar"
    assert cal.is_business_day(date(2025, 6, 20))  # the original calendar is unchanged


def test_schedule_changes_new_schedule_lists_moved_due_dates(
    cal: BusinessCalendar, june_2025_file: Path
) -> None:
    bank = cal.with_schedule_file(june_2025_file)
    issued = [date(2025, 6, 20), date(2025, 6, 19), date(2025, 7, 18), date(2025, 6, 21)]
    assert schedule_changes(cal, bank, iter(issued)) == [date(2025, 6, 20), date(2025, 6, 21)]
    assert schedule_changes(cal, cal, issued) == []


def test_schedule_changes_rolled_nominal_date_listed(tmp_path: Path, cal: BusinessCalendar) -> None:
    # Sun 20 Apr 2025 rolled to Fri 18th; a file making Fri 18th a holiday moves it to Thu 17th.
    path = _write_schedule(tmp_path / "b.json", {"2025": {"holidays": ["2025-04-18"]}})
    assert schedule_changes(cal, cal.with_schedule_file(path), [date(2025, 4, 20)]) == [
        date(2025, 4, 20)
    ]


def test_load_directory_latest_published_wins(tmp_path: Path) -> None:
    _write_schedule(tmp_path / "a_new.json", {"2027": {"holidays": ["2027-02-09"]}}, "2026-12-01")
    _write_schedule(tmp_path / "b_old.json", {"2027": {"holidays": []}}, "2026-11-01")
    loaded = BusinessCalendar.load(tmp_path)
    assert [f.name for f in loaded.files] == ["a_new.json", "b_old.json"]
    assert loaded.explain(date(2027, 2, 9)) == DayInfo(
        date(2027, 2, 9), False, "节假日", "bank_file:a_new.json"
    )


def test_with_schedule_file_added_file_wins_over_loaded(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    _write_schedule(tmp_path / "dir" / "x.json", {"2027": {}}, "2026-11-20")
    extra = _write_schedule(
        tmp_path / "y.json", {"2027": {"workdays": ["2027-02-20"]}}, "2000-01-01"
    )
    loaded = BusinessCalendar.load(tmp_path / "dir")
    assert not loaded.is_business_day(date(2027, 2, 20))
    added = loaded.with_schedule_file(extra)
    assert added.explain(date(2027, 2, 20)) == DayInfo(
        date(2027, 2, 20), True, "调休上班", "bank_file:y.json"
    )


def test_csv_schedule_same_answers_as_json(tmp_path: Path, june_2025_file: Path) -> None:
    csv_path = tmp_path / "bank_2025.csv"
    csv_path.write_text(
        "year,date,kind,name,source,published_on\n"
        "2025,2025-06-20,holiday,行庆,test notice,2026-11-20\n"
        "2025,2025-06-21,workday,,test notice,2026-11-20\n",
        encoding="utf-8",
    )
    from_csv = BusinessCalendar().with_schedule_file(csv_path)
    from_json = BusinessCalendar().with_schedule_file(june_2025_file)
    for day in (date(2025, 6, 20), date(2025, 6, 21), date(2025, 10, 1)):
        assert from_csv.explain(day).is_business_day == from_json.explain(day).is_business_day
        assert from_csv.explain(day).name == from_json.explain(day).name


def test_example_schedule_same_answers_as_chinesecalendar(cal: BusinessCalendar) -> None:
    example = cal.with_schedule_file(EXAMPLE)
    day = date(2026, 1, 1)
    while day.year == 2026:
        assert example.explain(day).source == "bank_file:example_schedule.json"
        assert example.is_business_day(day) == cal.is_business_day(day), day
        day = date.fromordinal(day.toordinal() + 1)


def test_load_without_configured_directory_loads_no_file() -> None:
    assert BusinessCalendar.load().files == ()


def test_load_settings_directory_and_roll_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_schedule(tmp_path / "s.json", {"2025": {"holidays": ["2025-06-20"]}})
    settings = Settings(calendar_data_dir=str(tmp_path), calendar_deadline_roll="next")
    monkeypatch.setattr(calendar_module, "get_settings", lambda: settings)
    loaded = BusinessCalendar.load()
    assert loaded.deadline_by_day_of_month(2025, 6) == date(2025, 6, 23)


def test_settings_unknown_roll_refused_naming_the_setting() -> None:
    with pytest.raises(ValueError, match="calendar_deadline_roll"):
        Settings(calendar_deadline_roll="sideways")  # type: ignore[arg-type]


def test_load_missing_directory_raises(tmp_path: Path) -> None:
    with pytest.raises(CalendarDataError):
        BusinessCalendar.load(tmp_path / "nowhere")


@pytest.mark.parametrize(
    ("years", "message"),
    [
        ({"2027": {"workdays": ["2027-02-22"]}}, "weekday"),  # a Monday cannot be 调休上班
        ({"2027": {"holidays": ["2027-02-20"], "workdays": ["2027-02-20"]}}, "both"),
        ({"2027": {"holidays": ["2031-01-01"]}}, "not a date in or next to 2027"),
        ({"2027": {"holiday": ["2027-02-09"]}}, "only holidays and workdays"),
    ],
)
def test_read_schedule_file_bad_entry_rejected(
    tmp_path: Path, years: dict[str, Any], message: str
) -> None:
    path = _write_schedule(tmp_path / "bad.json", years)
    with pytest.raises(CalendarDataError) as caught:
        BusinessCalendar().with_schedule_file(path)
    assert message in json.dumps(caught.value.to_dict(), ensure_ascii=False)


def test_read_schedule_file_missing_source_and_date_rejected(tmp_path: Path) -> None:
    path = _write_schedule(tmp_path / "bad.json", {"2027": {}}, published_on="soon", source="")
    with pytest.raises(CalendarDataError) as caught:
        BusinessCalendar().with_schedule_file(path)
    assert {e["loc"] for e in caught.value.errors} == {"source", "published_on"}


def test_read_schedule_file_not_json_rejected(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(CalendarDataError, match="broken.json"):
        BusinessCalendar().with_schedule_file(path)
