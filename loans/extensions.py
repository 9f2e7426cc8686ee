"""展期 extension requests: the application rules (贷款通则, 000 贷款催收基本流程), whether it is a
restructuring (from the book's facts on the date, 分类办法 第十七条), and the decision — granted
and applied in one transaction, by someone other than the applicant who holds the authority.

Whoever calls these (the approval chain, a test, a script) gets the same rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlmodel import Session, col, select

from core.errors import (
    NotFoundError,
    RuleViolationError,
    SelfApprovalError,
    ValidationError,
)
from core.identity import Role
from core.settings import Settings, get_settings
from loans import aging
from loans.authority import require_authority
from loans.book import get_loan, installments_of
from loans.floors import OPEN_STATES
from loans.models import (
    Collateral,
    CollateralKind,
    ExtensionRequest,
    ExtensionStatus,
    Loan,
)
from loans.schedule import add_months
from loans.transitions import TransitionResult, transition_loan
from statemachines.enums import LoanState, RequestKind, RiskClass

EXTENDABLE = (LoanState.normal, LoanState.watched)


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


def active_guarantors(session: Session, loan_id: int) -> list[str]:
    """Guarantors (保证人) of the loan whose guarantee is not released: each must consent."""
    rows = session.exec(
        select(Collateral).where(
            Collateral.loan_id == loan_id,
            Collateral.kind == CollateralKind.guarantee,
            col(Collateral.released_on).is_(None),
        )
    ).all()
    return [(c.guarantor_name or c.description).strip() for c in rows]


def restructuring_reasons(
    session: Session, loan: Loan, on: date, *, declared: bool, settings: Settings
) -> list[str]:
    """Why an extension granted on `on` would be a restructuring (分类办法 第十七条: the borrower is
    in financial difficulty): already in arrears, other debts already 不良, or the applicant's
    assessment. Empty: an ordinary extension for a healthy borrower."""
    assert loan.id is not None
    reasons = []
    if declared:
        reasons.append("declared_financial_difficulty")
    dpd = aging.days_past_due(installments_of(session, loan.id), on)
    if dpd > 0:
        reasons.append(f"days_past_due:{dpd}")
    if settings.restructuring_other_npl:
        npl = [c.value for c in RiskClass if c.is_npl]
        other = session.exec(
            select(Loan.loan_no).where(
                Loan.borrower_id == loan.borrower_id,
                Loan.id != loan.id,
                col(Loan.state).in_(OPEN_STATES),
                col(Loan.risk_class).in_(npl),
            )
        ).first()
        if other is not None:
            reasons.append(f"other_npl_loan:{other}")
    return reasons


def request_extension(
    session: Session,
    loan_no: str,
    *,
    new_maturity_date: date,
    requested_by: str,
    reason: str,
    financial_difficulty: bool,
    on: date,
    guarantor_consents: Sequence[dict[str, str]] = (),
    settings: Settings | None = None,
) -> ExtensionRequest:
    """Record an application after checking every rule; every problem is listed, each with the
    field to fix and the rule it breaks."""
    settings = settings or get_settings()
    loan = get_loan(session, loan_no)
    assert loan.id is not None
    errors: list[dict[str, Any]] = []

    def refuse(field: str, rule: str, zh: str, en: str) -> None:
        errors.append({"field": field, "rule": rule, "message": zh, "message_en": en})

    if LoanState(loan.state) not in EXTENDABLE:
        refuse(
            "loan_no",
            "extension_state",
            f"只有正常或关注状态的贷款可以展期（当前为{LoanState(loan.state).label_zh}）",
            f"only a normal or watched loan can be extended (it is {loan.state})",
        )
    pending = session.exec(
        select(ExtensionRequest.id).where(
            ExtensionRequest.loan_id == loan.id, ExtensionRequest.status == ExtensionStatus.pending
        )
    ).first()
    if pending is not None:
        refuse(
            "loan_no",
            "extension_one_live",
            f"该贷款的展期申请 #{pending} 尚在审批中",
            f"extension request #{pending} for this loan is still on its approval chain",
        )
    days_left = (loan.maturity_date - on).days
    if days_left < settings.extension_notice_days:
        refuse(
            "requested_on",
            "extension_window",
            f"须在到期日（{loan.maturity_date}）前至少 {settings.extension_notice_days} 天申请展期，"
            f"现仅剩 {days_left} 天（贷款催收基本流程）",
            f"apply at least {settings.extension_notice_days} days before maturity "
            f"({loan.maturity_date}); {days_left} days are left (000 贷款催收基本流程)",
        )
    if new_maturity_date <= loan.maturity_date:
        refuse(
            "new_maturity_date",
            "extension_after_maturity",
            f"须晚于现到期日 {loan.maturity_date}",
            f"must be after the current maturity {loan.maturity_date}",
        )
    else:
        original = months_between(loan.disbursement_date, loan.original_maturity_date)
        wanted = months_between(loan.original_maturity_date, new_maturity_date)  # cumulative
        allowed = max_extension_months(original, settings)
        if wanted > allowed:
            refuse(
                "new_maturity_date",
                "extension_term_limit",
                f"累计展期 {wanted} 个月，超过期限 {original} 个月贷款的展期上限 {allowed} 个月"
                "（贷款通则 第十二条）",
                f"an extension of {wanted} months in all exceeds the {allowed}-month limit "
                f"for a {original}-month loan (贷款通则 第十二条)",
            )
    consented = {c.get("guarantor", "").strip() for c in guarantor_consents if c.get("sha256")}
    for guarantor in active_guarantors(session, loan.id):
        if guarantor not in consented:
            refuse(
                "guarantor_consents",
                "extension_guarantor_consent",
                f"缺少保证人“{guarantor}”的书面同意（贷款通则：展期须经保证人书面同意）",
                f"the written consent of guarantor {guarantor} is missing (贷款通则)",
            )
    if not reason.strip():
        refuse("reason", "required", "请填写展期原因", "a reason is required")
    if errors:
        raise ValidationError(
            "展期申请不符合要求 (the extension request is not acceptable)",
            errors=errors,
            loan_no=loan_no,
        )
    reasons = restructuring_reasons(
        session, loan, on, declared=financial_difficulty, settings=settings
    )
    request = ExtensionRequest(
        loan_id=loan.id,
        requested_by=requested_by,
        requested_on=on,
        new_maturity_date=new_maturity_date,
        reason=reason.strip(),
        financial_difficulty=financial_difficulty,
        restructuring=bool(reasons),
        restructuring_reasons=reasons,
        days_past_due_at_request=aging.days_past_due(installments_of(session, loan.id), on),
        guarantor_consents=[dict(c) for c in guarantor_consents],
    )
    session.add(request)
    session.flush()
    return request


def get_extension(session: Session, request_id: int) -> ExtensionRequest:
    request = session.get(ExtensionRequest, request_id, with_for_update=True)
    if request is None:
        raise NotFoundError(
            f"未找到展期申请 {request_id} (no extension request {request_id})",
            request_id=request_id,
        )
    return request


def _pending(session: Session, request_id: int) -> ExtensionRequest:
    request = get_extension(session, request_id)
    if request.status != ExtensionStatus.pending:
        raise RuleViolationError(
            f"展期申请 {request_id} 已为 {request.status} "
            f"(extension request {request_id} is already {request.status})",
            request_id=request_id,
            status=request.status,
        )
    return request


def grant_extension(
    session: Session,
    request_id: int,
    *,
    approved_by: str,
    approver_roles: Sequence[Role],
    actor: str,
    now: datetime,
    business_date: date,
    approved_months: int | None = None,
    on_behalf_of: str | None = None,
    payload: dict[str, Any] | None = None,
    form_kind: str | None = None,
    schema_hash: str | None = None,
    settings: Settings | None = None,
) -> TransitionResult:
    """Decide and apply in one step (no approval waits unused): four eyes, the approver's
    authority for the exposure, the facts re-read for the business date (arrears that appeared
    since the application make it a restructuring), then the lifecycle's `approve_extension`."""
    settings = settings or get_settings()
    request = _pending(session, request_id)
    loan = session.get(Loan, request.loan_id)
    assert loan is not None and loan.id is not None
    if approved_by == request.requested_by:
        raise SelfApprovalError(
            "四眼原则：不能审批自己提交的展期申请 (four eyes: nobody decides their own extension request)",
            request_id=request_id,
            user=approved_by,
        )
    exposure = aging.outstanding_principal_cents(installments_of(session, loan.id))
    require_authority(approver_roles, RequestKind.extension, exposure, who=approved_by)
    asked = months_between(loan.maturity_date, request.new_maturity_date)
    if approved_months is not None:
        if not 1 <= approved_months <= asked:
            raise ValidationError(
                "批准的展期期限不符合要求 (the approved term is not acceptable)",
                errors=[
                    {
                        "field": "approved_term_months",
                        "message": f"须在 1 至申请的 {asked} 个月之间",
                        "message_en": f"between 1 and the {asked} months applied for",
                    }
                ],
            )
        if approved_months < asked:
            request.new_maturity_date = add_months(loan.maturity_date, approved_months)
    reasons = restructuring_reasons(
        session, loan, business_date, declared=request.financial_difficulty, settings=settings
    )
    request.restructuring_reasons = sorted(set(request.restructuring_reasons) | set(reasons))
    request.restructuring = bool(request.restructuring_reasons)
    request.status, request.approved_by, request.decided_on = (
        ExtensionStatus.approved,
        approved_by,
        business_date,
    )
    request.approved_months = approved_months or asked
    session.add(request)
    session.flush()
    return transition_loan(
        session,
        loan.loan_no,
        "approve_extension",
        actor=actor,
        now=now,
        business_date=business_date,
        reason=f"展期至 {request.new_maturity_date}，{approved_by} 批准",
        payload=payload,
        on_behalf_of=on_behalf_of,
        approved_by=approved_by,
        requested_by=request.requested_by,
        form_kind=form_kind,
        schema_hash=schema_hash,
    )


def close_extension(
    session: Session,
    request_id: int,
    status: ExtensionStatus,
    *,
    decided_by: str,
    on: date,
) -> ExtensionRequest:
    """A refused or withdrawn application: recorded, the loan unchanged."""
    if status not in (ExtensionStatus.rejected, ExtensionStatus.withdrawn):
        raise ValueError(f"close_extension ends a request as rejected or withdrawn, not {status}")
    request = _pending(session, request_id)
    if status == ExtensionStatus.rejected and decided_by == request.requested_by:
        raise SelfApprovalError(
            "四眼原则：不能审批自己提交的展期申请 (four eyes: nobody decides their own extension request)",
            request_id=request_id,
        )
    request.status, request.approved_by, request.decided_on = status, decided_by, on
    session.add(request)
    session.flush()
    return request


def pending_extensions(session: Session, loan_id: int) -> list[ExtensionRequest]:
    return list(
        session.exec(
            select(ExtensionRequest).where(
                ExtensionRequest.loan_id == loan_id,
                ExtensionRequest.status == ExtensionStatus.pending,
            )
        ).all()
    )
