"""Importing installments.csv (还款计划): a loan's imported schedule, checked against its principal."""

from __future__ import annotations

from datetime import date
from typing import NamedTuple

from sqlmodel import Session, select

from audit import journal
from loans.book import LOAN
from loans.csv_rows import (
    Cells,
    fetch_in,
    parse_cents_or_zero,
    parse_date,
    parse_seq,
)
from loans.imports.common import (
    ImportReport,
    Job,
    Writer,
    loans_by_no,
    yuan,
)
from loans.models import Installment
from loans.payments import BOOK_MACHINE


class _Due(NamedTuple):
    cells: Cells
    seq_no: int | None
    due_date: date | None
    principal: int | None
    interest: int | None


def plan_installments(session: Session, rows: list[Cells], job: Job) -> Writer:
    loans = loans_by_no(session, rows)
    scheduled = set(
        fetch_in(
            session,
            select(Installment.loan_id).distinct(),
            Installment.loan_id,
            [loan.id for loan in loans.values()],
        )
    )
    plans: dict[str, list[_Due]] = {}
    for c in rows:
        loan_no = c.text("loan_no", max_len=40)
        due = _Due(
            c,
            c.get("seq_no", parse_seq),
            c.get("due_date", parse_date),
            c.get("principal", parse_cents_or_zero),
            c.get("interest", parse_cents_or_zero),
        )
        loan = loans.get(loan_no or "")
        if loan_no and loan is None:
            c.fail("loan_no", f"未知贷款 {loan_no!r} (unknown loan {loan_no!r})")
        elif loan and loan.id in scheduled:
            c.fail(
                "loan_no",
                f"贷款 {loan_no} 已有还款计划 (loan {loan_no} already has a repayment schedule)",
            )
        if loan is None or loan.id in scheduled:
            continue
        group = plans.setdefault(loan.loan_no, [])
        prev = group[-1] if group else None
        if due.seq_no and any(d.seq_no == due.seq_no for d in group):
            c.fail(
                "seq_no",
                f"贷款 {loan_no} 的期次 {due.seq_no} 重复 (duplicate seq_no {due.seq_no} for loan {loan_no})",
            )
        elif due.seq_no and prev and prev.seq_no and due.seq_no < prev.seq_no:
            c.fail(
                "seq_no",
                f"期次须递增：第 {prev.cells.line} 行为 {prev.seq_no} "
                f"(must increase: line {prev.cells.line} has {prev.seq_no})",
            )
        if due.due_date and not loan.disbursement_date < due.due_date <= loan.maturity_date:
            c.fail(
                "due_date",
                f"超出贷款期限：须晚于 {loan.disbursement_date} 且不晚于到期日 {loan.maturity_date} "
                f"(outside the loan's term: after {loan.disbursement_date} "
                f"up to maturity {loan.maturity_date})",
            )
        elif due.due_date and prev and prev.due_date and due.due_date <= prev.due_date:
            c.fail(
                "due_date",
                f"须晚于第 {prev.cells.line} 行的 {prev.due_date} "
                f"(must be after {prev.due_date}, line {prev.cells.line})",
            )
        group.append(due)
    for loan_no, group in plans.items():
        total = sum(d.principal or 0 for d in group)
        if all(d.principal is not None for d in group) and total != loans[loan_no].principal_cents:
            lines = ", ".join(str(d.cells.line) for d in group)
            group[0].cells.fail(
                "principal",
                (
                    f"贷款 {loan_no} 第 {lines} 行的本金合计 {yuan(total)}，"
                    f"与贷款本金 {yuan(loans[loan_no].principal_cents)} 不符 "
                    f"(principal of loan {loan_no} on lines {lines} sums to {yuan(total)}, "
                    f"not the loan's {yuan(loans[loan_no].principal_cents)})"
                ),
            )

    def write(report: ImportReport) -> None:
        for loan_no, group in plans.items():
            loan_id = loans[loan_no].id
            for d in group:
                assert loan_id and d.seq_no and d.due_date and d.principal is not None
                session.add(
                    Installment(
                        loan_id=loan_id,
                        seq_no=d.seq_no,
                        due_date=d.due_date,
                        principal_due_cents=d.principal,
                        interest_due_cents=d.interest or 0,
                    )
                )
            journal.append(
                session,
                aggregate_type=LOAN,
                aggregate_id=loan_no,
                machine=BOOK_MACHINE,
                event="import_schedule",
                from_state=None,
                to_state=None,
                actor=job.actor,
                now=job.now,
                business_date=job.business_date,
                reason=f"从 {job.source} 导入 (imported from {job.source})",
                payload={
                    "installments": len(group),
                    "source": job.source,
                    "principal_cents": sum(d.principal or 0 for d in group),
                    "interest_cents": sum(d.interest or 0 for d in group),
                },
            )
            report.created += len(group)
            report.details.append(f"{loan_no}: {len(group)} installments")

    return write
