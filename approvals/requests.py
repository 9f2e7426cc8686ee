"""Submitting and withdrawing requests: each kind's rules are checked at once (the rule named),
then the request starts its chain in the same transaction — level 1's task is in the head's inbox
when the applicant's page reloads — and the approval-chain flow is asked to continue it."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from approvals.chains import chain_for
from approvals.levels import Effects
from approvals.models import ApprovalRequest
from approvals.records import actor_name, facts, fire, get_request, journal_opened, live_requests
from approvals.steps import advance, continue_chain
from core.errors import ConflictError, PermissionDeniedError
from core.identity import OrgUnit, Principal, Role
from loans import aging
from loans.book import installments_of
from loans.models import Loan
from statemachines.enums import LoanState, RequestKind, RiskClass
from tasks.access import SUPERVISOR_ROLES, Actor


def applicant(
    session: Session, loan: Loan, actor: Actor, roles: Iterable[Role], own_loan: bool = False
) -> None:
    """The actor (or whom they stand in for) holds one of `roles` in the loan's branch — and an
    account manager, with `own_loan`, is the loan's lead or assistant manager (调查谁经办、管理谁负责)."""
    wanted = set(roles)
    if actor.read_only:
        raise PermissionDeniedError(
            "审计人员只能查看申请，不能提交 (auditors read requests but do not file them)"
        )
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
        f"{actor.me.username} 无权为贷款 {loan.loan_no} 提交此申请 "
        f"({actor.me.username} may not file this request for loan {loan.loan_no})",
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
            applicant(session, loan, actor, roles, own_loan=own)
        except PermissionDeniedError:
            continue
        if ok:
            allowed.append(kind)
    return allowed


def require_filer(session: Session, loan: Loan, actor: Actor) -> None:
    """Who may report on a loan (a warning signal): its account managers, the branch's risk
    manager and heads."""
    roles, own = FILERS["warning_report"]
    applicant(session, loan, actor, roles, own_loan=own)


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
            f"贷款 {loan.loan_no} 已有进行中的{kind.label_zh}（申请 #{existing.id}） "
            f"(loan {loan.loan_no} already has a live {kind.value}, request #{existing.id})",
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
            f"贷款 {loan.loan_no} 已有进行中的{kind.label_zh} "
            f"(loan {loan.loan_no} already has a live {kind.value})",
            loan_no=loan.loan_no,
        ) from exc
    journal_opened(session, request, now=now, business_date=business_date)
    advance(
        session, request, effects, actor=actor_name(actor), now=now, business_date=business_date
    )
    return request


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
        facts(session, request, actor, acting_as=withdrawing_for(request, actor)),
        now=now,
        business_date=business_date,
        reason=reason,
    )
    advance(session, request, effects, actor=actor.name, now=now, business_date=business_date)
    continue_chain(session, request, entry.chain_seq, now)
    return request


def withdrawing_for(request: ApprovalRequest, actor: Actor) -> str | None:
    """Whom a deputy withdraws for (the journal's on-behalf-of): the applicant they stand in
    for, else a head of the loan's unit they stand in for; None when the actor may themself."""

    def heads(p: Principal) -> bool:
        return bool(p.roles & SUPERVISOR_ROLES) and request.branch_path.startswith(p.org_path)

    if request.requested_by == actor.name or heads(actor.me):
        return None
    for rule in (lambda p: f"u:{p.username}" == request.requested_by, heads):
        for p in actor.deputy_for:
            if rule(p):
                return f"u:{p.username}"
    return None


def requests_of_loan(session: Session, loan_id: int) -> list[ApprovalRequest]:
    return list(
        session.exec(
            select(ApprovalRequest)
            .where(ApprovalRequest.loan_id == loan_id)
            .order_by(ApprovalRequest.id.desc())  # type: ignore[union-attr]
        ).all()
    )
