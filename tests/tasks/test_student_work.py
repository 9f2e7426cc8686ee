"""Scheduled student-loan work (tasks/student_work.py through the inspection scheduler) on a
hand-built book: the graduation confirmation opens when the expected graduation date arrives, a
contact every year in school and after, none of the bank's generic checks; completing the
confirmation (cases/completion.py) sets the repayment start and opens the contact after
graduation; a student not reached raises a warning; a closed loan's open work is cancelled.

S1: disbursed 2022-09-15, expected to graduate 2026-07-01 (a Wednesday), grace 60 months."""

from __future__ import annotations

from datetime import date

import pytest
from sqlmodel import select

from cases.completion import complete_task
from cases.models import WarningCase
from core.calendar import BusinessCalendar
from core.errors import ValidationError
from loans.student.models import SchoolStatus, StudentLoan
from statemachines.enums import LoanState, TaskState
from tasks import service
from tasks.inspections import schedule_inspections
from tasks.models import HumanTask
from tasks.student_work import plan_student_work
from tasks.worklist import TaskFilter, View, worklist
from tests.factories import make_loan, make_student_loan
from tests.forms.form_examples import VALID
from tests.tasks.conftest import as_user

ACTOR = "system:inspection-scheduler"
S1 = dict(disbursed=date(2022, 9, 15), enrolled=date(2022, 9, 1), expected=date(2026, 7, 1),
          maturity=date(2041, 7, 1))  # fmt: skip


@pytest.fixture
def calendar() -> BusinessCalendar:
    return BusinessCalendar()


def _schedule(session, clock, calendar, on):
    clock.set_date(on)
    result = schedule_inspections(session, on=on, calendar=calendar, actor=ACTOR, now=clock.now())
    session.commit()
    return result


def _tasks(session, kind=None):
    query = select(HumanTask).order_by(HumanTask.id)
    if kind:
        query = query.where(HumanTask.kind == kind)
    return session.exec(query).all()


def test_graduation_confirmation_opens_when_the_expected_date_arrives_once(
    session, org, clock, calendar
):
    make_student_loan(session, org, clock, **S1)
    _schedule(session, clock, calendar, date(2026, 6, 30))
    assert _tasks(session, "graduation_confirmation") == []
    result = _schedule(session, clock, calendar, date(2026, 7, 1))
    [task] = _tasks(session, "graduation_confirmation")
    assert task.key == "graduation_confirmation:S1:2026-07-01"
    assert task.due_date == date(2026, 7, 31)  # 30 days, a Friday
    assert result.created["graduation_confirmation"] == [task.id]
    # typed business columns, the loan's account manager: in the inbox like any task
    assert (task.loan_no, task.product, task.borrower_name) == ("S1", "student", "客户P-S1")
    assert task.exposure_cents == 8_000_00 and task.candidate_user_id == org.users["am_bj1"].id
    rows, total = worklist(session, as_user(session, "am_bj1", date(2026, 7, 1)), View.queue,
                           today=date(2026, 7, 1),
                           filters=TaskFilter(kind="graduation_confirmation"))  # fmt: skip
    assert total == 1 and rows[0].id == task.id
    again = _schedule(session, clock, calendar, date(2026, 7, 2))
    assert "graduation_confirmation" not in again.created and len(_tasks(session)) == 2
    # selected in SQL: a loan whose task is open is not even planned again
    every = (0, 2**31 - 1)
    assert plan_student_work(session, on=date(2026, 7, 3), calendar=calendar, borrowers=every) == []


def test_a_contact_every_year_from_the_year_after_disbursement(session, org, clock, calendar):
    make_student_loan(session, org, clock, **S1)
    _schedule(session, clock, calendar, date(2022, 10, 8))
    assert _tasks(session, "student_contact") == []  # disbursed this year: contacted on applying
    _schedule(session, clock, calendar, date(2025, 1, 2))
    _schedule(session, clock, calendar, date(2025, 6, 2))
    _schedule(session, clock, calendar, date(2026, 1, 5))
    contacts = _tasks(session, "student_contact")
    assert [(t.key, t.due_date) for t in contacts] == [
        ("student_contact:S1:2025", date(2025, 12, 19)),  # by 12-20, a Saturday
        ("student_contact:S1:2026", date(2026, 12, 18)),  # a Sunday
    ]
    assert contacts[0].context["school_status"] == "in_school"


def test_after_graduation_the_yearly_contact_goes_on(session, org, clock, calendar):
    make_student_loan(session, org, clock, **S1, graduated=date(2026, 7, 1),
                      booked=date(2026, 8, 3))  # fmt: skip
    _schedule(session, clock, calendar, date(2026, 8, 3))
    assert _tasks(session, "graduation_confirmation") == []  # confirmed when booked
    [contact] = _tasks(session, "student_contact")
    assert contact.key == "student_contact:S1:2026" and contact.context["school_status"] == (
        "graduated")  # fmt: skip


def test_student_loans_get_none_of_the_generic_checks(session, org, clock, calendar):
    make_student_loan(session, org, clock, disbursed=date(2025, 11, 3), enrolled=date(2025, 9, 1),
                      expected=date(2029, 7, 1), maturity=date(2044, 7, 1))  # fmt: skip
    make_loan(session, org, clock, "L1", disbursed=date(2025, 11, 3))
    _schedule(session, clock, calendar, date(2025, 11, 10))
    assert {t.loan_no for t in _tasks(session, "first_usage_check")} == {"L1"}
    assert all(t.loan_no != "S1" for t in _tasks(session))


def test_a_settled_loans_open_student_work_is_cancelled(session, org, clock, calendar):
    loan = make_student_loan(session, org, clock, **S1)
    _schedule(session, clock, calendar, date(2026, 7, 1))
    loan.state = LoanState.settled
    session.add(loan)
    session.commit()
    _schedule(session, clock, calendar, date(2026, 7, 2))
    states = {t.kind: (t.state, t.outcome_note) for t in _tasks(session)}
    assert states["graduation_confirmation"][0] == TaskState.cancelled
    assert states["student_contact"][0] == TaskState.cancelled
    assert "settled" in states["graduation_confirmation"][1]


def _complete(session, clock, task, data, on, username="am_bj1"):
    clock.set_date(on)
    actor = as_user(session, username, on)
    service.claim(session, task.id, actor, now=clock.now(), business_date=on)
    session.commit()
    done = complete_task(session, task.id, actor, data, now=clock.now(), business_date=on)
    session.commit()
    return done


# the signed sheet is optional; a stored attachment would have to be uploaded first
CONFIRMED = VALID["graduation_confirmation"] | {"graduation_date": "2026-07-01",
                                                "confirmation_sheet": None}  # fmt: skip


def test_completing_the_confirmation_sets_the_repayment_start_and_opens_a_contact(
    session, org, clock, calendar
):
    loan = make_student_loan(session, org, clock, **S1)
    _schedule(session, clock, calendar, date(2026, 7, 1))
    [task] = _tasks(session, "graduation_confirmation")
    _complete(session, clock, task, CONFIRMED, date(2026, 7, 10))
    record = session.get(StudentLoan, loan.id)
    assert record.status == SchoolStatus.graduated and record.repayment_start == date(2031, 7, 1)
    [contact] = [t for t in _tasks(session, "student_contact") if "after_graduation" in t.key]
    assert contact.due_date == date(2026, 8, 7)  # 30 days after 07-10 is a Sunday
    assert contact.context["repayment_start"] == "2031-07-01"
    assert contact.candidate_user_id == org.users["am_bj1"].id


def test_still_in_school_opens_the_next_confirmation_on_the_new_date(session, org, clock, calendar):
    make_student_loan(session, org, clock, **S1)
    _schedule(session, clock, calendar, date(2026, 7, 1))
    [task] = _tasks(session, "graduation_confirmation")
    stays = CONFIRMED | {
        "status": "in_school", "graduation_date": None, "employment": None, "employer": None,
        "new_expected_graduation_date": "2026-12-01",
    }  # fmt: skip
    _complete(session, clock, task, stays, date(2026, 7, 10))
    assert [t.key for t in _tasks(session, "student_contact")] == ["student_contact:S1:2026"]
    _schedule(session, clock, calendar, date(2026, 12, 1))
    keys = [t.key for t in _tasks(session, "graduation_confirmation")]
    assert keys == [
        "graduation_confirmation:S1:2026-07-01",
        "graduation_confirmation:S1:2026-12-01",
    ]


def test_a_confirmation_the_loan_refuses_saves_nothing(session, org, clock, calendar):
    loan = make_student_loan(session, org, clock, **S1)
    _schedule(session, clock, calendar, date(2026, 7, 1))
    [task] = _tasks(session, "graduation_confirmation")
    with pytest.raises(ValidationError) as caught:
        _complete(session, clock, task, CONFIRMED | {"graduation_date": "2026-07-20"},
                  date(2026, 7, 10))  # fmt: skip
    session.rollback()
    assert [e["field"] for e in caught.value.errors] == ["graduation_date"]
    assert session.get(HumanTask, task.id).state == TaskState.claimed
    assert session.get(StudentLoan, loan.id).status == SchoolStatus.in_school


def test_a_student_not_reached_raises_a_warning(session, org, clock, calendar):
    make_student_loan(session, org, clock, **S1)
    _schedule(session, clock, calendar, date(2025, 1, 2))
    [task] = _tasks(session, "student_contact")
    reached = VALID["student_contact"] | {"contacted_on": "2025-03-03"}
    _complete(session, clock, task, reached, date(2025, 3, 3))
    assert session.exec(select(WarningCase)).all() == []
    _schedule(session, clock, calendar, date(2026, 1, 5))
    [_, task26] = _tasks(session, "student_contact")
    _complete(session, clock, task26, reached | {"reached": False, "school_status": None},
              date(2026, 3, 3))  # fmt: skip
    [case] = session.exec(select(WarningCase)).all()
    assert case.signals == ["unreachable"] and case.key == f"student_contact:{task26.id}"
