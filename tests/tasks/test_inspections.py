"""Scheduled post-loan work (DOMAIN §4) on a small hand-built book: which tasks a business date
opens, with which keys and due dates on the real business calendar; re-runs; the late report
(registration date in bank time) and the annual on-site coverage."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlmodel import func, select

from audit import journal
from audit.journal import JournalEntry
from core.calendar import BusinessCalendar
from loans.book import installments_of
from loans.models import Loan
from reports.inspections import late_inspections, onsite_coverage
from statemachines.enums import LoanState, RiskClass, TaskState
from tasks.inspections import plan_inspections, schedule_inspections
from tasks.models import HumanTask
from tasks.periods import current_period, dekad, half_month, monthly, quarterly
from tests.factories import make_borrower, make_loan

ON = date(2025, 12, 1)  # a Monday; 2025-12-20 is a Saturday, so "by the 20th" is the 19th
ACTOR = "system:inspection-scheduler"


@pytest.fixture
def calendar() -> BusinessCalendar:
    return BusinessCalendar()  # the real calendar (chinesecalendar), no bank files


def _set(session, loan_no: str, **values) -> None:
    loan = session.exec(select(Loan).where(Loan.loan_no == loan_no)).one()
    for name, value in values.items():
        setattr(loan, name, value)
    session.add(loan)
    session.commit()


def _pay_through(session, loan_no: str, last_due: date) -> None:
    loan = session.exec(select(Loan).where(Loan.loan_no == loan_no)).one()
    for inst in installments_of(session, loan.id):
        if inst.due_date <= last_due:
            inst.principal_paid_cents = inst.principal_due_cents
            inst.interest_paid_cents = inst.interest_due_cents
            inst.paid_off_on = inst.due_date
            session.add(inst)
    session.commit()


@pytest.fixture
def book(session, org, clock):
    """Eight loans, one per rule: old, two new, key client, 关注, watched, settled, Shanghai."""
    make_loan(session, org, clock, "L-OLD", disbursed=date(2025, 1, 15))
    _pay_through(session, "L-OLD", date(2025, 11, 15))
    make_loan(session, org, clock, "L-NEW", disbursed=date(2025, 11, 20))
    make_loan(session, org, clock, "L-NEW2", disbursed=date(2025, 11, 25))
    key = make_borrower(session, org, "C-KEY")
    key.is_key_client = True
    session.add(key)
    make_loan(
        session, org, clock, "L-KEY", borrower=key, disbursed=date(2025, 3, 10), manager="am_bj2"
    )
    make_loan(session, org, clock, "L-SM", disbursed=date(2025, 2, 10))
    _set(session, "L-SM", risk_class=RiskClass.special_mention)
    make_loan(session, org, clock, "L-WATCH", disbursed=date(2025, 4, 10))
    _set(session, "L-WATCH", state=LoanState.watched)
    make_loan(session, org, clock, "L-SETTLED", disbursed=date(2024, 6, 1))
    _set(session, "L-SETTLED", state=LoanState.settled)
    make_loan(
        session, org, clock, "L-SH", disbursed=date(2025, 5, 20), branch="SH01", manager="am_sh1"
    )
    return org


# The exact work of 2025-12-01: key → due date (loan-card checks and monthly visits by the 20th,
# a Saturday, so the 19th; quarterly visits by 2026-01-20; first usage a month after disbursement).
EXPECTED_ON_DEC_1 = {
    "loan_card_check:borrower:C-L-OLD:2025-12": date(2025, 12, 19),
    "customer_visit:borrower:C-L-OLD:2025Q4": date(2026, 1, 20),
    "first_usage_check:L-NEW": date(2025, 12, 19),  # 2025-12-20 is a Saturday
    "loan_card_check:borrower:C-L-NEW:2025-12": date(
        2025, 12, 19
    ),  # on the book when the period opened
    "first_usage_check:L-NEW2": date(2025, 12, 25),
    # on the book when December's work opened (its 1st): a monthly check belongs to its month
    "loan_card_check:borrower:C-L-NEW2:2025-12": date(2025, 12, 19),
    "loan_card_check:borrower:C-KEY:2025-12": date(2025, 12, 19),
    "customer_visit:borrower:C-KEY:2025-12": date(2025, 12, 19),  # key client: monthly
    "loan_card_check:borrower:C-L-SM:2025-12": date(2025, 12, 19),
    "customer_visit:borrower:C-L-SM:2025-12": date(2025, 12, 19),  # 关注: monthly
    "loan_card_check:borrower:C-L-WATCH:2025-12": date(2025, 12, 19),
    "customer_visit:borrower:C-L-WATCH:2025-12": date(2025, 12, 19),  # watch list: monthly
    "loan_card_check:borrower:C-L-SH:2025-12": date(2025, 12, 19),
    "customer_visit:borrower:C-L-SH:2025Q4": date(2026, 1, 20),
}
INTENSIVE_ON_DEC_1 = {
    "phone_follow_up:L-WATCH:2025-12-01": date(2025, 12, 10),  # 旬 1st–10th
    "onsite_revisit:L-WATCH:2025-12-1": date(2025, 12, 15),  # first half of the month
}


def _tasks(session) -> dict[str, HumanTask]:
    return {t.key: t for t in session.exec(select(HumanTask)).all()}


def test_plan_book_on_first_of_month_exact_keys_and_due_dates(session, book, calendar):
    rows = plan_inspections(session, on=ON, calendar=calendar)
    assert {r.key: r.due_date for r in rows} == EXPECTED_ON_DEC_1
    assert session.exec(select(func.count()).select_from(HumanTask)).one() == 0  # plan only


def test_schedule_book_opens_every_rule_once_per_kind(session, book, calendar, clock):
    result = schedule_inspections(session, on=ON, calendar=calendar, actor=ACTOR, now=clock.now())
    session.commit()
    tasks = _tasks(session)
    assert {k: t.due_date for k, t in tasks.items()} == EXPECTED_ON_DEC_1
    assert {rule: len(ids) for rule, ids in result.created.items()} == {
        "customer_visit": 5,
        "first_usage_check": 2,
        "loan_card_check": 7,
    }
    assert result.planned == 14
    assert all(t.state == TaskState.open for t in tasks.values())


def test_schedule_intensive_monitoring_watched_loan_phone_and_onsite(
    session, book, calendar, clock
):
    result = schedule_inspections(
        session, on=ON, calendar=calendar, actor=ACTOR, now=clock.now(), intensive_monitoring=True
    )
    session.commit()
    tasks = _tasks(session)
    assert {k: t.due_date for k, t in tasks.items()} == EXPECTED_ON_DEC_1 | INTENSIVE_ON_DEC_1
    onsite = tasks["onsite_revisit:L-WATCH:2025-12-1"]
    assert onsite.kind == "customer_visit" and onsite.context["inspectors_required"] == 2
    assert tasks["phone_follow_up:L-WATCH:2025-12-01"].kind == "phone_follow_up"
    assert len(result.created["onsite_revisit"]) == len(result.created["phone_follow_up"]) == 1


def test_schedule_twice_second_run_creates_nothing(session, book, calendar, clock):
    schedule_inspections(
        session, on=ON, calendar=calendar, actor=ACTOR, now=clock.now(), intensive_monitoring=True
    )
    session.commit()
    entries = session.exec(select(func.count()).select_from(JournalEntry)).one()
    again = schedule_inspections(
        session, on=ON, calendar=calendar, actor=ACTOR, now=clock.now(), intensive_monitoring=True
    )
    session.commit()
    assert again.created == {} and again.planned == 16
    assert session.exec(select(func.count()).select_from(HumanTask)).one() == 16
    assert session.exec(select(func.count()).select_from(JournalEntry)).one() == entries


def test_schedule_tasks_go_to_account_manager_with_business_columns(session, book, calendar, clock):
    schedule_inspections(session, on=ON, calendar=calendar, actor=ACTOR, now=clock.now())
    session.commit()
    tasks = _tasks(session)
    key = tasks["customer_visit:borrower:C-KEY:2025-12"]
    assert key.candidate_user_id == book.users["am_bj2"].id and key.candidate_role is None
    assert key.candidate_org_path == key.branch_path == book.units["BJ01"].path
    assert key.context == {
        "period": "2025-12",
        "cadence": "monthly",
        "reason": "key_client",
        "inspectors_required": 2,
        "loans": ["L-KEY"],
    }
    assert (key.loan_no, key.borrower_name, key.product) == (
        "L-KEY",
        "客户C-KEY",
        "working_capital",
    )
    assert key.exposure_cents == 120_000_00 and key.bucket == "M6+"  # nothing paid since March
    assert key.risk_class == "pass"
    sh = tasks["customer_visit:borrower:C-L-SH:2025Q4"]
    assert sh.candidate_user_id == book.users["am_sh1"].id
    assert sh.branch_path == book.units["SH01"].path and sh.context["cadence"] == "quarterly"
    old = tasks["loan_card_check:borrower:C-L-OLD:2025-12"]
    loan = session.exec(select(Loan).where(Loan.loan_no == "L-OLD")).one()
    unpaid = sum(
        i.principal_due_cents - i.principal_paid_cents for i in installments_of(session, loan.id)
    )
    assert old.exposure_cents == unpaid < 120_000_00 and old.bucket is None  # paid up: current
    assert tasks["customer_visit:borrower:C-L-SM:2025-12"].risk_class == "special_mention"


def test_plan_after_the_deadline_nothing_monthly_until_the_1st(session, book, calendar):
    """2025-12-19 was December's deadline (the 20th is a Saturday). From the 20th to the 31st no
    monthly check is open (December's are done or late); January's open on 01-01."""
    keys = {
        r.key: r.due_date
        for r in plan_inspections(session, on=date(2025, 12, 20), calendar=calendar)
    }
    assert not any(k.endswith(":2026-01") or k.endswith(":2025-12") for k in keys)
    assert keys["customer_visit:borrower:C-L-OLD:2025Q4"] == date(2026, 1, 20)  # the quarter's
    assert keys["first_usage_check:L-NEW2"] == date(2025, 12, 25)
    assert "first_usage_check:L-NEW" not in keys  # past due: opened once, on an earlier run
    keys = {
        r.key: r.due_date for r in plan_inspections(session, on=date(2026, 1, 1), calendar=calendar)
    }
    assert keys["loan_card_check:borrower:C-L-OLD:2026-01"] == date(2026, 1, 20)
    assert keys["customer_visit:borrower:C-KEY:2026-01"] == date(2026, 1, 20)
    assert keys["loan_card_check:borrower:C-L-NEW2:2026-01"] == date(2026, 1, 20)


def test_plan_quarter_after_its_deadline_moves_to_next_quarter(session, book, calendar):
    keys = {
        r.key: r.due_date
        for r in plan_inspections(session, on=date(2026, 1, 21), calendar=calendar)
    }
    assert keys["customer_visit:borrower:C-L-OLD:2026Q1"] == date(2026, 4, 20)
    assert keys["customer_visit:borrower:C-L-SH:2026Q1"] == date(2026, 4, 20)


def _complete(session, key: str, at: datetime) -> None:
    task = session.exec(select(HumanTask).where(HumanTask.key == key)).one()
    task.state, task.completed_at = TaskState.completed, at
    task.completed_by_id = task.candidate_user_id
    session.add(task)
    session.commit()


def test_late_report_completed_after_due_in_bank_time_counts_late(session, book, calendar, clock):
    schedule_inspections(session, on=ON, calendar=calendar, actor=ACTOR, now=clock.now())
    session.commit()
    # 2025-12-19 09:00 UTC is 17:00 in Shanghai: on time.
    _complete(
        session, "loan_card_check:borrower:C-L-OLD:2025-12", datetime(2025, 12, 19, 9, tzinfo=UTC)
    )
    # 2025-12-19 16:30 UTC is already 2025-12-20 00:30 in Shanghai: registered late.
    _complete(
        session,
        "loan_card_check:borrower:C-KEY:2025-12",
        datetime(2025, 12, 19, 16, 30, tzinfo=UTC),
    )
    _complete(
        session, "customer_visit:borrower:C-L-SM:2025-12", datetime(2025, 12, 22, 2, tzinfo=UTC)
    )
    rows = late_inspections(session, on=date(2025, 12, 22), start=ON)
    # (branch, manager): due, on time, late, open late, due today, registered late this month
    assert [(r.branch, r.manager, r.due, r.on_time, r.late, r.open_late, r.pending,
             r.late_registered) for r in rows] == [
        ("BJ01", None, 10, 1, 2, 7, 0, 2),
        # am_bj1 (BJ01): L-OLD on time; L-SM's visit late; open: the L-WATCH visit, L-NEW's
        # first usage check (due 12-19), the loan-card checks of L-NEW, L-NEW2, L-SM, L-WATCH
        ("BJ01", "am_bj1", 8, 1, 1, 6, 0, 1),
        ("BJ01", "am_bj2", 2, 0, 1, 1, 0, 1),  # C-KEY: loan card late, visit open
        ("SH01", None, 1, 0, 0, 1, 0, 0),
        ("SH01", "am_sh1", 1, 0, 0, 1, 0, 0),
    ]  # fmt: skip
    # On the deadline nothing is late yet; what was registered by then counts as on time.
    on_deadline = late_inspections(session, on=date(2025, 12, 19), start=ON)
    assert [(r.manager, r.due, r.on_time, r.late, r.open_late, r.pending) for r in on_deadline] == [
        (None, 10, 1, 0, 0, 9),
        ("am_bj1", 8, 1, 0, 0, 7),
        ("am_bj2", 2, 0, 0, 0, 2),
        (None, 1, 0, 0, 0, 1),
        ("am_sh1", 1, 0, 0, 0, 1),
    ]


def test_coverage_share_by_branch_flags_goal(session, book, calendar, clock):
    schedule_inspections(session, on=ON, calendar=calendar, actor=ACTOR, now=clock.now())
    session.commit()
    _complete(
        session, "customer_visit:borrower:C-KEY:2025-12", datetime(2025, 12, 10, 2, tzinfo=UTC)
    )
    _complete(
        session, "customer_visit:borrower:C-L-SM:2025-12", datetime(2025, 12, 11, 2, tzinfo=UTC)
    )
    _complete(
        session, "customer_visit:borrower:C-L-WATCH:2025-12", datetime(2025, 12, 12, 2, tzinfo=UTC)
    )
    # 2025-12-31 16:30 UTC is 2026-01-01 in Shanghai: it counts for 2026, not 2025.
    _complete(
        session, "customer_visit:borrower:C-L-SH:2025Q4", datetime(2025, 12, 31, 16, 30, tzinfo=UTC)
    )
    # the settled loan was settled at its maturity in 2025, as its journal says
    journal.append(
        session, aggregate_type="loan", aggregate_id="L-SETTLED", machine="loan_lifecycle",
        event="settle", from_state="normal", to_state="settled", actor="system:test",
        now=clock.now(), business_date=date(2025, 6, 1),
    )  # fmt: skip
    session.commit()
    rows = onsite_coverage(session, on=date(2025, 12, 31))
    # BJ01: seven borrowers (the settled loan was on the book in 2025), three seen.
    assert [(r.branch, r.borrowers, r.visited, str(r.share), r.meets_goal) for r in rows] == [
        ("BJ01", 7, 3, "0.4286", False),
        ("SH01", 1, 0, "0.0000", False),
    ]
    assert [(r.branch, r.borrowers, r.visited, r.meets_goal) for r in
            onsite_coverage(session, on=date(2026, 1, 31))] == [
        ("BJ01", 6, 0, False),  # the settled loan was closed before 2026
        ("SH01", 1, 1, True),
    ]  # fmt: skip
    _complete(
        session, "customer_visit:borrower:C-L-OLD:2025Q4", datetime(2025, 12, 15, 2, tzinfo=UTC)
    )
    assert onsite_coverage(session, on=date(2025, 12, 31))[0].meets_goal  # 4 of 7 ≥ 50 %


@pytest.mark.parametrize(
    ("cadence", "on", "label", "deadline", "opens"),
    [
        # Spring Festival 2026 (02-15..02-23 closed): the 旬 11th–20th is due on the 14th, a
        # make-up Saturday; from the 15th the next 旬 is current.
        (dekad, date(2026, 2, 12), "2026-02-11", date(2026, 2, 14), date(2026, 2, 11)),
        # … and its work opens when the 旬 begins (nothing is open from the 15th to the 20th)
        (dekad, date(2026, 2, 15), "2026-02-21", date(2026, 2, 28), date(2026, 2, 21)),
        (half_month, date(2025, 11, 16), "2025-11-2", date(2025, 11, 28), date(2025, 11, 16)),
        # In early April Q1's visit (due by 04-20) is still the current one.
        (quarterly, date(2026, 4, 5), "2026Q1", date(2026, 4, 20), date(2026, 1, 21)),
        (quarterly, date(2026, 4, 21), "2026Q2", date(2026, 7, 20), date(2026, 4, 21)),
        # The issue: January's checks opened on 12-20, so two "monthly" checks fitted in one
        # month. A month's checks open on its 1st.
        (monthly, date(2025, 12, 20), "2026-01", date(2026, 1, 20), date(2026, 1, 1)),
    ],
)
def test_current_period_around_holidays_and_deadlines_next_deadline_wins(
    calendar, cadence, on, label, deadline, opens
):
    period = current_period(cadence, calendar, on)
    assert (period.label, period.deadline, period.opens) == (label, deadline, opens)
