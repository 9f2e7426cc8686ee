"""Who gets scheduled work (issue: inspections were keyed per loan, closed loans kept theirs):
the loan-card check and the visit are per borrower, the first usage check per loan; settled,
written-off and handed-over loans get nothing new and their open checks are cancelled with the
reason; the book is scheduled a chunk of borrowers at a time."""

from __future__ import annotations

from datetime import date

import pytest
from sqlmodel import select

from audit.journal import chain
from core.calendar import BusinessCalendar
from loans.models import Loan
from statemachines.enums import LoanState, TaskState
from tasks.bulk import TaskRow, open_tasks_bulk
from tasks.inspections import borrower_chunks, plan_inspections, schedule_inspections
from tasks.models import HumanTask
from tests.factories import make_borrower, make_loan

ON = date(2025, 12, 1)
ACTOR = "system:inspection-scheduler"


@pytest.fixture
def calendar() -> BusinessCalendar:
    return BusinessCalendar()


def _schedule(session, calendar, clock, on=ON, **kw):
    result = schedule_inspections(session, on=on, calendar=calendar, actor=ACTOR,
                                  now=clock.now(), **kw)  # fmt: skip
    session.commit()
    return result


def _keys(session) -> dict[str, HumanTask]:
    return {t.key: t for t in session.exec(select(HumanTask)).all()}


def _set(session, loan_no: str, **values) -> None:
    loan = session.exec(select(Loan).where(Loan.loan_no == loan_no)).one()
    for name, value in values.items():
        setattr(loan, name, value)
    session.add(loan)
    session.commit()


def test_a_borrower_with_two_loans_gets_one_card_check_and_one_visit(session, org, clock, calendar):
    """The issue's reproduction: two loans of one borrower got two loan-card checks and two
    visits each period."""
    borrower = make_borrower(session, org, "C-TWO")
    make_loan(session, org, clock, "A1", borrower=borrower, disbursed=date(2025, 1, 15))
    make_loan(session, org, clock, "A2", borrower=borrower, disbursed=date(2025, 11, 10),
              principal_cents=300_000_00)  # fmt: skip
    _schedule(session, calendar, clock)
    tasks = _keys(session)
    assert sorted(tasks) == [
        "customer_visit:borrower:C-TWO:2025Q4",
        "first_usage_check:A2",  # per loan
        "loan_card_check:borrower:C-TWO:2025-12",
    ]
    card = tasks["loan_card_check:borrower:C-TWO:2025-12"]
    assert card.context["loans"] == ["A1", "A2"] and "2 笔贷款" in card.title
    assert card.loan_no == "A2"  # the larger loan's manager and columns lead
    assert card.exposure_cents > 300_000_00  # the borrower's exposure: both loans


def test_a_period_already_opened_per_loan_is_not_opened_again_per_borrower(
    session, org, clock, calendar
):
    """After the upgrade, December's per-loan checks are the period's checks."""
    loan = make_loan(session, org, clock, "A1", disbursed=date(2025, 1, 15))
    open_tasks_bulk(
        session,
        [TaskRow(kind="loan_card_check", key="loan_card_check:A1:2025-12", title="贷款卡检索",
                 due_date=date(2025, 12, 19), candidate_org_unit_id=loan.branch_id,
                 candidate_org_path=org.units["BJ01"].path, branch_path=org.units["BJ01"].path,
                 candidate_user_id=loan.account_manager_id, branch_id=loan.branch_id,
                 loan_id=loan.id, loan_no="A1")],
        actor=ACTOR, now=clock.now(), business_date=ON,
    )  # fmt: skip
    session.commit()
    result = _schedule(session, calendar, clock)
    assert "loan_card_check" not in result.created
    assert "loan_card_check:borrower:C-A1:2025-12" not in _keys(session)


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ({"state": LoanState.settled}, "贷款已结清"),
        ({"state": LoanState.written_off}, "贷款已核销"),
        ({"handed_over": True}, "移交资产处置"),
    ],
)
def test_closed_loan_gets_no_new_checks_and_its_open_ones_are_cancelled(
    session, org, clock, calendar, values, reason
):
    make_loan(session, org, clock, "A1", disbursed=date(2025, 11, 10))
    _schedule(session, calendar, clock)
    assert set(_keys(session)) == {"first_usage_check:A1", "loan_card_check:borrower:C-A1:2025-12"}
    _set(session, "A1", **values)
    result = _schedule(session, calendar, clock, on=date(2025, 12, 2))
    assert (result.cancelled, result.created, result.planned) == (2, {}, 0)
    for task in _keys(session).values():
        assert task.state == TaskState.cancelled and reason in (task.outcome_note or "")
        assert chain(session, "task", str(task.id))[-1].event == "cancel"
    assert _schedule(session, calendar, clock, on=date(2025, 12, 3)).cancelled == 0


def test_a_borrowers_check_stays_while_another_of_its_loans_needs_work(
    session, org, clock, calendar
):
    borrower = make_borrower(session, org, "C-TWO")
    make_loan(session, org, clock, "A1", borrower=borrower, disbursed=date(2025, 1, 15),
              principal_cents=300_000_00)  # fmt: skip
    make_loan(session, org, clock, "A2", borrower=borrower, disbursed=date(2025, 2, 15))
    _schedule(session, calendar, clock)
    _set(session, "A1", state=LoanState.settled)  # the loan the borrower's tasks point at
    assert _schedule(session, calendar, clock, on=date(2025, 12, 2)).cancelled == 0
    assert all(t.state == TaskState.open for t in _keys(session).values())


def test_scheduling_chunk_by_chunk_opens_the_same_as_all_at_once(session, org, clock, calendar):
    for k in range(7):
        make_loan(session, org, clock, f"A{k}", disbursed=date(2025, 1, 15))
    everything = {r.key for r in plan_inspections(session, on=ON, calendar=calendar)}
    chunks = borrower_chunks(session, ON, size=3)
    assert len(chunks) == 3
    by_chunk = {
        r.key
        for bounds in chunks
        for r in plan_inspections(session, on=ON, calendar=calendar, borrowers=bounds)
    }
    assert by_chunk == everything and len(everything) == 14
