"""展期 extension requests: application rules (贷款通则, 000 贷款催收基本流程), the decision with four
eyes, and re-scheduling when the lifecycle applies an approved extension."""

from __future__ import annotations

from datetime import date

from sqlmodel import Session, select

from core.errors import PermissionDeniedError, RuleViolationError, ValidationError
from core.settings import Settings, get_settings
from loans.book import get_loan, installments_of
from loans.models import ExtensionRequest, ExtensionStatus, Installment, Loan
from loans.schedule import RepaymentMethod, add_months, generate_schedule
from statemachines.enums import LoanState


def months_between(start: date, end: date) -> int:
    """Whole months from start to end (a partial month counts as a month)."""
    months = (end.year - start.year) * 12 + (end.month - start.month)
    return months + (1 if add_months(start, months) < end else 0)


def max_extension_months(original_months: int, settings: Settings) -> int:
    if original_months <= settings.short_term_max_months:
        return original_months  # short-term: no longer than the original term
    if original_months <= settings.medium_term_max_months:
        return original_months // 2  # medium-term: at most half the original term
    return settings.long_term_extension_max_months  # long-term: at most 3 years


def request_extension(
    session: Session,
    loan_no: str,
    *,
    new_maturity_date: date,
    requested_by: str,
    reason: str,
    financial_difficulty: bool,
    on: date,
    settings: Settings | None = None,
) -> ExtensionRequest:
    settings = settings or get_settings()
    loan = get_loan(session, loan_no)
    errors = []
    if LoanState(loan.state) not in (LoanState.normal, LoanState.watched):
        errors.append(
            {
                "field": "loan_no",
                "message": f"only a normal or watched loan can be extended (it is {loan.state})",
            }
        )
    days_left = (loan.maturity_date - on).days
    if days_left < settings.extension_notice_days:
        errors.append(
            {
                "field": "requested_on",
                "message": f"apply at least {settings.extension_notice_days} days before maturity "
                f"({loan.maturity_date}); {days_left} days are left",
            }
        )
    if new_maturity_date <= loan.maturity_date:
        errors.append(
            {
                "field": "new_maturity_date",
                "message": f"must be after the current maturity {loan.maturity_date}",
            }
        )
    else:
        original = months_between(loan.disbursement_date, loan.original_maturity_date)
        wanted = months_between(loan.original_maturity_date, new_maturity_date)
        allowed = max_extension_months(original, settings)
        if wanted > allowed:
            errors.append(
                {
                    "field": "new_maturity_date",
                    "message": f"an extension of {wanted} months exceeds the {allowed}-month limit "
                    f"for a {original}-month loan (贷款通则)",
                }
            )
    if not reason.strip():
        errors.append({"field": "reason", "message": "a reason is required"})
    if errors:
        raise ValidationError(
            "the extension request is not acceptable", errors=errors, loan_no=loan_no
        )
    request = ExtensionRequest(
        loan_id=loan.id,
        requested_by=requested_by,
        requested_on=on,
        new_maturity_date=new_maturity_date,
        reason=reason,
        financial_difficulty=financial_difficulty,
    )
    session.add(request)
    session.flush()
    return request


def decide_extension(
    session: Session, request_id: int, *, approve: bool, decided_by: str, on: date
) -> ExtensionRequest:
    request = session.get(ExtensionRequest, request_id, with_for_update=True)
    if request is None:
        raise ValidationError(f"no extension request {request_id}", request_id=request_id)
    if request.status != ExtensionStatus.pending:
        raise RuleViolationError(f"extension request {request_id} is already {request.status}")
    if decided_by == request.requested_by:
        raise PermissionDeniedError(
            "four eyes: nobody decides their own extension request",
            request_id=request_id,
            user=decided_by,
        )
    request.status = ExtensionStatus.approved if approve else ExtensionStatus.rejected
    request.approved_by, request.decided_on = decided_by, on
    session.add(request)
    session.flush()
    return request


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
        raise RuleViolationError("installments not yet due are partly prepaid; allocate first")
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


def pending_extensions(session: Session, loan_id: int) -> list[ExtensionRequest]:
    return list(
        session.exec(
            select(ExtensionRequest).where(
                ExtensionRequest.loan_id == loan_id,
                ExtensionRequest.status == ExtensionStatus.pending,
            )
        ).all()
    )
