"""Filing each kind of request on a loan: who may (FILERS), the kind's rules checked at once with
the rule named (the 30-day window, 贷款通则's term limits, a guarantor's consent, the floor, the
repayment record out of 不良, 核销 only for 损失), then `submit`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlmodel import Session

from approvals.effects import check_class, field_error, require_state
from approvals.levels import Effects
from approvals.models import ApprovalRequest
from approvals.requests import FILERS, applicant, submit
from forms import AttachmentRef
from loans.book import get_loan
from loans.extensions import request_extension
from statemachines.enums import LoanState, RequestKind, RiskClass
from tasks.access import Actor
from tasks.attachments import link, require_stored


def file_extension(
    session: Session,
    loan_no: str,
    actor: Actor,
    effects: Effects,
    *,
    new_maturity_date: date,
    reason: str,
    financial_difficulty: bool,
    guarantor_consents: Sequence[dict[str, Any]],
    now: datetime,
    business_date: date,
) -> ApprovalRequest:
    """展期申请 by the loan's account manager: refused at once if the window has closed, the
    term limits are exceeded or a guarantor's written consent is missing."""
    loan = get_loan(session, loan_no)
    applicant(session, loan, actor, *FILERS[RequestKind.extension.value])
    refs = [AttachmentRef.model_validate(c["attachment"]) for c in guarantor_consents]
    require_stored(session, refs)
    consents = [
        {"guarantor": str(c["guarantor"]), "sha256": ref.sha256}
        for c, ref in zip(guarantor_consents, refs, strict=True)
    ]
    extension = request_extension(
        session,
        loan_no,
        new_maturity_date=new_maturity_date,
        requested_by=actor.me.username,
        reason=reason,
        financial_difficulty=financial_difficulty,
        on=business_date,
        guarantor_consents=consents,
    )
    request = submit(
        session,
        RequestKind.extension,
        loan,
        actor,
        effects,
        reason=reason,
        subject={
            "extension_request_id": extension.id,
            "new_maturity_date": new_maturity_date.isoformat(),
            "financial_difficulty": financial_difficulty,
            "restructuring": extension.restructuring,
            "restructuring_reasons": list(extension.restructuring_reasons),
            "days_past_due": extension.days_past_due_at_request,
            "guarantor_consents": [
                {"guarantor": c["guarantor"], "attachment": ref.model_dump(mode="json")}
                for c, ref in zip(consents, refs, strict=True)
            ],
        },
        now=now,
        business_date=business_date,
    )
    extension.approval_request_id = request.id
    session.add(extension)
    link(session, "request", request.id or 0, refs)
    return request


def propose_classification(
    session: Session,
    loan_no: str,
    actor: Actor,
    effects: Effects,
    *,
    proposed_class: RiskClass,
    reason: str,
    evidence: Sequence[AttachmentRef] = (),
    now: datetime,
    business_date: date,
) -> ApprovalRequest:
    """五级分类调整 proposed by the loan's account manager (or the branch's risk manager): never
    better than the floor, out of 不良 only with the repayment record — refused at once."""
    loan = get_loan(session, loan_no)
    applicant(session, loan, actor, *FILERS[RequestKind.classification.value])
    require_state(
        loan,
        tuple(s for s in LoanState if s.is_open),
        "loan_no",
        f"贷款已{LoanState(loan.state).label_zh}，不再分类",
        "a closed loan is not reclassified",
    )
    current = RiskClass(loan.risk_class)
    if RiskClass(proposed_class) == current:
        raise field_error(
            "proposed_class",
            f"贷款已是{current.label_zh}类",
            f"the loan is already classified {current.value}",
        )
    check_class(session, loan, RiskClass(proposed_class), business_date, field="proposed_class")
    require_stored(session, evidence)
    request = submit(
        session,
        RequestKind.classification,
        loan,
        actor,
        effects,
        reason=reason,
        subject={
            "proposed_class": RiskClass(proposed_class).value,
            "current_class": current.value,
            "reasons": ["account_manager_proposal"],
            "rule_refs": [],
            "evidence": [e.model_dump(mode="json") for e in evidence],
        },
        now=now,
        business_date=business_date,
    )
    link(session, "request", request.id or 0, list(evidence))
    return request


def file_write_off(
    session: Session,
    loan_no: str,
    actor: Actor,
    effects: Effects,
    *,
    reason: str,
    evidence: Sequence[AttachmentRef] = (),
    now: datetime,
    business_date: date,
) -> ApprovalRequest:
    """核销申请: only for a 损失 loan (001: 损失类贷款应按照程序及时核销)."""
    loan = get_loan(session, loan_no)
    applicant(session, loan, actor, *FILERS[RequestKind.write_off.value])
    if RiskClass(loan.risk_class) != RiskClass.loss:
        raise field_error(
            "loan_no",
            f"仅损失类贷款可以申请核销（现为{RiskClass(loan.risk_class).label_zh}）",
            "only a loan classified loss can be written off",
            risk_class=str(loan.risk_class),
        )
    require_state(
        loan,
        (LoanState.non_performing,),
        "loan_no",
        "仅不良贷款可以核销",
        "only a non-performing loan",
    )
    require_stored(session, evidence)
    request = submit(
        session,
        RequestKind.write_off,
        loan,
        actor,
        effects,
        reason=reason,
        subject={"evidence": [e.model_dump(mode="json") for e in evidence]},
        now=now,
        business_date=business_date,
    )
    link(session, "request", request.id or 0, list(evidence))
    return request


def file_handover(
    session: Session,
    loan_no: str,
    actor: Actor,
    effects: Effects,
    *,
    reason: str,
    now: datetime,
    business_date: date,
) -> ApprovalRequest:
    """移交资产处置: a 不良 loan not yet handed over."""
    loan = get_loan(session, loan_no)
    applicant(session, loan, actor, *FILERS[RequestKind.handover.value])
    require_state(
        loan,
        (LoanState.non_performing,),
        "loan_no",
        "仅不良贷款可以移交资产处置",
        "only a non-performing loan is handed over",
    )
    if loan.handed_over:
        raise field_error("loan_no", "该贷款已移交资产处置", "the loan is already handed over")
    return submit(
        session,
        RequestKind.handover,
        loan,
        actor,
        effects,
        reason=reason,
        subject={},
        now=now,
        business_date=business_date,
    )
