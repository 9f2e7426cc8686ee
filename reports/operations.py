"""The operations report (贷后作业报表) as of a business date D: late inspections and collection
KPIs for the month up to D, on-site coverage for the year up to D, over the org subtrees the
reader sees; and its CSV. The figures live in reports/inspections.py and reports/collections.py.
Imports no web or Prefect library."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlmodel import Session

from core.settings import Settings, get_settings
from reports.collections import CollectionRow, collection_kpis
from reports.inspections import CoverageRow, LateRow, late_inspections, onsite_coverage
from reports.scope import check_report_date


@dataclass(frozen=True)
class OperationsReport:
    on: date
    period_start: date  # the first of D's month
    year_start: date
    goal: Decimal  # on-site coverage goal
    late: list[LateRow]
    coverage: list[CoverageRow]
    collections: list[CollectionRow]


def operations_report(
    session: Session,
    *,
    on: date,
    today: date,
    org_paths: Sequence[str] | None,
    settings: Settings | None = None,
) -> OperationsReport:
    check_report_date(on, today)
    settings = settings or get_settings()
    start = on.replace(day=1)
    return OperationsReport(
        on=on,
        period_start=start,
        year_start=date(on.year, 1, 1),
        goal=Decimal(settings.annual_onsite_coverage_min),
        late=late_inspections(session, on=on, start=start, org_paths=org_paths, settings=settings),
        coverage=onsite_coverage(session, on=on, org_paths=org_paths, settings=settings),
        collections=collection_kpis(
            session, on=on, start=start, org_paths=org_paths, settings=settings
        ),
    )


def _pct(value: Decimal | None) -> str:
    return "" if value is None else f"{value * 100:.2f}"


def report_csv(report: OperationsReport) -> str:
    """One table, one section per figure (section, branch, manager, measure columns), with
    bilingual headers; rates in percent. UTF-8 with a BOM so spreadsheet programs read Chinese."""
    out = io.StringIO()
    out.write("\ufeff")
    w = csv.writer(out)
    w.writerow(["报表日期 report date", report.on.isoformat(), "期间 period",
                f"{report.period_start.isoformat()}..{report.on.isoformat()}"])  # fmt: skip
    w.writerow([])
    w.writerow(["逾期检查 late inspections", "机构 branch", "客户经理 manager", "应完成 due",
                "按时 on time", "逾期完成 done late", "逾期未完成 open late", "今日到期 due today",
                "本期逾期登记 registered late", "逾期率% late rate", "按时率% on-time rate"])  # fmt: skip
    for r in report.late:
        w.writerow(["late", r.branch, _who(r.manager), r.due, r.on_time, r.late, r.open_late,
                    r.pending, r.late_registered, _pct(r.late_rate), _pct(r.on_time_rate)])  # fmt: skip
    w.writerow([])
    w.writerow(["现场检查覆盖率 on-site coverage", "机构 branch", "借款人 borrowers",
                "已现场检查 visited", "覆盖率% share", "目标% goal", "达标 meets goal",
                "尚需检查 still to visit"])  # fmt: skip
    for c in report.coverage:
        w.writerow(["coverage", c.branch, c.borrowers, c.visited, _pct(c.share), _pct(c.goal),
                    "是 yes" if c.meets_goal else "否 no", c.still_to_visit])  # fmt: skip
    w.writerow([])
    w.writerow(["催收指标 collection KPIs", "机构 branch", "客户经理 manager", "催收量 contacts",
                "电话 calls", "联系上 connected", "承诺 promises", "到期承诺 promises due",
                "履约 kept", "违约 broken", "接通率% contact rate", "承诺率% promise rate",
                "履约率% kept rate"])  # fmt: skip
    for k in report.collections:
        w.writerow(["collections", k.branch, _who(k.manager), k.contacts, k.calls, k.connected,
                    k.promises, k.promises_due, k.kept, k.broken, _pct(k.contact_rate),
                    _pct(k.promise_rate), _pct(k.kept_rate)])  # fmt: skip
    return out.getvalue()


def _who(manager: str | None) -> str:
    return "合计 total" if manager is None else manager or "未指定 unassigned"
