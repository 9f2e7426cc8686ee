"""What the student-loan reports share (国家助学贷款, DOMAIN §8): the student loans of the reader's
branches with their handling institution (经办机构) and product, the student part of the book on
a date (reports/book_on.py's one as-of rule), and a figure keyed by institution and product.
Imports no web or Prefect library."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Table, and_, select
from sqlmodel import Session

from core.settings import Settings
from loans.student.models import StudentInstitution, StudentLoan, StudentSubsidy
from reports.book_on import LOANS, ORG, book_on
from reports.inspections import day_start_utc, in_scope
from statemachines.enums import TaskState
from tasks.models import HumanTask

STUDENTS: Table = StudentLoan.__table__  # type: ignore[attr-defined]
INSTITUTIONS: Table = StudentInstitution.__table__  # type: ignore[attr-defined]
SUBSIDY: Table = StudentSubsidy.__table__  # type: ignore[attr-defined]
TASKS: Table = HumanTask.__table__  # type: ignore[attr-defined]

Key = tuple[int, str]  # (institution id, product)


@dataclass(frozen=True)
class Institution:
    code: str
    name: str
    kind: str | None


def student_loans(org_paths: Sequence[str] | None, name: str = "students") -> Any:
    """(loan_id, institution_id, product, disbursement_date, booked_on, principal_cents) of the
    student loans of branches in the reader's subtrees (None: the whole bank), as a subquery."""
    query = (
        select(
            LOANS.c.id.label("loan_id"),
            STUDENTS.c.institution_id,
            LOANS.c.product,
            LOANS.c.disbursement_date,
            LOANS.c.booked_on,
            LOANS.c.principal_cents,
        )
        .select_from(LOANS.join(STUDENTS, STUDENTS.c.loan_id == LOANS.c.id))
        .join(ORG, ORG.c.id == LOANS.c.branch_id)
        .where(in_scope(ORG.c.path, org_paths))
    )
    return query.subquery(name)


def student_book(on: date, org_paths: Sequence[str] | None, name: str) -> Any:
    """The student loans on the book at the end of `on`: (loan_id, institution_id, product,
    disbursement_date, balance_cents, bucket)."""
    book = book_on(on, org_paths)
    return (
        select(
            book.c.loan_id,
            STUDENTS.c.institution_id,
            book.c.product,
            LOANS.c.disbursement_date,
            book.c.balance_cents,
            book.c.bucket,
        )
        .select_from(book.join(STUDENTS, STUDENTS.c.loan_id == book.c.loan_id))
        .join(LOANS, LOANS.c.id == book.c.loan_id)
        .subquery(name)
    )


def subsidy_between(students: Any, start: date, on: date) -> Any:
    """(institution_id, product, interest) of the state's in-school interest (财政贴息) for the
    periods ending in [start, on], as recorded on `on` (a later withdrawal does not count)."""
    return (
        select(students.c.institution_id, students.c.product, SUBSIDY.c.interest_cents)
        .select_from(SUBSIDY.join(students, students.c.loan_id == SUBSIDY.c.loan_id))
        .where(
            SUBSIDY.c.period_end.between(start, on),
            SUBSIDY.c.recorded_on <= on,
            (SUBSIDY.c.withdrawn_on.is_(None)) | (SUBSIDY.c.withdrawn_on > on),
        )
    )


def completed_between(start: date, on: date, settings: Settings) -> Any:
    """A task completed (registered, bank time) in [start, on]: by its indexed completion time."""
    return and_(
        TASKS.c.state == TaskState.completed.value,
        TASKS.c.completed_at >= day_start_utc(start, settings),
        TASKS.c.completed_at < day_start_utc(on + timedelta(days=1), settings),
    )


def institutions(session: Session, ids: set[int]) -> dict[int, Institution]:
    if not ids:
        return {}
    rows = session.connection().execute(
        select(
            INSTITUTIONS.c.id, INSTITUTIONS.c.code, INSTITUTIONS.c.name, INSTITUTIONS.c.kind
        ).where(INSTITUTIONS.c.id.in_(sorted(ids)))
    )
    return {i: Institution(code, name, kind) for i, code, name, kind in rows}
