"""The student-loan report on a hand-built book (tests/reports/student_book.py, D = 2026-06-30):
the monthly overdue-collection report per institution (逾期收缴月报) and the yearly institution
assessment (机构考核) with the grade and suspension its rule gives; as of D (later work moves
nothing), over the reader's branches, and its CSV."""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from decimal import Decimal

import pytest

from core.errors import ValidationError
from core.settings import get_settings
from loans.student.rules import DEFAULTS
from reports.student_loans import report_csv, student_loan_report
from tests.reports.student_book import D, build, later_work

TODAY = date(2026, 7, 10)


def _report(session, org_paths=None, on=D):
    return student_loan_report(session, on=on, today=TODAY, org_paths=org_paths)


def _by_code(rows):
    return {(r.institution.code if r.institution else "total"): r for r in rows}


@pytest.fixture
def book(session, org, clock):
    build(session, org, clock)
    return org


def test_monthly_overdue_collection_per_institution(session, book):
    rows = _by_code(_report(session).collection)
    u1 = rows["U1"]
    assert (u1.loans, u1.balance_cents) == (5, 5_120_000)
    assert (u1.overdue_loans, u1.overdue_balance_cents) == (2, 1_160_000 + 1_180_000)  # S1, S4
    assert u1.by_bucket == {"M1": 2}
    assert (u1.opening_overdue, u1.new_overdue, u1.cured, u1.closed) == (2, 1, 1, 0)
    assert u1.collected_cents == 20_000 + 40_000  # S2 on 06-05, S1 on 06-10 (not S4's May)
    assert (u1.collection_contacts, u1.student_contacts) == (1, 2)
    assert u1.subsidy_cents == 2000  # S3's period 05-15 → 06-15, paid by the state
    assert u1.overdue_rate == Decimal("0.4570")
    c1 = rows["C1"]
    assert (c1.loans, c1.overdue_loans, c1.student_contacts) == (2, 0, 0)  # S5's was in March
    total = rows["total"]
    assert (total.loans, total.balance_cents, total.collected_cents) == (7, 6_720_000, 60_000)


def test_yearly_assessment_per_institution_and_its_grade(session, book):
    rows = _by_code(_report(session).assessment)
    u1 = rows["U1"]
    assert (u1.in_repayment, u1.defaulters) == (3, 2)  # S1, S2, S4 billed; S1, S4 in arrears
    assert (u1.due_contact, u1.contacted) == (5, 2)  # S3 reached, S7 confirmed; S1 not reached
    assert (u1.confirmations_due, u1.confirmations_on_time, u1.status_changes) == (1, 0, 1)
    assert (u1.disbursed, u1.repaid_cents, u1.subsidy_cents) == (0, 80_000, 6 * 2000)
    assert u1.default_rate == Decimal("0.6667") and u1.contact_coverage == Decimal("0.4000")
    assert u1.grade.code == "D" and not u1.suspend  # 2 defaulters: not more than 20
    c1 = rows["C1"]
    assert (c1.disbursed, c1.disbursed_cents, c1.due_contact, c1.contacted) == (1, 800_000, 1, 1)
    assert c1.grade.code == "A"  # nothing overdue, every contact made, no confirmation due


def test_the_grade_and_suspension_are_the_products_rule(session, book, tmp_path, monkeypatch):
    rule = DEFAULTS["student"].model_dump(mode="json")
    rule["assessment"]["grades"][2]["max_overdue_rate"] = "0.50"  # C: at most 50 % overdue
    rule["assessment"]["grades"][2]["min_contact_coverage"] = "0.40"
    rule["assessment"]["suspend_above_defaulters"] = 1
    path = tmp_path / "rules.json"
    path.write_text(json.dumps({"products": [rule]}), encoding="utf-8")
    monkeypatch.setenv("POSTLOAN_STUDENT_LOAN_RULES_FILE", str(path))
    get_settings.cache_clear()
    u1 = _by_code(_report(session).assessment)["U1"]
    assert u1.grade.code == "C" and u1.suspend  # 66.7 % > 20 % and 2 defaulters > 1


def test_figures_as_of_d_do_not_move_with_later_work(session, book, clock):
    before = _report(session)
    later_work(session, clock)
    after = _report(session)
    assert after.collection == before.collection and after.assessment == before.assessment
    moved = _by_code(_report(session, on=TODAY).collection)["U1"]
    assert moved.overdue_loans == 1 and moved.collected_cents == 20_000  # S4 only, on 07-02


def test_a_branch_reader_sees_its_own_institutions_only(session, book):
    bj01 = book.units["BJ01"].path
    report = _report(session, org_paths=[bj01])
    assert [r.institution.code for r in report.assessment] == ["U1"]
    assert [r.institution and r.institution.code for r in report.collection] == ["U1", None]
    assert _report(session, org_paths=[]).collection == []


def test_a_report_date_after_today_is_refused(session, book):
    with pytest.raises(ValidationError, match="cannot be after today"):
        _report(session, on=date(2026, 7, 11))


def test_the_csv_has_both_sections_with_bilingual_headers(session, book):
    text = report_csv(_report(session))
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    u1 = next(r for r in rows if r[:2] == ["collection", "U1"])
    assert u1[4:8] == ["5", "51200.00", "2", "23400.00"] and u1[13] == "600.00"
    grade = next(r for r in rows if r[:2] == ["assessment", "U1"])
    assert grade[-2:] == ["D 不合格 Unsatisfactory", "否 no"]
    assert any(r and r[0].startswith("逾期收缴月报") for r in rows)
    assert any(r and r[0].startswith("机构考核") for r in rows)
