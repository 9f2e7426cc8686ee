"""The student-loan report page (/reports/student-loans, Chinese first, `?lang=en`): the monthly
overdue-collection report per institution (逾期收缴月报) and the yearly institution assessment
(机构考核), as of a date, from the same report as the JSON and the CSV."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from api.auth import ActorDep
from api.deps import ClockDep, OneHopRoute, SessionDep
from api.i18n import in_language, language
from api.pages import render
from api.routes.report_operations import OnDate
from api.routes.report_student import build

router = APIRouter(include_in_schema=False, route_class=OneHopRoute)

LABELS: dict[str, tuple[str, str]] = {
    "title": ("助学贷款报表", "Student-loan report"),
    "on": ("报表日期", "Report date"),
    "show": ("查看", "Show"),
    "csv": ("下载 CSV", "Download CSV"),
    "month": ("逾期收缴月报", "Monthly overdue collection"),
    "assessment": ("经办机构年度考核", "Yearly institution assessment"),
    "institution": ("经办机构", "Institution"),
    "product": ("产品", "Product"),
    "total": ("合计", "Total"),
    "loans": ("笔数", "Loans"),
    "balance": ("余额", "Balance"),
    "overdue": ("逾期笔数", "Overdue"),
    "overdue_balance": ("逾期余额", "Overdue balance"),
    "overdue_rate": ("逾期率", "Overdue rate"),
    "opening": ("月初逾期", "Overdue at start"),
    "new": ("新增逾期", "Newly overdue"),
    "cured": ("转为正常", "Cured"),
    "closed": ("结清或核销", "Closed"),
    "collected": ("收缴金额", "Collected"),
    "collection_contacts": ("催收联系", "Collection contacts"),
    "student_contacts": ("学生联系", "Student contacts"),
    "subsidy": ("财政贴息", "State's interest"),
    "disbursed": ("本年发放", "Disbursed this year"),
    "repaid": ("本年回收本金", "Principal repaid"),
    "in_repayment": ("进入还款期", "In repayment"),
    "defaulters": ("违约", "Defaulters"),
    "default_rate": ("违约率", "Default rate"),
    "coverage": ("联系覆盖率", "Contact coverage"),
    "confirmations": ("毕业确认按时", "Confirmations on time"),
    "status_changes": ("学籍异动", "Status changes"),
    "grade": ("考核等级", "Grade"),
    "suspend": ("暂停发放", "Suspend lending"),
    "yes": ("是", "yes"),
    "no": ("否", "no"),
    "none": ("无数据", "No data"),
    "notes": (
        "逾期按日终批量的逾期分档；余额按起息日不晚于报表日的还款计算；收缴为本月内处于逾期的贷款"
        "在本月的还款；联系与毕业确认按登记日期（完成日）计；考核等级与暂停发放规则见产品规则。",
        "Arrears as the daily sweep's buckets; balances from payments valued by the report date; "
        "collected: this month's payments on loans in arrears during it; contacts and "
        "confirmations by their registration (completion) date; grades and suspension follow "
        "the product's rules.",
    ),
}


def _pct(value: object) -> str:
    return "–" if value is None else f"{float(str(value)) * 100:.1f}%"


@router.get("/reports/student-loans", response_class=HTMLResponse)
def student_loans_page(
    request: Request, session: SessionDep, clock: ClockDep, actor: ActorDep, on: OnDate = None
) -> Response:
    report = build(session, clock, actor, on)
    return render(
        request,
        "student_report.html.j2",
        {"r": report, "L": in_language(LABELS, language(request)), "pct": _pct,
         "actor": actor, "today": clock.today()},
    )  # fmt: skip
