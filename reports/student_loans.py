"""The student-loan report (助学贷款报表) as of a business date D: the monthly overdue-collection
report (逾期收缴月报, reports/student_collection.py) for D's month and the yearly institution
assessment (机构考核, reports/student_assessment.py) for D's year, over the branches the reader
sees; and its CSV. Imports no web or Prefect library."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlmodel import Session

from loans.aging import bucket_names
from reports.scope import check_report_date
from reports.student_assessment import AssessmentRow, institution_assessment
from reports.student_collection import CollectionRow, overdue_collection


@dataclass(frozen=True)
class StudentLoanReport:
    on: date
    month_start: date
    year_start: date
    buckets: list[str]
    collection: list[CollectionRow]  # per institution and product, the total last
    assessment: list[AssessmentRow]


def student_loan_report(
    session: Session, *, on: date, today: date, org_paths: Sequence[str] | None
) -> StudentLoanReport:
    check_report_date(on, today)
    return StudentLoanReport(
        on=on,
        month_start=on.replace(day=1),
        year_start=date(on.year, 1, 1),
        buckets=bucket_names(),
        collection=overdue_collection(session, on=on, org_paths=org_paths),
        assessment=institution_assessment(session, on=on, org_paths=org_paths),
    )


def _yuan(cents: int) -> str:
    return f"{Decimal(cents) / 100:.2f}"


def _pct(value: Decimal | None) -> str:
    return "" if value is None else f"{value * 100:.2f}"


def _who(row: CollectionRow | AssessmentRow) -> list[str]:
    if row.institution is None:
        return ["合计 total", "", ""]
    return [row.institution.code, row.institution.name, row.product]


def report_csv(report: StudentLoanReport) -> str:
    """Two sections with bilingual headers; amounts in yuan, rates in percent. UTF-8 with a BOM
    so spreadsheet programs read Chinese."""
    out = io.StringIO()
    out.write("\ufeff")
    w = csv.writer(out)
    w.writerow(["报表日期 report date", report.on.isoformat(), "月份 month",
                f"{report.month_start.isoformat()}..{report.on.isoformat()}"])  # fmt: skip
    w.writerow([])
    w.writerow(["逾期收缴月报 overdue collection", "经办机构 institution", "名称 name",
                "产品 product", "笔数 loans", "余额(元) balance", "逾期笔数 overdue",
                "逾期余额(元) overdue balance", "逾期率% overdue rate", "月初逾期 opening",
                "新增逾期 new", "转为正常 cured", "结清或核销 closed", "收缴(元) collected",
                "催收联系 collection contacts", "学生联系 student contacts",
                "财政贴息(元) subsidy", *(f"{b} 笔数" for b in report.buckets)])  # fmt: skip
    for r in report.collection:
        w.writerow(["collection", *_who(r), r.loans, _yuan(r.balance_cents), r.overdue_loans,
                    _yuan(r.overdue_balance_cents), _pct(r.overdue_rate), r.opening_overdue,
                    r.new_overdue, r.cured, r.closed, _yuan(r.collected_cents),
                    r.collection_contacts, r.student_contacts, _yuan(r.subsidy_cents),
                    *(r.by_bucket.get(b, 0) for b in report.buckets)])  # fmt: skip
    w.writerow([])
    w.writerow(["机构考核 institution assessment", "经办机构 institution", "名称 name",
                "产品 product", "年度 year", "笔数 loans", "余额(元) balance",
                "逾期率% overdue rate", "本年发放 disbursed", "发放金额(元) disbursed amount",
                "本年回收本金(元) principal repaid", "进入还款期 in repayment",
                "违约 defaulters", "违约率% default rate", "应联系 due a contact",
                "已联系 contacted", "联系覆盖率% contact coverage", "应毕业确认 confirmations due",
                "按时确认 on time", "按时率% on-time rate", "学籍异动 status changes",
                "财政贴息(元) subsidy", "考核等级 grade", "暂停发放 suspend"])  # fmt: skip
    for a in report.assessment:
        grade = f"{a.grade.code} {a.grade.name_zh} {a.grade.name_en}" if a.grade else ""
        w.writerow(["assessment", *_who(a), report.on.year, a.loans, _yuan(a.balance_cents),
                    _pct(a.overdue_rate), a.disbursed, _yuan(a.disbursed_cents),
                    _yuan(a.repaid_cents), a.in_repayment, a.defaulters, _pct(a.default_rate),
                    a.due_contact, a.contacted, _pct(a.contact_coverage), a.confirmations_due,
                    a.confirmations_on_time, _pct(a.confirmation_on_time), a.status_changes,
                    _yuan(a.subsidy_cents), grade,
                    "是 yes" if a.suspend else "否 no"])  # fmt: skip
    return out.getvalue()
