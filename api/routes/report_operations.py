"""/api/v1/reports/operations: the operations report (贷后作业报表) as of a date — late inspections
and collection KPIs for the month up to it, on-site coverage for the year up to it — as JSON and
as CSV, over the org subtrees the reader sees (reports/operations.py decides)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel

from api.auth import ActorDep
from api.deps import ClockDep, OneHopRoute, SessionDep
from api.error_schema import error_responses
from api.routes.attachments import content_disposition
from core.clock import Clock
from reports.operations import OperationsReport, operations_report, report_csv
from reports.scope import report_scope
from tasks.access import Actor

router = APIRouter(prefix="/reports", tags=["reports"], route_class=OneHopRoute)

OnDate = Annotated[
    date | None,
    Query(description="报表日期，默认今天，不能晚于今天 (the report date: today by default, "
                      "never after today)"),
]  # fmt: skip


class LateInspectionPublic(BaseModel):
    """逾期检查: inspections due in the period, as they stood on the report date. `manager` is
    null on the branch's total row and "" for work opened for a role rather than a person."""

    branch: str
    branch_name: str
    manager: str | None
    manager_name: str | None
    due: int
    on_time: int
    late: int
    open_late: int
    pending: int
    late_registered: int
    late_rate: Decimal | None
    on_time_rate: Decimal | None


class CoveragePublic(BaseModel):
    """现场检查覆盖率: borrowers visited on site in the year up to the report date."""

    branch: str
    branch_name: str
    borrowers: int
    visited: int
    share: Decimal | None
    goal: Decimal
    meets_goal: bool
    still_to_visit: int


class CollectionKpiPublic(BaseModel):
    """催收指标: contacts recorded in the period and promises falling due in it."""

    branch: str
    branch_name: str
    manager: str | None
    manager_name: str | None
    contacts: int
    calls: int
    connected: int
    promises: int
    promises_due: int
    kept: int
    broken: int
    by_channel: dict[str, int]
    contact_rate: Decimal | None
    promise_rate: Decimal | None
    kept_rate: Decimal | None


class OperationsReportPublic(BaseModel):
    on: date
    period_start: date
    year_start: date
    coverage_goal: Decimal
    late_inspections: list[LateInspectionPublic]
    onsite_coverage: list[CoveragePublic]
    collections: list[CollectionKpiPublic]


def build(session: SessionDep, clock: Clock, actor: Actor, on: date | None) -> OperationsReport:
    scope = report_scope(actor)
    today = clock.today()
    return operations_report(session, on=on or today, today=today, org_paths=scope)


def public(report: OperationsReport) -> OperationsReportPublic:
    return OperationsReportPublic(
        on=report.on,
        period_start=report.period_start,
        year_start=report.year_start,
        coverage_goal=report.goal,
        late_inspections=[
            LateInspectionPublic.model_validate(r, from_attributes=True) for r in report.late
        ],
        onsite_coverage=[
            CoveragePublic.model_validate(c, from_attributes=True) for c in report.coverage
        ],
        collections=[
            CollectionKpiPublic.model_validate(k, from_attributes=True) for k in report.collections
        ],
    )


@router.get(
    "/operations", response_model=OperationsReportPublic, responses=error_responses(401, 403, 422)
)
def read_operations_report(
    session: SessionDep, clock: ClockDep, actor: ActorDep, on: OnDate = None
) -> OperationsReportPublic:
    return public(build(session, clock, actor, on))


@router.get(
    "/operations.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}, **error_responses(401, 403, 422)},
)
def download_operations_report(
    session: SessionDep, clock: ClockDep, actor: ActorDep, on: OnDate = None
) -> Response:
    report = build(session, clock, actor, on)
    name = f"operations-{report.on.isoformat()}.csv"
    return Response(
        report_csv(report),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": content_disposition("attachment", name)},
    )
