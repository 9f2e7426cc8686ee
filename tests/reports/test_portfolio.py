"""The portfolio report's figures on the hand-built book of tests/reports/portfolio_book.py, each
expected number counted by hand from the table in that module's docstring; as of D they do not
move after later work, and a later date sees the later work."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from core.errors import ValidationError
from core.settings import get_settings
from reports.portfolio import portfolio_report
from tests.reports.portfolio_book import TODAY, D, S, Y, build, later_work


@pytest.fixture
def book(session, org, clock):
    build(session, org, clock)
    return session


def _report(session, on=D, since=S, org_paths=None, **settings):
    config = get_settings().model_copy(update=settings) if settings else None
    return portfolio_report(session, on=on, today=TODAY, since=since, org_paths=org_paths,
                            settings=config)  # fmt: skip


def _tiers(report):
    return {t.risk_class: (t.count, t.balance_cents // Y) for t in report.tiers}


def test_five_tiers_and_npl_ratio_on_d(book):
    r = _report(book)
    # on the book: A1 80k, A2 200k, A7 60k pass; A3 关注; A4 次级 (A5 written off, A6 settled)
    assert _tiers(r) == {
        "pass": (3, 340_000), "special_mention": (1, 300_000), "substandard": (1, 390_000),
        "doubtful": (0, 0), "loss": (0, 0),
    }  # fmt: skip
    assert (r.total.count, r.total.balance_cents) == (5, 1_030_000 * Y)
    assert (r.npl.count, r.npl.balance_cents) == (1, 390_000 * Y)
    assert r.npl_ratio == Decimal("0.3786")  # 390,000 / 1,030,000
    assert r.npl_count_ratio == Decimal("0.2000")
    shares = {t.risk_class: t.balance_share for t in r.tiers}
    assert shares["pass"] == Decimal("0.3301") and shares["loss"] == Decimal("0.0000")


def test_overdue_matrix_buckets_by_product(book):
    r = _report(book)
    cells = {
        (bucket, product): (c.count, c.balance_cents // Y)
        for bucket, row in r.overdue.items()
        for product, c in row.items()
    }
    assert cells == {("M1", "student"): (1, 60_000), ("M3", "mortgage"): (1, 300_000),
                     ("M6+", "mortgage"): (1, 390_000)}  # fmt: skip
    assert r.buckets == ["M1", "M2", "M3", "M4", "M5", "M6", "M6+"]
    assert r.products == ["car", "mortgage", "student"]
    assert r.overdue_total["M2"].count == 0


def test_migration_matrix_since_s(book):
    r = _report(book)
    rows = {m.from_class: m for m in r.migration}
    moved = {
        (m.from_class, to): (c.count, c.balance_cents // Y)
        for m in r.migration
        for to, c in m.cells.items()
        if c.count
    }
    # at S: A1 A2 A3 A6 pass, A4 A5 次级 (A7 not yet booked), balances at S
    assert moved == {
        ("pass", "pass"): (2, 300_000),
        ("pass", "special_mention"): (1, 300_000),
        ("pass", "settled"): (1, 80_000),
        ("substandard", "substandard"): (1, 400_000),
        ("substandard", "written_off"): (1, 50_000),
    }
    assert rows["pass"].downgrade_rate == Decimal("0.4412")  # 300k of 680k moved down
    assert rows["substandard"].downgrade_rate == Decimal("0.1111")  # 50k of 450k written off
    assert rows["doubtful"].downgrade_rate is None
    assert r.migration_columns[-2:] == ["settled", "written_off"]


def _rolls(report):
    return {
        (p.start.isoformat(), c.bucket): (c.count, c.rolled_count, c.balance_rate)
        for p in report.roll
        for c in p.cells
        if c.count
    }


def test_roll_rates_month_over_month(book):
    r = _report(book)
    # the book began 2025-01-15: periods from January's end
    assert [p.start for p in r.roll][:1] == [date(2025, 1, 31)]
    assert r.roll[-1].end == D
    assert _rolls(r) == {
        ("2025-02-28", "M4"): (1, 1, Decimal("1.0000")),  # A5 M4 → M6 by 03-31: rolled forward
        ("2025-03-31", "M4"): (1, 1, Decimal("1.0000")),  # A4 M4 → M5
        ("2025-03-31", "M6"): (1, 1, Decimal("1.0000")),  # A5 M6 → M6+
        ("2025-04-30", "M1"): (1, 1, Decimal("1.0000")),  # A3 M1 → M3
        ("2025-04-30", "M5"): (1, 1, Decimal("1.0000")),  # A4 M5 → M6
        ("2025-05-31", "M3"): (1, 0, Decimal("0.0000")),  # A3 stays in M3
        ("2025-05-31", "M6"): (1, 1, Decimal("1.0000")),  # A4 M6 → M6+
    }


def test_expected_bad_debt_from_history_and_from_configured_rates(book):
    r = _report(book, bad_debt_min_sample=1)
    rows = {b.bucket: b for b in r.bad_debt}
    # M1: A6 cured, A3 and A7 unresolved → Pi 0 from history; M3: A3, A4 unresolved → configured
    assert (rows["M1"].bad, rows["M1"].cured, rows["M1"].unresolved) == (0, 1, 2)
    assert rows["M1"].from_history and rows["M1"].rate == Decimal("0.0000")
    assert not rows["M3"].from_history and rows["M3"].rate == Decimal("0.25")
    # M6+: A5 written off (bad), A4 still in arrears → Pi 1 from one known outcome
    assert rows["M6+"].rate == Decimal("1.0000") and rows["M6+"].from_history
    assert r.expected_bad_debt_cents == (0 + 75_000 + 390_000) * Y
    # the default sample of 30 is far more than this book has: every Pi is configured
    default = _report(book)
    assert not any(b.from_history for b in default.bad_debt)
    assert default.expected_bad_debt_cents == (1_200 + 75_000 + 351_000) * Y


def test_figures_as_of_d_do_not_move_after_later_work(book, clock):
    before = _report(book)
    later_work(book, clock)
    after = _report(book)
    assert _tiers(after) == _tiers(before)
    assert after.migration == before.migration and after.bad_debt == before.bad_debt
    assert _rolls(after) == _rolls(before)
    # and a report of a later day sees it: A1 关注 in M1 on 07-10, A2 repaid 50,000
    later = _report(book, on=TODAY)
    assert _tiers(later)["special_mention"] == (2, 380_000)
    assert _tiers(later)["pass"] == (2, 210_000)


def test_scope_is_the_readers_branches(book, org):
    shanghai = _report(book, org_paths=[org.units["SH01"].path])
    assert _tiers(shanghai)["pass"] == (1, 60_000)  # A7 only
    assert shanghai.total.count == 1


def test_dates_are_checked(book):
    with pytest.raises(ValidationError, match="不能晚于今天"):
        _report(book, on=date(2025, 7, 11))
    with pytest.raises(ValidationError, match="迁徙起始日"):
        _report(book, since=D)


def test_a_bucket_without_a_rate_takes_the_highest_configured_rate(book):
    # the bounds were once longer: the history holds an M7 the current settings do not make
    from loans.book import get_loan
    from loans.models import LoanBucketHistory

    book.add(LoanBucketHistory(loan_id=get_loan(book, "A2").id, bucket="M7",
                               entered_on=date(2025, 6, 1)))  # fmt: skip
    book.commit()
    r = _report(book)
    assert r.overdue["M7"]["car"].count == 1
    rows = {b.bucket: b for b in r.bad_debt}
    assert rows["M7"].rate == Decimal("0.90") and not rows["M7"].from_history
