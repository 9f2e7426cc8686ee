"""The book summary (reports/book_summary.py) on the hand-built book of portfolio_book.py: a
report read from it equals the report computed live, for the whole bank and a branch, on month
ends and other days; every change a day's figures read removes that day's summary and the later
ones (the triggers of migration 0014), and nothing earlier; a change made while a summary is
being computed keeps it from being kept."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta

import pytest
from sqlalchemy import select, text, update
from sqlmodel import Session

from core.settings import get_settings
from flows.daily_sweep import run_summary
from loans.book import get_loan
from loans.models import Loan, LoanBucketHistory, Payment
from reports import book_summary
from reports.book_summary import DAYS
from reports.portfolio import default_since, portfolio_report
from statemachines.enums import RiskClass
from tests.reports.portfolio_book import TODAY, D, Y, _classify, _pay, build, later_work

MONTH_ENDS = [date(2025, 1, 31), date(2025, 2, 28), date(2025, 3, 31), date(2025, 4, 30),
              date(2025, 5, 31), D]  # fmt: skip


@pytest.fixture
def book(session, org, clock):
    build(session, org, clock)
    return session


def _report(session: Session, on: date, org_paths=None, **settings):
    config = get_settings().model_copy(update=settings) if settings else None
    return portfolio_report(session, on=on, today=TODAY, org_paths=org_paths, settings=config)


def _summarized(session: Session) -> set[date]:
    session.commit()  # a new read: the summaries were written by other sessions
    return set(session.scalars(select(DAYS.c.day).where(DAYS.c.complete.is_(True))))


def _as_live(report):
    assert report.summarized_at is not None, f"{report.on} was computed live"
    return dataclasses.replace(report, summarized_at=None)


def test_a_report_from_the_summary_equals_the_live_report(book, org):
    days = [*MONTH_ENDS, date(2025, 4, 15), date(2025, 6, 20), TODAY]
    scopes = [None, [org.units["SH01"].path], [org.units["BJ01"].path]]
    live = {(d, i): _report(book, d, scope, bad_debt_min_sample=1)
            for d in days for i, scope in enumerate(scopes)}  # fmt: skip
    assert all(r.summarized_at is None for r in live.values())
    for d in [*MONTH_ENDS, date(2025, 4, 15), date(2025, 6, 20), TODAY]:
        run_summary(d)
    assert set(days) <= _summarized(book)
    for (d, i), expected in live.items():
        assert _as_live(_report(book, d, scopes[i], bad_debt_min_sample=1)) == expected, (d, i)
    # the figures are not trivially empty: D has the five loans, the roll rates all months
    on_d = live[(D, 0)]
    assert on_d.total.count == 5 and len(on_d.roll) == 5
    assert sum(c.rolled_count for p in on_d.roll for c in p.cells) == 6


def test_a_migration_start_other_than_the_summarys_is_computed_live(book):
    run_summary(D)
    since = date(2025, 3, 31)
    assert since != default_since(D)
    stored = portfolio_report(book, on=D, today=TODAY, org_paths=None, since=since)
    live = portfolio_report(book, on=D, today=TODAY, org_paths=None, since=since)
    assert stored.migration == live.migration
    assert sum(r.total.count for r in stored.migration) == 6  # A1–A6 were on the book on S


def test_the_sweep_summarises_its_day_and_what_a_later_change_removed(book):
    assert run_summary(D) == {"summaries_built": 6 + 7, "summaries_superseded": 0}
    assert _summarized(book) == {*MONTH_ENDS, *(D - timedelta(days=k) for k in range(8))}
    assert run_summary(D) == {"summaries_built": 0, "summaries_superseded": 0}


def _removed_by(book: Session, change) -> set[date]:
    days = sorted({*MONTH_ENDS, date(2025, 6, 1), date(2025, 6, 10), TODAY})
    for d in days:
        run_summary(d)
    before = _summarized(book)
    assert set(days) <= before
    change()
    book.commit()
    return before - _summarized(book)


def _from(day: date) -> set[date]:
    days = {*MONTH_ENDS, date(2025, 6, 1), date(2025, 6, 10), TODAY}
    days |= {d - timedelta(days=k) for d in days for k in range(8)}
    return {d for d in days if d >= day}


def test_a_backdated_payment_removes_its_value_date_and_later(book, clock):
    removed = _removed_by(book, lambda: _pay(book, clock, "A2", 10_000, date(2025, 6, 5)))
    assert removed == _from(date(2025, 6, 5))
    report = _report(book, D)
    assert report.summarized_at is None  # live now, and it sees the payment
    assert {t.risk_class: t.balance_cents for t in report.tiers}["pass"] == 330_000 * Y


def test_a_payment_valued_after_d_leaves_d(book, clock):
    assert _removed_by(book, lambda: later_work(book, clock)) == _from(date(2025, 7, 5))


def test_a_late_reclassification_removes_its_business_date_and_later(book, clock):
    def late() -> None:
        _classify(book, clock, "A2", RiskClass.special_mention, date(2025, 5, 15))

    assert _removed_by(book, late) == _from(date(2025, 5, 15))


def test_closing_a_bucket_removes_the_days_from_its_end_not_the_days_it_was_open(book):
    a3 = get_loan(book, "A3").id

    def close() -> None:
        book.execute(update(LoanBucketHistory).where(
            LoanBucketHistory.loan_id == a3, LoanBucketHistory.left_on.is_(None)  # type: ignore[union-attr]
        ).values(left_on=date(2025, 6, 10)))  # fmt: skip

    assert _removed_by(book, close) == _from(date(2025, 6, 10))


def test_moving_a_loan_to_another_branch_removes_every_day_since_its_booking(book, org):
    def move() -> None:
        book.execute(update(Loan).where(Loan.loan_no == "A1").values(
            branch_id=org.units["SH01"].id))  # fmt: skip

    assert _removed_by(book, move) == _from(date(2025, 1, 14))


def test_what_the_sweep_rewrites_daily_removes_nothing(book):
    def rewrite() -> None:  # the sweep's own columns: days past due, bucket, state
        book.execute(update(Loan).values(days_past_due=Loan.days_past_due + 1, bucket="M1"))
        book.execute(update(Payment).values(source="feed"))

    assert _removed_by(book, rewrite) == set()


def test_a_change_while_a_summary_is_computed_keeps_it_from_being_kept(book, engine, clock):
    since = default_since(D)
    with Session(engine) as s, s.begin():
        build_id = book_summary.begin_build(s, D, since, now=clock.now())
    with Session(engine) as s:
        roll_start, rows = book_summary.compute(s, D, since)
    _pay(book, clock, "A1", 1_000, date(2025, 6, 2))  # committed between compute and keep
    book.commit()
    with Session(engine) as s, s.begin():
        assert not book_summary.finish_build(s, D, build_id, roll_start, rows, now=clock.now())
    assert D not in _summarized(book)
    assert book.scalar(text("SELECT count(*) FROM book_summary_rows")) == 0
