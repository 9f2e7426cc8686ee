"""Importing payments.csv (还款流水): idempotent by the bank's reference, allocated in value-date
order under the loans' locks."""

from __future__ import annotations

from datetime import date

from sqlmodel import Session, col, select

from loans.csv_rows import (
    Cells,
    distinct,
    fetch_in,
    parse_cents,
    parse_date,
)
from loans.imports.common import (
    ImportReport,
    Job,
    Writer,
    loans_by_no,
    yuan,
)
from loans.models import Loan, Payment
from loans.payments import NewPayment, lock_loans, record_payments


def plan_payments(session: Session, rows: list[Cells], job: Job) -> Writer:
    loans = loans_by_no(session, rows)
    with_loan = select(Payment, Loan.loan_no).join(Loan, col(Payment.loan_id) == col(Loan.id))
    recorded = {
        p.payment_ref: (loan_no, p.value_date, p.amount_cents)
        for p, loan_no in fetch_in(
            session, with_loan, Payment.payment_ref, distinct(rows, "payment_ref")
        )
    }
    first_line: dict[str, int] = {}
    new: list[tuple[date, int, str, Loan, int]] = []
    skipped: list[str] = []
    for c in rows:
        ref, loan_no = c.text("payment_ref"), c.text("loan_no", max_len=40)
        value_date, amount = c.get("value_date", parse_date), c.get("amount", parse_cents)
        if ref in first_line:
            first = first_line[ref or ""]
            c.fail(
                "payment_ref",
                f"还款编号重复，首见于第 {first} 行 (duplicate payment_ref, first on line {first})",
            )
        elif ref:
            first_line[ref] = c.line
        loan = loans.get(loan_no or "")
        if loan_no and loan is None:
            c.fail("loan_no", f"未知贷款 {loan_no!r} (unknown loan {loan_no!r})")
        if loan and value_date and value_date < loan.disbursement_date:
            c.fail(
                "value_date",
                f"早于放款日 {loan.disbursement_date} (before the loan's disbursement date {loan.disbursement_date})",
            )
        elif value_date and value_date > job.business_date:
            c.fail(
                "value_date",
                f"晚于营业日 {job.business_date} (after the business date {job.business_date})",
            )
        if c.bad or not (ref and loan and value_date and amount):
            continue
        if ref in recorded and recorded[ref] != (loan.loan_no, value_date, amount):
            was_loan, was_date, was_amount = recorded[ref]
            c.fail(
                "payment_ref",
                f"已记录的还款内容不同：贷款 {was_loan}，起息日 {was_date}，金额 {yuan(was_amount)} "
                f"(already recorded with different content: loan {was_loan}, "
                f"value_date {was_date}, amount {yuan(was_amount)})",
            )
        elif ref in recorded:
            skipped.append(
                f"第 {c.line} 行：还款 {ref} 已记录，跳过 "
                f"(line {c.line}: payment {ref} already recorded, skipped)"
            )
        else:
            new.append((value_date, c.line, ref, loan, amount))

    def write(report: ImportReport) -> None:
        # Every loan of the file locked first, in id order (two importers never deadlock); then by
        # value date, then file order: allocation fills the oldest unpaid installments first.
        lock_loans(session, (loan.id for _, _, _, loan, _ in new if loan.id is not None))
        record_payments(
            session,
            [
                NewPayment(loan, ref, value_date, amount)
                for value_date, _, ref, loan, amount in sorted(new, key=lambda n: n[:2])
            ],
            actor=job.actor,
            now=job.now,
            business_date=job.business_date,
            source=job.source,
        )
        report.created, report.skipped = len(new), len(skipped)
        report.details += skipped

    return write
