"""Scheduled student-loan work (国家助学贷款, DOMAIN §8; 000 国家助学贷款信息管理系统), for one chunk
of borrowers like the other inspections: the graduation confirmation (毕业确认) once the expected
graduation date arrives, and a contact every year the loan was on the book from 1 January, in
school and after (在校生每年联系一次). Selected in SQL (only loans whose task is not opened yet),
idempotent by key. Completing a confirmation plans the loan again (loans/student/graduation.py)
and opens the contact that follows it (毕业确认后学生信息确认联系). Imports no web or Prefect."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from core.calendar import BusinessCalendar
from core.identity import OrgUnit, User
from forms.student import GraduationConfirmationForm
from loans.models import Borrower, Loan
from loans.student.graduation import Confirmation, confirm_graduation
from loans.student.models import SchoolStatus, StudentLoan
from loans.student.rules import StudentLoanRules, all_rules, month_day
from tasks.bulk import TaskRow
from tasks.loan_rows import (
    LoanRow,
    amounts_by_loan,
    loan_row,
    loan_row_columns,
    needs_work,
    task_row,
)
from tasks.models import HumanTask
from tasks.opening import TaskSpec, open_task

GRADUATION = "graduation_confirmation"
CONTACT = "student_contact"
TITLES = {GRADUATION: "毕业确认", CONTACT: "助学贷款联系"}
RULES = tuple(TITLES)  # the key of each starts with its rule, as the scheduler's others do
AFTER_GRADUATION = "after_graduation"


def graduation_key(loan_no: str, expected: date) -> str:
    """One confirmation per expected date: a student still in school gets a new one later."""
    return f"{GRADUATION}:{loan_no}:{expected.isoformat()}"


def contact_key(loan_no: str, period: str) -> str:
    return f"{CONTACT}:{loan_no}:{period}"


def standard_inspections_skip() -> list[str]:
    """Student-loan products whose loans get none of the bank's generic checks."""
    return [p for p, rules in all_rules().items() if not rules.standard_inspections]


def plan_student_work(
    session: Session, *, on: date, calendar: BusinessCalendar, borrowers: tuple[int, int]
) -> list[TaskRow]:
    """The graduation confirmations and yearly contacts `on` calls for, of the student loans of
    the borrowers with ids in `borrowers` whose task has not been opened yet."""
    rules = all_rules()
    year = on.year

    def opened(*parts: Any) -> Any:  # the task of this key exists (the unique index on key)
        key: Any = sa.literal(parts[0], sa.String)
        for part in parts[1:]:
            key = key + (sa.literal(part, sa.String) if isinstance(part, str) else part)
        return sa.exists().where(col(HumanTask.key) == key)

    contact_due = sa.and_(
        col(Loan.disbursement_date) < date(year, 1, 1),
        ~opened(f"{CONTACT}:", col(Loan.loan_no), f":{year}"),
    )
    expected = col(StudentLoan.expected_graduation_date)
    graduation_due = sa.and_(
        col(StudentLoan.status) == SchoolStatus.in_school.value,
        expected <= on,
        ~opened(f"{GRADUATION}:", col(Loan.loan_no), ":", _iso(session, expected)),
    )
    where = (
        *needs_work(on),
        col(Loan.borrower_id).between(*borrowers),
        col(Loan.product).in_(list(rules)),
        sa.or_(contact_due, graduation_due),
    )
    session.flush()  # the core queries below do not autoflush
    query = (
        sa.select(
            *loan_row_columns(),
            col(Loan.booked_on).label("booked_on"),
            col(StudentLoan.expected_graduation_date).label("expected"),
            col(StudentLoan.status).label("status"),
            contact_due.label("contact_due"),
            graduation_due.label("graduation_due"),
        )
        .join(StudentLoan, col(StudentLoan.loan_id) == col(Loan.id))
        .join(Borrower, col(Borrower.id) == col(Loan.borrower_id))
        .join(OrgUnit, col(OrgUnit.id) == col(Loan.branch_id))
        .where(*where)
        .order_by(col(Loan.id))
    )
    found = session.connection().execute(query).all()
    if not found:
        return []
    ids = (
        sa.select(col(Loan.id))
        .join(StudentLoan, col(StudentLoan.loan_id) == col(Loan.id))
        .where(*where)
    )
    amounts = amounts_by_loan(session, ids, on)
    rows: list[TaskRow] = []
    for r in found:
        loan, product = loan_row(r, amounts, on), rules[r.product]
        if r.graduation_due:
            rows.append(_graduation_row(loan, r.expected, max(r.expected, r.booked_on),
                                        product, calendar))  # fmt: skip
        if r.contact_due:
            due = month_day(product.yearly_contact_by, year)
            rows.append(task_row(
                loan, kind=CONTACT, key=contact_key(loan.loan_no, str(year)),
                title=f"{TITLES[CONTACT]} {year}", due=calendar.roll(due, "previous"),
                context={"period": str(year), "cadence": "yearly",
                         "school_status": r.status},
            ))  # fmt: skip
    return rows


def _iso(session: Session, day: Any) -> Any:
    """A date column as the text graduation_key writes (YYYY-MM-DD), in SQL."""
    if session.get_bind().dialect.name == "postgresql":
        return sa.func.to_char(day, "YYYY-MM-DD")
    return sa.cast(day, sa.String)  # SQLite keeps dates as ISO text


def _graduation_row(
    loan: LoanRow, expected: date, known_from: date, rules: StudentLoanRules, cal: BusinessCalendar
) -> TaskRow:
    due = cal.roll(known_from + timedelta(days=rules.graduation_confirmation_days), "previous")
    return task_row(
        loan, kind=GRADUATION, key=graduation_key(loan.loan_no, expected), title=TITLES[GRADUATION],
        due=due, context={"expected_graduation_date": expected.isoformat()},
    )  # fmt: skip


def record_graduation(
    session: Session,
    task: HumanTask,
    form: GraduationConfirmationForm,
    *,
    actor: str,
    on_behalf_of: str | None,
    now: datetime,
    business_date: date,
    calendar: BusinessCalendar,
) -> StudentLoan:
    """What a completed graduation confirmation does, in the completing transaction: the loan
    planned again from the confirmed date, and — once the student has left school — the contact
    that confirms their details, for the loan's account manager."""
    assert task.loan_no is not None
    record = confirm_graduation(
        session,
        task.loan_no,
        Confirmation(
            SchoolStatus(form.status.value), form.graduation_date, form.new_expected_graduation_date
        ),  # fmt: skip
        actor=actor,
        on_behalf_of=on_behalf_of,
        now=now,
        business_date=business_date,
        reason=f"毕业确认（任务 {task.id}）(graduation confirmed, task {task.id})",
        payload={"task_id": task.id, "form": form.model_dump(mode="json")},
        form_kind=form.kind,
    )
    if record.status != SchoolStatus.in_school:
        _open_after_graduation_contact(session, task.loan_no, record, actor, now, business_date,
                                       calendar)  # fmt: skip
    return record


def _open_after_graduation_contact(
    session: Session, loan_no: str, record: StudentLoan, actor: str, now: datetime, on: date,
    calendar: BusinessCalendar,
) -> None:  # fmt: skip
    loan = session.get(Loan, record.loan_id)
    assert loan is not None
    rules = all_rules()[loan.product]
    unit, manager = session.get(OrgUnit, loan.branch_id), session.get(User, loan.account_manager_id)
    assert unit is not None and manager is not None
    due = calendar.roll(on + timedelta(days=rules.after_graduation_contact_days), "previous")
    open_task(
        session,
        TaskSpec(
            kind=CONTACT, key=contact_key(loan_no, AFTER_GRADUATION),
            title=f"毕业后信息确认联系 · {loan_no}", due_date=due, org_unit=unit,
            candidate_user=manager, loan=loan,
            context={"period": AFTER_GRADUATION, "school_status": str(record.status),
                     "repayment_start": record.repayment_start.isoformat()},
        ),
        actor=actor, now=now, business_date=on,
    )  # fmt: skip
