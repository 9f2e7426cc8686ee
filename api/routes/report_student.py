"""/api/v1/reports/student-loans: the student-loan report (助学贷款报表) as of a date — the monthly
overdue-collection report per institution (逾期收缴月报) and the yearly institution assessment
(机构考核) — as JSON and as CSV, over the branches the reader sees (reports/student_loans.py)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import BaseModel

from api.auth import ActorDep
from api.deps import ClockDep, OneHopRoute, SessionDep
from api.error_schema import error_responses
from api.routes.attachments import content_disposition
from api.routes.report_operations import OnDate
from core.clock import Clock
from reports.scope import report_scope
from reports.student_assessment import AssessmentRow
from reports.student_collection import CollectionRow
from reports.student_loans import StudentLoanReport, report_csv, student_loan_report
from tasks.access import Actor

router = APIRouter(prefix="/reports", tags=["reports"], route_class=OneHopRoute)


class InstitutionPublic(BaseModel):
    code: str
    name: str
    kind: str | None


class OverdueCollectionPublic(BaseModel):
    """逾期收缴月报: one institution and product for the month up to the report date;
    `institution` is null on the total row."""

    institution: InstitutionPublic | None
    product: str
    loans: int
    balance_cents: int
    overdue_loans: int
    overdue_balance_cents: int
    overdue_rate: Decimal | None
    opening_overdue: int
    new_overdue: int
    cured: int
    closed: int
    collected_cents: int
    collection_contacts: int
    student_contacts: int
    subsidy_cents: int
    by_bucket: dict[str, int]


class GradePublic(BaseModel):
    code: str
    name_zh: str
    name_en: str


class InstitutionAssessmentPublic(BaseModel):
    """机构考核: one institution and product for the year up to the report date, with the grade
    and the suspension its product's rule gives."""

    institution: InstitutionPublic
    product: str
    loans: int
    balance_cents: int
    overdue_balance_cents: int
    overdue_rate: Decimal | None
    disbursed: int
    disbursed_cents: int
    repaid_cents: int
    in_repayment: int
    defaulters: int
    default_rate: Decimal | None
    due_contact: int
    contacted: int
    contact_coverage: Decimal | None
    confirmations_due: int
    confirmations_on_time: int
    confirmation_on_time: Decimal | None
    status_changes: int
    subsidy_cents: int
    grade: GradePublic | None
    suspend: bool


class StudentLoanReportPublic(BaseModel):
    on: date
    month_start: date
    year_start: date
    overdue_collection: list[OverdueCollectionPublic]
    institution_assessment: list[InstitutionAssessmentPublic]


def build(session: SessionDep, clock: Clock, actor: Actor, on: date | None) -> StudentLoanReport:
    scope = report_scope(actor)
    today = clock.today()
    return student_loan_report(session, on=on or today, today=today, org_paths=scope)


def _row(r: CollectionRow) -> OverdueCollectionPublic:
    return OverdueCollectionPublic.model_validate(r, from_attributes=True)


def _assessed(a: AssessmentRow) -> InstitutionAssessmentPublic:
    return InstitutionAssessmentPublic.model_validate(a, from_attributes=True)


@router.get(
    "/student-loans",
    response_model=StudentLoanReportPublic,
    responses=error_responses(401, 403, 422),
)
def read_student_loan_report(
    session: SessionDep, clock: ClockDep, actor: ActorDep, on: OnDate = None
) -> StudentLoanReportPublic:
    report = build(session, clock, actor, on)
    return StudentLoanReportPublic(
        on=report.on,
        month_start=report.month_start,
        year_start=report.year_start,
        overdue_collection=[_row(r) for r in report.collection],
        institution_assessment=[_assessed(a) for a in report.assessment],
    )


@router.get(
    "/student-loans.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}, **error_responses(401, 403, 422)},
)
def download_student_loan_report(
    session: SessionDep, clock: ClockDep, actor: ActorDep, on: OnDate = None
) -> Response:
    report = build(session, clock, actor, on)
    name = f"student-loans-{report.on.isoformat()}.csv"
    return Response(
        report_csv(report),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": content_disposition("attachment", name)},
    )
