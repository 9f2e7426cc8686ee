"""The operations report's figures on the hand-built book of tests/reports/operations_book.py,
each expected number counted by hand from that book; as of D they do not move after later work."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from core.errors import ValidationError
from reports.collections import collection_kpis
from reports.inspections import late_inspections, onsite_coverage
from reports.operations import operations_report, report_csv
from tests.reports.operations_book import D, build, later_work

MARCH = date(2026, 3, 1)


@pytest.fixture
def book(session, org, clock):
    clock.set_date(date(2026, 3, 31))
    return build(session, org, clock)


def _late(session, on=D, org_paths=None):
    return {
        (r.branch, r.manager): (r.due, r.on_time, r.late, r.open_late, r.pending, r.late_registered)
        for r in late_inspections(session, on=on, start=on.replace(day=1), org_paths=org_paths)
    }


LATE_ON_D = {
    # am_bj1: A on time, B late, C open late, D due on D (I is due after D)
    ("BJ01", "am_bj1"): (4, 1, 1, 1, 1, 1),
    # am_bj2: F and J open late (J escalated to the head, still am_bj2's); E cancelled before it
    # fell due; G (due in February) registered late in March
    ("BJ01", "am_bj2"): (2, 0, 0, 2, 0, 1),
    ("BJ01", None): (6, 1, 1, 3, 1, 2),
    # H registered 00:30 Shanghai time the day after its due date
    ("SH01", "am_sh1"): (1, 0, 1, 0, 0, 1),
    ("SH01", None): (1, 0, 1, 0, 0, 1),
}


def test_late_inspections_on_d_counted_by_registration_date(session, book):
    assert _late(session) == LATE_ON_D
    rows = late_inspections(session, on=D, start=MARCH)
    bj = next(r for r in rows if r.branch == "BJ01" and r.manager is None)
    assert bj.late_rate == Decimal("0.6667")  # (1 + 3) / 6
    assert bj.on_time_rate == Decimal("0.1667")  # 1 / 6
    assert [r.manager for r in rows] == [None, "am_bj1", "am_bj2", None, "am_sh1"]


def test_late_inspections_escalated_task_stays_with_its_manager(session, book):
    assert book["J"].candidate_user_id is None  # the ladder moved it to the head
    assert _late(session)[("BJ01", "am_bj2")][3] == 2


def test_late_inspections_as_of_d_unchanged_by_later_work(session, org, book):
    later_work(session, org, book)
    assert _late(session) == LATE_ON_D
    # ...while the end of the month sees the later work: C (due 03-16, 03-25) and D (due 03-20,
    # 03-23) registered late, I (due 03-25) open late; F cancelled, K (opened 03-21) open late
    end = _late(session, on=date(2026, 3, 31))
    assert end[("BJ01", "am_bj1")] == (5, 1, 3, 1, 0, 3)  # A B C D I; late: B C D
    # V6 (L6's visit, due 03-27) registered on 03-25: on time; J and K open late
    assert end[("BJ01", "am_bj2")] == (3, 1, 0, 2, 0, 1)


def test_late_inspections_before_anything_fell_due_is_empty(session, book):
    assert _late(session, on=date(2026, 3, 4)) == {
        ("BJ01", "am_bj2"): (0, 0, 0, 0, 0, 1),  # G registered late on 03-02
        ("BJ01", None): (0, 0, 0, 0, 0, 1),
    }


def test_onsite_coverage_counts_borrowers_visited_in_the_year(session, book):
    rows = {c.branch: c for c in onsite_coverage(session, on=D)}
    # BJ01: L1, L2, L6 on the book (L4 disbursed after D, L5 settled last year); only L1 visited
    # this year (L2's visit was in December, L6's is on 03-25)
    bj, sh = rows["BJ01"], rows["SH01"]
    assert (bj.borrowers, bj.visited, bj.share, bj.meets_goal) == (3, 1, Decimal("0.3333"), False)
    assert bj.still_to_visit == 1  # ceil(50 % of 3) − 1
    assert (sh.borrowers, sh.visited, sh.share, sh.meets_goal) == (1, 1, Decimal("1.0000"), True)


def test_onsite_coverage_as_of_d_unchanged_by_later_visit(session, org, book):
    later_work(session, org, book)
    assert onsite_coverage(session, on=D)[0].visited == 1
    # by the end of the month L6 is visited too (V6, 03-25; C is L1's second visit): 2 of 3
    end = {c.branch: c for c in onsite_coverage(session, on=date(2026, 3, 31))}
    assert (end["BJ01"].visited, end["BJ01"].meets_goal) == (2, True)


def test_onsite_coverage_goal_is_a_setting(session, book, monkeypatch):
    from core.settings import get_settings

    monkeypatch.setenv("POSTLOAN_ANNUAL_ONSITE_COVERAGE_MIN", "0.30")
    get_settings.cache_clear()
    try:
        bj = next(c for c in onsite_coverage(session, on=D) if c.branch == "BJ01")
        assert bj.goal == Decimal("0.30") and bj.meets_goal  # 1/3 ≥ 30 %
    finally:
        get_settings.cache_clear()


def _kpis(session, on=D, org_paths=None):
    return {
        (k.branch, k.manager): (
            k.contacts,
            k.calls,
            k.connected,
            k.promises,
            k.promises_due,
            k.kept,
            k.broken,
        )
        for k in collection_kpis(session, on=on, start=on.replace(day=1), org_paths=org_paths)
    }


KPIS_ON_D = {
    # c1..c5 in March (c0 in February); phone c1 c2 c4 c5; reached c1 c3 c4 c5; promises c1 c4
    # c5; due in March: P0 (03-02, kept), P1 (kept), P2 (broken), P3 (03-19, not settled on D)
    ("BJ01", "am_bj1"): (5, 4, 4, 3, 4, 2, 1),
    ("BJ01", None): (5, 4, 4, 3, 4, 2, 1),
    ("SH01", "am_sh1"): (1, 1, 1, 0, 0, 0, 0),
    ("SH01", None): (1, 1, 1, 0, 0, 0, 0),
}


def test_collection_kpis_rates_per_manager(session, book):
    assert _kpis(session) == KPIS_ON_D
    bj = next(k for k in collection_kpis(session, on=D, start=MARCH) if k.manager == "am_bj1")
    assert (bj.contact_rate, bj.promise_rate, bj.kept_rate) == (
        Decimal("0.8000"),  # 4 / 5
        Decimal("0.7500"),  # 3 / 4
        Decimal("0.6667"),  # 2 / (2 + 1)
    )
    assert bj.by_channel == {"phone": 4, "visit": 1}
    sh = next(k for k in collection_kpis(session, on=D, start=MARCH) if k.manager == "am_sh1")
    assert (sh.promise_rate, sh.kept_rate) == (Decimal("0.0000"), None)


def test_collection_kpis_as_of_d_unchanged_by_later_work(session, org, book):
    later_work(session, org, book)
    assert _kpis(session) == KPIS_ON_D
    end = _kpis(session, on=date(2026, 3, 31))
    assert end[("BJ01", "am_bj1")] == (6, 5, 4, 3, 4, 3, 1)  # c6 unreached; P3 kept on 03-21


def test_report_scoped_to_a_branch(session, book):
    bj = [book["A"].branch_path]
    assert {b for b, _ in _late(session, org_paths=bj)} == {"BJ01"}
    assert {b for b, _ in _kpis(session, org_paths=bj)} == {"BJ01"}
    assert [c.branch for c in onsite_coverage(session, on=D, org_paths=bj)] == ["BJ01"]
    assert _late(session, org_paths=[]) == {}


def test_report_after_today_refused_with_the_field(session, book):
    with pytest.raises(ValidationError) as e:
        operations_report(session, on=date(2026, 4, 1), today=date(2026, 3, 31), org_paths=None)
    assert str(e.value).startswith("报表日期 2026-04-01 不能晚于今天 2026-03-31")
    assert e.value.errors[0]["field"] == "on"


def test_report_csv_has_every_section(session, book):
    report = operations_report(session, on=D, today=date(2026, 3, 31), org_paths=None)
    text = report_csv(report)
    assert text.startswith("\ufeff")
    lines = text.splitlines()
    assert "late,BJ01,合计 total,6,1,1,3,1,2,66.67,16.67" in lines
    assert "coverage,BJ01,3,1,33.33,50.00,否 no,1" in lines
    assert "collections,BJ01,am_bj1,5,4,4,3,4,2,1,80.00,75.00,66.67" in lines
