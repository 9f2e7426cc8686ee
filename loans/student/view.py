"""A student loan as the loan page and the API show it: its institution, school facts, the
repayment start and the in-school interest the state paid (财政贴息) as recorded on a date."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import func
from sqlmodel import Session, col, select

from loans.student.models import StudentInstitution, StudentLoan, StudentSubsidy
from loans.student.rules import rules_for


@dataclass(frozen=True)
class StudentView:
    product_name_zh: str
    product_name_en: str
    institution_code: str
    institution_name: str
    institution_kind: str | None
    status: str
    enrolment_date: date
    expected_graduation_date: date
    graduation_date: date | None
    graduation_confirmed_on: date | None
    grace_months: int
    repayment_start: date
    subsidised: bool
    subsidy_cents: int  # the state's interest of the in-school periods ended by `on`
    on: date


def student_view(session: Session, loan_id: int, product: str, on: date) -> StudentView | None:
    """The loan's student facts (None: not a student loan); the subsidy as recorded on `on`."""
    record = session.get(StudentLoan, loan_id)
    if record is None:
        return None
    institution = session.get(StudentInstitution, record.institution_id)
    assert institution is not None
    subsidy = session.exec(
        select(func.coalesce(func.sum(StudentSubsidy.interest_cents), 0)).where(
            StudentSubsidy.loan_id == loan_id,
            StudentSubsidy.period_end <= on,
            StudentSubsidy.recorded_on <= on,
            col(StudentSubsidy.withdrawn_on).is_(None) | (col(StudentSubsidy.withdrawn_on) > on),
        )
    ).one()
    rules = rules_for(product)
    return StudentView(
        product_name_zh=rules.name_zh if rules else product,
        product_name_en=rules.name_en if rules else product,
        institution_code=institution.code,
        institution_name=institution.name,
        institution_kind=institution.kind,
        status=str(record.status),
        enrolment_date=record.enrolment_date,
        expected_graduation_date=record.expected_graduation_date,
        graduation_date=record.graduation_date,
        graduation_confirmed_on=record.graduation_confirmed_on,
        grace_months=record.grace_months,
        repayment_start=record.repayment_start,
        subsidised=record.subsidised,
        subsidy_cents=int(subsidy),
        on=on,
    )
