"""Importing loans.csv (贷款台账): borrowers found or created, loans booked with their schedule."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date
from decimal import Decimal

from sqlmodel import Session, col, select

from core.identity import OrgUnit, User
from loans.book import LoanTerms, open_loan
from loans.csv_rows import (
    Cells,
    distinct,
    fetch_in,
    one_of,
    parse_cents,
    parse_date,
    parse_flag,
    parse_rate,
)
from loans.imports.common import (
    ImportReport,
    Job,
    ScheduleSource,
    Writer,
)
from loans.imports.student import StudentColumns
from loans.models import Borrower, BorrowerKind, Loan
from loans.schedule import (
    RepaymentMethod,
    ScheduledInstallment,
    ScheduleError,
    generate_schedule,
)
from loans.student.book import StudentTerms, open_student_loan


def plan_loans(session: Session, rows: list[Cells], job: Job) -> Writer:
    units = {
        u.code: u
        for u in fetch_in(session, select(OrgUnit), OrgUnit.code, distinct(rows, "branch"))
    }
    names = (
        distinct(rows, "account_manager")
        | distinct(rows, "assistant_manager")
        | distinct(rows, "risk_manager")
    )
    with_unit = select(User, OrgUnit.path).join(OrgUnit, col(User.org_unit_id) == col(OrgUnit.id))
    users = {
        u.username: (u, path) for u, path in fetch_in(session, with_unit, User.username, names)
    }
    taken = set(fetch_in(session, select(Loan.loan_no), Loan.loan_no, distinct(rows, "loan_no")))
    borrowers = {
        b.customer_no: b
        for b in fetch_in(
            session, select(Borrower), Borrower.customer_no, distinct(rows, "customer_no")
        )
    }
    first_line: dict[str, int] = {}
    plans: list[tuple[LoanTerms, Borrower, list[ScheduledInstallment], StudentTerms | None]] = []
    students = StudentColumns(session, rows, job.business_date)

    def user(c: Cells, column: str, required: bool = False) -> tuple[User, str] | None:
        name = c.text(column, required=required)
        found = users.get(name or "")
        if name and found is None:
            c.fail(column, f"未知用户 {name!r} (unknown user {name!r})")
        elif found and not found[0].active:
            c.fail(column, f"用户 {name!r} 已停用 (user {name!r} is inactive)")
        return found

    for c in rows:
        loan_no = c.text("loan_no", max_len=40)
        if loan_no in taken:
            c.fail("loan_no", f"贷款 {loan_no} 已存在 (loan {loan_no} already exists)")
        elif loan_no in first_line:
            first = first_line[loan_no or ""]
            c.fail(
                "loan_no",
                f"贷款编号重复，首见于第 {first} 行 (duplicate loan_no, first on line {first})",
            )
        elif loan_no:
            first_line[loan_no] = c.line
        code = c.text("branch", max_len=32)
        unit = units.get(code or "")
        if code and unit is None:
            c.fail("branch", f"未知机构 {code!r} (unknown branch {code!r})")
        manager = user(c, "account_manager", required=True)
        if unit and manager and not manager[1].startswith(unit.path):
            c.fail(
                "account_manager",
                f"用户 {manager[0].username!r} 不属于机构 {code} 及其下属机构 "
                f"(user {manager[0].username!r} is not in branch {code} or one of its sub-branches)",
            )
        assistant, risk = user(c, "assistant_manager"), user(c, "risk_manager")
        borrower = _borrower(c, borrowers, unit)
        product = c.text("product", max_len=40)
        principal, rate = c.get("principal", parse_cents), c.get("annual_rate_pct", parse_rate)
        currency = (c.text("currency", required=False) or "CNY").upper()
        if not re.fullmatch("[A-Z]{3}", currency):
            c.fail(
                "currency",
                f"币种须为 3 位字母代码：{currency!r} (not a 3-letter currency code: {currency!r})",
            )
        start, end = c.get("disbursement_date", parse_date), c.get("maturity_date", parse_date)
        if start and end and end <= start:
            c.fail(
                "maturity_date", f"须晚于放款日 {start} (must be after disbursement_date {start})"
            )
        method = c.get("repayment_method", one_of(RepaymentMethod))
        source = c.get("schedule", one_of(ScheduleSource), required=False)
        terms = None
        if not c.bad:
            assert loan_no and unit and unit.id and manager and manager[0].id and borrower
            assert product and principal and rate is not None and start and end and method
            terms = _terms(loan_no, product, unit.id, manager[0].id, principal, rate, start, end,
                           method, currency, assistant, risk)  # fmt: skip
        kind = BorrowerKind(borrower.kind) if borrower else None
        student = students.read(c, product, terms, kind, source)
        if c.bad or terms is None or borrower is None:
            continue
        if student is not None:  # the plan follows the product's rules (loans/student/plan.py)
            plans.append((terms, borrower, [], student))
            continue
        try:  # built now, so that terms the schedule maths refuses reject the file up front
            schedule = (
                []
                if source is ScheduleSource.imported
                else generate_schedule(
                    principal_cents=terms.principal_cents,
                    annual_rate=terms.annual_rate,
                    disbursement_date=terms.disbursement_date,
                    maturity_date=terms.maturity_date,
                    method=terms.repayment_method,
                )
            )
        except ScheduleError as exc:
            for e in exc.errors:
                message = (
                    f"{e['message']} ({e['message_en']})"  # 中文 (English), like every line error
                )
                c.fail(_SCHEDULE_COLUMNS.get(e["field"], e["field"]), message)
            continue
        plans.append((terms, borrower, schedule, None))

    def write(report: ImportReport) -> None:
        new = [b for b in borrowers.values() if b.id is None]
        session.add_all(new)
        session.flush()
        reason = f"从 {job.source} 导入 (imported from {job.source})"
        for terms, borrower, schedule, student in plans:
            assert borrower.id is not None
            terms = replace(terms, borrower_id=borrower.id)
            if student is not None:
                open_student_loan(
                    session, terms, student, actor=job.actor, now=job.now,
                    business_date=job.business_date, institutions=students.institutions,
                    reason=reason,
                )  # fmt: skip
                continue
            open_loan(
                session,
                terms,
                actor=job.actor,
                now=job.now,
                business_date=job.business_date,
                schedule=schedule,
                reason=reason,
            )
        report.created = len(plans)
        report.details.append(f"{len(plans)} loans, {len(new)} new borrowers")

    return write


def _terms(
    loan_no: str, product: str, branch_id: int, manager_id: int, principal: int, rate: Decimal,
    start: date, end: date, method: RepaymentMethod, currency: str,
    assistant: tuple[User, str] | None, risk: tuple[User, str] | None,
) -> LoanTerms:  # fmt: skip
    return LoanTerms(
        loan_no=loan_no,
        borrower_id=0,
        product=product,
        branch_id=branch_id,
        account_manager_id=manager_id,
        principal_cents=principal,
        annual_rate=rate,
        disbursement_date=start,
        maturity_date=end,
        repayment_method=method,
        currency=currency,
        assistant_manager_id=assistant[0].id if assistant else None,
        risk_manager_id=risk[0].id if risk else None,
    )


_SCHEDULE_COLUMNS = {
    "principal_cents": "principal",
    "annual_rate": "annual_rate_pct",
    "method": "repayment_method",
}


def _borrower(c: Cells, known: dict[str, Borrower], unit: OrgUnit | None) -> Borrower | None:
    """The borrower by customer number (客户号); a new one is created in the row's branch."""
    customer_no = c.text("customer_no", max_len=32)
    name = c.text("borrower_name", max_len=200)
    kind = c.get("borrower_kind", one_of(BorrowerKind))
    key_client = c.get("key_client", parse_flag, required=False) or False
    if not (customer_no and name and kind and unit and unit.id):
        return None
    borrower = known.get(customer_no)
    if borrower is None:
        borrower = known[customer_no] = Borrower(
            customer_no=customer_no,
            name=name,
            kind=kind,
            is_key_client=key_client,
            org_unit_id=unit.id,
        )
    elif (borrower.name, borrower.kind) != (name, kind):
        c.fail(
            "borrower_name" if borrower.name != name else "borrower_kind",
            f"客户 {customer_no} 已登记为 {borrower.name!r}（{borrower.kind}） "
            f"(customer {customer_no} is already {borrower.name!r}, {borrower.kind})",
        )
    return borrower
