"""毕业确认 (loans/student/graduation.py) on a hand-built student loan S1 (¥8,000 at 3 %, disbursed
2024-09-15, expected to graduate 2028-07-01, grace 60 months, matures 2043-07-01): confirming
sets the repayment start at the grace period's end after the confirmed date, plans the future
again, withdraws the subsidy the state no longer pays, never touches installments already due,
and journals it; what cannot be confirmed is refused naming the field."""

from __future__ import annotations

from datetime import date

import pytest
from sqlmodel import col, select

from audit.journal import JournalEntry
from core.errors import ConflictError, NotFoundError, RuleViolationError, ValidationError
from loans.book import get_loan, installments_of
from loans.payments import record_payment
from loans.student.graduation import Confirmation, confirm_graduation
from loans.student.models import SchoolStatus, StudentLoan, StudentSubsidy
from loans.transitions import transition_loan
from tests.factories import make_loan, make_student_loan

MONTH = 2000  # a whole month's interest on ¥8,000 at 3 %, in cents
GRADUATED = Confirmation(SchoolStatus.graduated, graduation_date=date(2028, 7, 1))


def _confirm(session, clock, on, confirmation=GRADUATED, loan_no="S1", **kw):
    clock.set_date(on)
    record = confirm_graduation(session, loan_no, confirmation, actor="u:am_bj1",
                                now=clock.now(), business_date=on, **kw)  # fmt: skip
    session.commit()
    return record


def _active_subsidy(session, loan_id):
    return session.exec(
        select(StudentSubsidy)
        .where(StudentSubsidy.loan_id == loan_id, col(StudentSubsidy.withdrawn_on).is_(None))
        .order_by(col(StudentSubsidy.period_start))
    ).all()


def test_graduated_as_expected_keeps_the_plan_and_journals_it(session, org, clock):
    loan = make_student_loan(session, org, clock)
    before = [(i.due_date, i.principal_due_cents, i.interest_due_cents)
              for i in installments_of(session, loan.id)]  # fmt: skip
    record = _confirm(session, clock, date(2028, 7, 10))
    assert record.status == SchoolStatus.graduated and record.graduation_date == date(2028, 7, 1)
    assert record.graduation_confirmed_on == date(2028, 7, 10)
    assert record.repayment_start == date(2033, 7, 1)
    after = [(i.due_date, i.principal_due_cents, i.interest_due_cents)
             for i in installments_of(session, loan.id)]  # fmt: skip
    assert after == before
    entry = session.exec(
        select(JournalEntry).where(JournalEntry.event == "confirm_graduation")
    ).one()
    assert (entry.aggregate_id, entry.from_state, entry.to_state) == (
        "S1",
        "in_school",
        "graduated",
    )
    assert entry.payload["after"]["repayment_start"] == "2033-07-01"


def test_still_in_school_extends_the_subsidy_and_moves_the_repayment_start(session, org, clock):
    loan = make_student_loan(session, org, clock)
    record = _confirm(session, clock, date(2028, 7, 10), Confirmation(
        SchoolStatus.in_school, new_expected_graduation_date=date(2030, 7, 1)))  # fmt: skip
    assert record.status == SchoolStatus.in_school and record.graduation_date is None
    assert record.expected_graduation_date == date(2030, 7, 1)
    assert record.repayment_start == date(2035, 7, 1)  # 60 months after the new date
    rows = _active_subsidy(session, loan.id)
    assert rows[-1].period_end == date(2030, 7, 1)
    assert [r.period_start for r in rows if r.recorded_on == date(2028, 7, 10)][0] == date(
        2028, 7, 1
    )
    insts = installments_of(session, loan.id)
    assert insts[0].due_date == date(2030, 8, 1)  # nothing billed while still in school
    first_principal = min(i.due_date for i in insts if i.principal_due_cents)
    assert first_principal == date(2035, 8, 1)
    assert sum(i.principal_due_cents for i in insts) == loan.principal_cents


def test_left_school_early_ends_the_subsidy_on_the_leaving_date(session, org, clock):
    loan = make_student_loan(session, org, clock)
    left = Confirmation(SchoolStatus.left_school, graduation_date=date(2025, 12, 31))
    record = _confirm(session, clock, date(2026, 3, 20), left)
    assert record.repayment_start == date(2030, 12, 31)
    rows = _active_subsidy(session, loan.id)
    assert rows[-1].period_end == date(2025, 12, 31)
    assert sum(r.interest_cents for r in rows) == 15 * MONTH + 1067  # 09-15 … 12-15, then 16 days
    withdrawn = session.exec(
        select(StudentSubsidy).where(col(StudentSubsidy.withdrawn_on).is_not(None))
    ).all()
    assert withdrawn and {r.withdrawn_on for r in withdrawn} == {date(2026, 3, 20)}
    first = installments_of(session, loan.id)[0]
    # interest since leaving school: the two monthly periods due before the confirmation fall
    # due with the first after it
    assert (first.due_date, first.principal_due_cents, first.interest_due_cents) == (
        date(2026, 3, 31), 0, 3 * MONTH)  # fmt: skip


def test_late_confirmation_keeps_billed_installments_and_carries_the_withdrawn_subsidy(
    session, org, clock
):
    loan = make_student_loan(session, org, clock)
    left = Confirmation(SchoolStatus.left_school, graduation_date=date(2028, 1, 15))
    record = _confirm(session, clock, date(2028, 9, 10), left)
    insts = installments_of(session, loan.id)
    # 08-01 and 09-01 were already due: they stay as billed (days past due never reset)
    assert [(i.seq_no, i.due_date, i.interest_due_cents) for i in insts[:2]] == [
        (1, date(2028, 8, 1), MONTH), (2, date(2028, 9, 1), MONTH)]  # fmt: skip
    # the state paid nothing after 01-15: six periods withdrawn (31+29+31+30+31+16 days), which
    # no installment billed, so their interest falls due with the first new one
    carried = 2067 + 1933 + 2067 + 2000 + 2067 + 1067
    assert (insts[2].seq_no, insts[2].due_date, insts[2].interest_due_cents) == (
        3, date(2028, 10, 1), MONTH + carried)  # fmt: skip
    assert record.repayment_start == date(2033, 1, 15)
    assert _active_subsidy(session, loan.id)[-1].period_end == date(2028, 1, 15)
    assert sum(i.principal_due_cents for i in insts) == loan.principal_cents


def test_as_of_a_past_date_the_withdrawn_subsidy_still_counts(session, org, clock):
    loan = make_student_loan(session, org, clock)
    _confirm(session, clock, date(2026, 3, 20),
             Confirmation(SchoolStatus.left_school, graduation_date=date(2025, 12, 31)))  # fmt: skip

    def recorded_by(day):
        rows = session.exec(select(StudentSubsidy).where(StudentSubsidy.loan_id == loan.id)).all()
        return sum(r.interest_cents for r in rows if r.recorded_on <= day
                   and (r.withdrawn_on is None or r.withdrawn_on > day))  # fmt: skip

    assert recorded_by(date(2026, 3, 19)) == 45 * MONTH + 1067  # the plan as booked
    assert recorded_by(date(2026, 3, 20)) == 15 * MONTH + 1067


@pytest.mark.parametrize(
    ("confirmation", "field"),
    [
        (Confirmation(SchoolStatus.graduated), "graduation_date"),
        (
            Confirmation(SchoolStatus.graduated, graduation_date=date(2028, 7, 11)),
            "graduation_date",
        ),
        (
            Confirmation(SchoolStatus.left_school, graduation_date=date(2024, 9, 15)),
            "graduation_date",
        ),
        (Confirmation(SchoolStatus.in_school), "new_expected_graduation_date"),
        (
            Confirmation(SchoolStatus.in_school, new_expected_graduation_date=date(2028, 7, 10)),
            "new_expected_graduation_date",
        ),
        (
            Confirmation(SchoolStatus.in_school, new_expected_graduation_date=date(2038, 7, 1)),
            "new_expected_graduation_date",
        ),  # + 60 months is past maturity
    ],
)
def test_a_confirmation_that_cannot_be_is_refused_naming_the_field(
    session, org, clock, confirmation, field
):
    loan = make_student_loan(session, org, clock)
    before = len(installments_of(session, loan.id))
    with pytest.raises(ValidationError) as caught:
        _confirm(session, clock, date(2028, 7, 10), confirmation)
    session.rollback()
    assert [e["field"] for e in caught.value.errors] == [field]
    assert session.get(StudentLoan, loan.id).status == SchoolStatus.in_school
    assert len(installments_of(session, loan.id)) == before


def test_confirmed_once_only_and_only_a_student_loan(session, org, clock):
    make_student_loan(session, org, clock)
    _confirm(session, clock, date(2028, 7, 10))
    with pytest.raises(RuleViolationError, match="already confirmed"):
        _confirm(session, clock, date(2028, 7, 11))
    session.rollback()
    make_loan(session, org, clock, "L1")
    with pytest.raises(NotFoundError, match="not a student loan"):
        _confirm(session, clock, date(2028, 7, 11), loan_no="L1")


def test_a_stale_version_or_a_closed_loan_is_refused(session, org, clock):
    loan = make_student_loan(session, org, clock)
    with pytest.raises(ConflictError):
        _confirm(session, clock, date(2028, 7, 10), expected_version=loan.version + 1)
    session.rollback()
    clock.set_date(date(2026, 3, 2))
    owed = sum(i.outstanding_cents for i in installments_of(session, loan.id))
    record_payment(session, get_loan(session, "S1"), payment_ref="S1-all",
                   value_date=date(2026, 3, 2), amount_cents=owed, actor="system:feed",
                   now=clock.now(), business_date=date(2026, 3, 2))  # fmt: skip
    transition_loan(session, "S1", "settle", actor="system:test", now=clock.now(),
                    business_date=date(2026, 3, 2), reason="提前结清")  # fmt: skip
    session.commit()
    assert get_loan(session, "S1").state == "settled"
    with pytest.raises(RuleViolationError, match="settled"):
        _confirm(session, clock, date(2028, 7, 10))
