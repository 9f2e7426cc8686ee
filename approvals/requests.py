"""Submitting and withdrawing requests: each kind's rules are checked at once (the rule named),
then the request starts its chain in the same transaction — level 1's task is in the head's inbox
when the applicant's page reloads — and the approval-chain flow is asked to continue it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from approvals.chains import chain_for
from approvals.effects import check_class, field_error, require_state
from approvals.models import ApprovalRequest
from approvals.records import actor_name, facts, fire, get_request, journal_opened, live_requests
from approvals.steps import Effects, advance, continue_chain
from core.errors import ConflictError, PermissionDeniedError
from core.identity import OrgUnit, Role
from forms import AttachmentRef
from loans import aging
from loans.book import get_loan, installments_of
from loans.extensions import request_extension
from loans.models import Loan
from statemachines.enums import LoanState, RequestKind, RiskClass
from tasks.access import Actor
from tasks.attachments import require_stored


def _applicant(
    session: Session, loan: Loan, actor: Actor, roles: Iterable[Role], own_loan: bool = False
) -> None:
    """The actor (or whom they stand in for) holds one of `roles` in the loan's branch — and an
    account manager, with `own_loan`, is the loan's lead or assistant manager (调查谁经办、管理谁负责)."""
    wanted = set(roles)
    if actor.read_only:
        raise PermissionDeniedError("auditors read requests but do not file them")
    branch = session.get(OrgUnit, loan.branch_id)
    assert branch is not None
    for p in actor.principals:
        held = p.roles & wanted
        if not held or not p.sees(branch.path):
            continue
        if own_loan and held == {Role.account_manager}:
            if p.user.id not in (loan.account_manager_id, loan.assistant_manager_id):
                continue
        return
    raise PermissionDeniedError(
        f"{actor.me.username} may not file this request for loan {loan.loan_no}",
        loan_no=loan.loan_no,
        needs=sorted(str(r) for r in wanted),
    )


# Who files what (DOMAIN §1, §6): the roles, and whether an account manager must be the loan's own.
FILERS: dict[str, tuple[tuple[Role, ...], bool]] = {
    RequestKind.extension.value: ((Role.account_manager,), True),
    RequestKind.classification.value: ((Role.account_manager, Role.risk_manager), True),
    RequestKind.write_off.value: (
        (Role.account_manager, Role.asset_disposal, Role.department_head),
        True,
    ),
    RequestKind.handover.value: ((Role.account_manager, Role.risk_manager), True),
    "warning_report": (
        (Role.account_manager, Role.risk_manager, Role.branch_head, Role.department_head),
        True,
    ),
}


def filing_options(session: Session, loan: Loan, actor: Actor) -> list[str]:
    """What the actor may file on this loan now (the loan page's buttons)."""
    state, cls = LoanState(loan.state), RiskClass(loan.risk_class)
    possible = {
        RequestKind.extension.value: state in (LoanState.normal, LoanState.watched),
        RequestKind.classification.value: state.is_open,
        RequestKind.write_off.value: state == LoanState.non_performing and cls == RiskClass.loss,
        RequestKind.handover.value: state == LoanState.non_performing and not loan.handed_over,
        "warning_report": state.is_open,
    }
    allowed = []
    for kind, ok in possible.items():
        roles, own = FILERS[kind]
        try:
            _applicant(session, loan, actor, roles, own_loan=own)
        except PermissionDeniedError:
            continue
        if ok:
            allowed.append(kind)
    return allowed


def require_filer(session: Session, loan: Loan, actor: Actor) -> None:
    """Who may report on a loan (a warning signal): its account managers, the branch's risk
    manager and heads."""
    roles, own = FILERS["warning_report"]
    _applicant(session, loan, actor, roles, own_loan=own)


def submit(
    session: Session,
    kind: RequestKind,
    loan: Loan,
    actor: Actor | str,
    effects: Effects,
    *,
    reason: str,
    subject: dict[str, Any],
    now: datetime,
    business_date: date,
) -> ApprovalRequest:
    """Record the request and start its chain (one live request of a kind per loan). Starting
    is the chain's first step — its level-1 task opened in this transaction — so no flow run is
    asked for: a waiting chain costs no Prefect run at all until someone decides."""
    assert loan.id is not None
    existing = live_requests(session, [loan.id], kind.value).get(loan.id)
    if existing is not None:
        raise ConflictError(
            f"loan {loan.loan_no} already has a live {kind.label_zh} (request #{existing.id})",
            loan_no=loan.loan_no,
            request_id=existing.id,
        )
    branch = session.get(OrgUnit, loan.branch_id)
    assert branch is not None
    request = ApprovalRequest(
        kind=kind.value,
        loan_id=loan.id,
        loan_no=loan.loan_no,
        branch_id=branch.id or 0,
        branch_path=branch.path,
        chain=[level.model_dump(mode="json") for level in chain_for(kind).levels],
        amount_cents=aging.outstanding_principal_cents(installments_of(session, loan.id)),
        requested_by=actor_name(actor),
        requested_by_id=None if isinstance(actor, str) else actor.me.user.id,
        requested_on=business_date,
        reason=reason.strip(),
        subject=subject,
        created_at=now,
        updated_at=now,
    )
    try:
        with session.begin_nested():  # a concurrent second request loses on the unique index
            session.add(request)
    except IntegrityError as exc:
        raise ConflictError(
            f"loan {loan.loan_no} already has a live {kind.label_zh}", loan_no=loan.loan_no
        ) from exc
    journal_opened(session, request, now=now, business_date=business_date)
    advance(
        session, request, effects, actor=actor_name(actor), now=now, business_date=business_date
    )
    return request


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
    _applicant(session, loan, actor, *FILERS[RequestKind.extension.value])
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
    _applicant(session, loan, actor, *FILERS[RequestKind.classification.value])
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
    return submit(
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
    _applicant(session, loan, actor, *FILERS[RequestKind.write_off.value])
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
    return submit(
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
    _applicant(session, loan, actor, *FILERS[RequestKind.handover.value])
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


def withdraw(
    session: Session,
    request_id: int,
    actor: Actor,
    effects: Effects,
    *,
    reason: str,
    now: datetime,
    business_date: date,
) -> ApprovalRequest:
    """The applicant (or a head of the loan's unit) withdraws a live request: its open tasks are
    cancelled and the kind's effect of a closed request applies (an extension is withdrawn)."""
    request = get_request(session, request_id, actor, for_update=True)
    entry = fire(
        session,
        request,
        "withdraw",
        facts(session, request, actor),
        now=now,
        business_date=business_date,
        reason=reason,
    )
    advance(session, request, effects, actor=actor.name, now=now, business_date=business_date)
    continue_chain(session, request, entry.chain_seq, now)
    return request


def requests_of_loan(session: Session, loan_id: int) -> list[ApprovalRequest]:
    return list(
        session.exec(
            select(ApprovalRequest)
            .where(ApprovalRequest.loan_id == loan_id)
            .order_by(ApprovalRequest.id.desc())  # type: ignore[union-attr]
        ).all()
    )
