"""/api/v1/reports/portfolio: the portfolio report (资产质量报表) as of a date — five tiers and
the NPL ratio, overdue matrix, roll rates, expected bad debt, classification migration — as
JSON, CSV and Excel, over the org subtrees the reader sees (reports/scope.py decides)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from api.auth import ActorDep
from api.deps import ClockDep, OneHopRoute, SessionDep
from api.error_schema import error_responses
from api.routes.attachments import content_disposition
from api.routes.report_operations import OnDate
from reports.portfolio import PortfolioReport, portfolio_report
from reports.portfolio_export import report_csv, report_xlsx
from reports.scope import report_scope

router = APIRouter(prefix="/reports", tags=["reports"], route_class=OneHopRoute)

SinceDate = Annotated[
    date | None,
    Query(description="分类迁徙矩阵的起始日，默认上年末，须早于报表日期 (the migration matrix's "
                      "start: the end of the previous year by default, before the report date)"),
]  # fmt: skip
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class CellPublic(_Out):
    count: int
    balance_cents: int


class TierPublic(_Out):
    """五级分类: loans on the book on the date in one class; shares of the book's total."""

    risk_class: str
    count: int
    balance_cents: int
    count_share: Decimal | None
    balance_share: Decimal | None


class RollCellPublic(_Out):
    """Of the loans in `bucket` at the start, those in `next_bucket` or worse at the end."""

    bucket: str
    next_bucket: str
    count: int
    balance_cents: int
    rolled_count: int
    rolled_balance_cents: int
    count_rate: Decimal | None
    balance_rate: Decimal | None


class RollPeriodPublic(_Out):
    start: date
    end: date
    cells: list[RollCellPublic]


class BadDebtPublic(_Out):
    """Mi · Pi for one bucket; `from_history` false: Pi is the configured rate."""

    bucket: str
    balance_cents: int
    bad: int
    cured: int
    unresolved: int
    rate: Decimal
    from_history: bool
    expected_cents: int


class MigrationPublic(_Out):
    """Loans in `from_class` on `since`, by where they stood on the report date."""

    from_class: str
    cells: dict[str, CellPublic]
    total: CellPublic
    downgraded: CellPublic
    downgrade_rate: Decimal | None


class PortfolioReportPublic(_Out):
    on: date
    since: date
    tiers: list[TierPublic]
    total: CellPublic
    npl: CellPublic
    npl_ratio: Decimal | None
    npl_count_ratio: Decimal | None
    products: list[str]
    buckets: list[str]
    overdue: dict[str, dict[str, CellPublic]]
    overdue_total: dict[str, CellPublic]
    roll: list[RollPeriodPublic]
    bad_debt: list[BadDebtPublic]
    expected_bad_debt_cents: int
    migration_columns: list[str]
    migration: list[MigrationPublic]
    summarized_at: datetime | None = Field(
        description="读自该日的日终汇总时为其生成时间，实时计算时为空 (when read from the day's "
        "book summary: when it was built; null: computed live)"
    )


def build(
    session: SessionDep,
    clock: ClockDep,
    actor: ActorDep,
    on: OnDate = None,
    since: SinceDate = None,
) -> PortfolioReport:
    """The report the request asks for, as the reader may see it (a dependency of every route
    that shows it: the API, the downloads, the page and its charts)."""
    scope = report_scope(actor)
    today = clock.today()
    return portfolio_report(session, on=on or today, today=today, since=since, org_paths=scope)


ReportDep = Annotated[PortfolioReport, Depends(build)]


@router.get(
    "/portfolio", response_model=PortfolioReportPublic, responses=error_responses(401, 403, 422)
)
def read_portfolio_report(report: ReportDep) -> PortfolioReportPublic:
    return PortfolioReportPublic.model_validate(report)


def _download(report: PortfolioReport, body: str | bytes, suffix: str, media_type: str) -> Response:
    name = f"portfolio-{report.on.isoformat()}.{suffix}"
    return Response(
        body, media_type=media_type,
        headers={"Content-Disposition": content_disposition("attachment", name)},
    )  # fmt: skip


@router.get(
    "/portfolio.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}, **error_responses(401, 403, 422)},
)
def download_portfolio_csv(report: ReportDep) -> Response:
    return _download(report, report_csv(report), "csv", "text/csv; charset=utf-8")


@router.get(
    "/portfolio.xlsx",
    response_class=Response,
    responses={200: {"content": {XLSX: {}}}, **error_responses(401, 403, 422)},
)
def download_portfolio_xlsx(report: ReportDep) -> Response:
    return _download(report, report_xlsx(report), "xlsx", XLSX)
