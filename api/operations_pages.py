"""The operations report page (/reports/operations, Chinese first, `?lang=en`) and its chart of
on-site coverage against the goal, an SVG embedded in the page or served on its own (api/svg.py;
pages allow no inline style, the chart draws with presentation attributes only)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from api.auth import ActorDep
from api.deps import ClockDep, OneHopRoute, SessionDep, templates
from api.i18n import in_language, language
from api.pages import render
from api.routes.report_operations import OnDate, build
from api.svg import data_image, svg_response
from reports.inspections import CoverageRow
from reports.operations import OperationsReport

router = APIRouter(include_in_schema=False, route_class=OneHopRoute)

LABELS: dict[str, tuple[str, str]] = {
    "title": ("贷后作业报表", "Operations report"),
    "on": ("报表日期", "Report date"),
    "show": ("查看", "Show"),
    "csv": ("下载 CSV", "Download CSV"),
    "period": ("期间", "Period"),
    "late": ("逾期检查（按登记日期考核）", "Late inspections (assessed on the registration date)"),
    "branch": ("机构", "Branch"),
    "manager": ("客户经理", "Account manager"),
    "total": ("合计", "Total"),
    "unassigned": ("未指定", "Unassigned"),
    "due": ("应完成", "Due"),
    "on_time": ("按时完成", "On time"),
    "done_late": ("逾期完成", "Done late"),
    "open_late": ("逾期未完成", "Open, late"),
    "pending": ("今日到期", "Due today"),
    "late_registered": ("本期逾期登记", "Registered late this period"),
    "late_rate": ("逾期率", "Late rate"),
    "on_time_rate": ("按时率", "On-time rate"),
    "coverage": ("年度现场检查覆盖率", "Annual on-site coverage"),
    "year": ("年度", "Year"),
    "borrowers": ("借款人", "Borrowers"),
    "visited": ("已现场检查", "Visited on site"),
    "share": ("覆盖率", "Coverage"),
    "goal": ("目标", "Goal"),
    "meets": ("达标", "Meets goal"),
    "yes": ("是", "yes"),
    "no": ("否", "no"),
    "still": ("尚需检查", "Still to visit"),
    "chart": ("各机构现场检查覆盖率与目标", "On-site coverage by branch against the goal"),
    "collections": ("催收指标", "Collection KPIs"),
    "contacts": ("催收量", "Contacts"),
    "calls": ("电话", "Calls"),
    "connected": ("联系上", "Connected"),
    "promises": ("承诺还款", "Promises"),
    "promises_due": ("到期承诺", "Promises due"),
    "kept": ("履约", "Kept"),
    "broken": ("违约", "Broken"),
    "contact_rate": ("接通率", "Contact rate"),
    "promise_rate": ("承诺率", "Promise rate"),
    "kept_rate": ("履约率", "Kept rate"),
    "none": ("无数据", "No data"),
    "notes": (
        "逾期：登记日期（完成日，北京时间）晚于应完成日，或截至报表日仍未登记。接通率＝联系上÷催收量；"
        "承诺率＝承诺÷联系上；履约率＝履约÷（履约＋违约）。",
        "Late: registered (completion date, bank time) after the due date, or not registered by "
        "the report date. Contact rate = connected ÷ contacts; promise rate = promises ÷ "
        "connected; kept rate = kept ÷ (kept + broken).",
    ),
}


def _labels(lang: str) -> dict[str, str]:
    return in_language(LABELS, lang)


def _pct(value: object) -> str:
    return "–" if value is None else f"{float(str(value)) * 100:.1f}%"


@router.get("/reports/operations", response_class=HTMLResponse)
def operations_page(
    request: Request, session: SessionDep, clock: ClockDep, actor: ActorDep, on: OnDate = None
) -> Response:
    report = build(session, clock, actor, on)
    lang = language(request)
    return render(
        request,
        "operations_report.html.j2",
        {
            "r": report,
            "L": _labels(lang),
            "pct": _pct,
            "actor": actor,
            "today": clock.today(),
            "coverage_src": data_image(coverage_svg(report, lang)),
        },  # fmt: skip
    )


BAR_WIDTH = 400  # px for 100 %


def chart_rows(rows: list[CoverageRow]) -> list[dict[str, object]]:
    return [
        {
            "y": 40 + i * 28,
            "label": f"{c.branch_name} ({c.branch})",
            "width": round(float(c.share or 0) * BAR_WIDTH, 1),
            "fill": "#2f855a" if c.meets_goal else "#c05621",
            "text": f"{_pct(c.share)}  {c.visited}/{c.borrowers}",
        }
        for i, c in enumerate(rows)
    ]


def coverage_svg(report: OperationsReport, lang: str) -> str:
    rows = chart_rows(report.coverage)
    return templates.get_template("operations_coverage.svg.j2").render(
        rows=rows,
        L=_labels(lang),
        goal_x=200 + round(float(report.goal) * BAR_WIDTH, 1),
        goal=_pct(report.goal),
        year=report.on.year,
        height=60 + max(len(rows), 1) * 28,
        bar_width=BAR_WIDTH,
    )


@router.get("/reports/operations/coverage.svg")
def coverage_chart(
    request: Request, session: SessionDep, clock: ClockDep, actor: ActorDep, on: OnDate = None
) -> Response:
    return svg_response(coverage_svg(build(session, clock, actor, on), language(request)))
