"""Applying a granted extension (展期) to the book: the schedule regenerated over the new term, the
request marked applied, and a restructuring recorded with the class the loan had before it.
Called by the lifecycle's `approve_extension` inside the transition service's transaction."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlmodel import Session, col, select

from core.errors import RuleViolationError
from loans.book import installments_of
from loans.models import ExtensionRequest, ExtensionStatus, Installment, Loan
from loans.restructuring import Restructuring
from loans.schedule import RepaymentMethod, generate_schedule
from statemachines.enums import RiskClass


def granted_request(session: Session, loan_id: int) -> ExtensionRequest | None:
    """The extension decided in this transaction and not yet applied (there is at most one)."""
    return session.exec(
        select(ExtensionRequest).where(
            ExtensionRequest.loan_id == loan_id,
            ExtensionRequest.status == ExtensionStatus.approved,
        )
    ).first()


def apply_extension(session: Session, loan: Loan, business_date: date) -> dict[str, Any]:
    assert loan.id is not None
    request = granted_request(session, loan.id)
    assert request is not None  # the machine's validator checked it exists
    old_maturity = loan.maturity_date
    reschedule_for_extension(session, loan, request.new_maturity_date, business_date)
    request.status, request.applied_on = ExtensionStatus.applied, business_date
    if request.restructuring:
        # Granted because of financial difficulty → restructured asset under observation
        # (第十七条). Each restructuring keeps its own "class before" (restructuring_history).
        request.class_before = RiskClass(loan.risk_class)
        loan.restructured_on = business_date
        if loan.class_before_restructure is None:
            loan.class_before_restructure = RiskClass(loan.risk_class)
    session.add(request)
    return {
        "extension_request_id": request.id,
        "old_maturity_date": old_maturity,
        "new_maturity_date": request.new_maturity_date,
        "restructured": request.restructuring,
        "restructuring_reasons": list(request.restructuring_reasons),
    }


def restructuring_history(session: Session, loan_ids: list[int]) -> dict[int, list[Restructuring]]:
    """Every restructuring applied to these loans, oldest first (one query)."""
    found: dict[int, list[Restructuring]] = {i: [] for i in loan_ids}
    if not loan_ids:
        return found
    rows = session.exec(
        select(ExtensionRequest)
        .where(
            col(ExtensionRequest.loan_id).in_(loan_ids),
            ExtensionRequest.status == ExtensionStatus.applied,
            col(ExtensionRequest.restructuring).is_(True),
        )
        .order_by(col(ExtensionRequest.applied_on), col(ExtensionRequest.id))
    ).all()
    for row in rows:
        if row.applied_on is not None:
            found[row.loan_id].append(
                Restructuring(row.applied_on, RiskClass(row.class_before or RiskClass.pass_))
            )
    return found


def reschedule_for_extension(session: Session, loan: Loan, new_maturity: date, on: date) -> None:
    """Re-spread the principal of installments not yet due over the extended term.

    Installments already due keep their dates, so days past due never reset (分类办法).
    """
    assert loan.id is not None
    insts = installments_of(session, loan.id)
    future = [i for i in insts if i.due_date > on and i.paid_off_on is None]
    past = [i for i in insts if i not in future]
    remaining = sum(i.principal_due_cents - i.principal_paid_cents for i in future)
    if remaining <= 0:
        loan.maturity_date = new_maturity
        return
    paid_in_future = sum(i.principal_paid_cents + i.interest_paid_cents for i in future)
    if paid_in_future:
        raise RuleViolationError(
            "未到期的还款期次已部分提前还款，请先分配还款 "
            "(installments not yet due are partly prepaid; allocate first)"
        )
    start = max((i.due_date for i in past), default=loan.disbursement_date)
    for inst in future:
        session.delete(inst)
    session.flush()
    next_seq = max((i.seq_no for i in past), default=0)
    for row in generate_schedule(
        principal_cents=remaining,
        annual_rate=loan.annual_rate,
        disbursement_date=start,
        maturity_date=new_maturity,
        method=RepaymentMethod(loan.repayment_method),
    ):
        session.add(
            Installment(
                loan_id=loan.id,
                seq_no=next_seq + row.seq_no,
                due_date=row.due_date,
                principal_due_cents=row.principal_cents,
                interest_due_cents=row.interest_cents,
            )
        )
    loan.maturity_date = new_maturity
