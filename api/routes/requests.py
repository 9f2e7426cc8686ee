"""/api/v1: approval requests — filed on a loan (extension, classification proposal, write-off,
handover), read, withdrawn — and early-warning cases. Routes resolve resources and call the
services of approvals/ and cases/."""

from __future__ import annotations

from fastapi import APIRouter
from sqlmodel import Session

from api.auth import ActorDep
from api.deps import ClockDep, OneHopRoute, SessionDep, commit
from api.error_schema import error_responses
from api.params import CodeOrNone, Id, Limit, LoanNo, Offset
from api.request_schemas import (
    ApprovalDecisionPublic,
    ApprovalRequestPublic,
    ApprovalRequestsPublic,
    ClassificationProposalCreate,
    ExtensionRequestCreate,
    HandoverRequestCreate,
    RequestNotePublic,
    RequestWithdraw,
    WarningCasePublic,
    WarningCreate,
    WriteOffRequestCreate,
)
from api.routes.loans import org_paths
from approvals import filing
from approvals import requests as approval_requests
from approvals.models import ApprovalRequest
from approvals.queries import RequestView, list_requests, request_view
from cases.completion import EFFECTS
from cases.models import WarningCase
from cases.warnings import SIGNALS, raise_warning, warnings_of_loan
from core.identity import User
from loans.queries import visible_loan
from statemachines.enums import RequestKind
from tasks.access import Actor

router = APIRouter(tags=["approvals"], route_class=OneHopRoute)


def public(view: RequestView) -> ApprovalRequestPublic:
    r = view.request
    names = view.level_names
    return ApprovalRequestPublic(
        id=r.id or 0,
        kind=r.kind,
        state=str(r.state),
        loan_no=r.loan_no,
        level=r.level,
        round=r.round,
        levels=names,
        amount_cents=r.amount_cents,
        requested_by=r.requested_by,
        requested_on=r.requested_on,
        reason=r.reason,
        subject=r.subject,
        outcome=r.outcome,
        decided_on=r.decided_on,
        open_task_ids=[t.id or 0 for t in view.open_tasks],
        decisions=[
            ApprovalDecisionPublic(
                round=d.round,
                level=d.level,
                level_name=names[d.level - 1] if d.level <= len(names) else str(d.level),
                decision=d.decision,
                concluded=d.concluded,
                decided_by=d.decided_by,
                on_behalf_of=d.on_behalf_of,
                opinion=d.opinion,
                data=d.data,
                decided_at=d.decided_at,
            )
            for d in view.decisions
        ],
        notes=[
            RequestNotePublic(
                event=n.event, actor=n.actor, on_behalf_of=n.on_behalf_of, at=n.at, reason=n.reason
            )
            for n in view.notes
        ],  # fmt: skip
        version=r.version,
    )


def _filed(session: Session, request: ApprovalRequest, actor: Actor) -> ApprovalRequestPublic:
    commit(session)
    return public(request_view(session, request.id or 0, actor))


def _loan(session: Session, loan_no: str, actor: Actor) -> None:
    visible_loan(session, loan_no, org_paths(actor))  # 404 across branches


@router.post(
    "/loans/{loan_no}/extension-requests",
    response_model=ApprovalRequestPublic,
    status_code=201,
    responses=error_responses(401, 403, 404, 409, 422),
)
def file_extension(
    loan_no: LoanNo,
    body: ExtensionRequestCreate,
    session: SessionDep,
    actor: ActorDep,
    clock: ClockDep,
) -> ApprovalRequestPublic:
    _loan(session, loan_no, actor)
    request = filing.file_extension(
        session,
        loan_no,
        actor,
        EFFECTS,
        new_maturity_date=body.new_maturity_date,
        reason=body.reason,
        financial_difficulty=body.financial_difficulty,
        guarantor_consents=[c.model_dump(mode="json") for c in body.guarantor_consents],
        now=clock.now(),
        business_date=clock.today(),
    )
    return _filed(session, request, actor)


@router.post(
    "/loans/{loan_no}/classification-proposals",
    response_model=ApprovalRequestPublic,
    status_code=201,
    responses=error_responses(401, 403, 404, 409, 422),
)
def propose_classification(
    loan_no: LoanNo,
    body: ClassificationProposalCreate,
    session: SessionDep,
    actor: ActorDep,
    clock: ClockDep,
) -> ApprovalRequestPublic:
    _loan(session, loan_no, actor)
    request = filing.propose_classification(
        session,
        loan_no,
        actor,
        EFFECTS,
        proposed_class=body.proposed_class,
        reason=body.reason,
        evidence=body.evidence,
        now=clock.now(),
        business_date=clock.today(),
    )
    return _filed(session, request, actor)


@router.post(
    "/loans/{loan_no}/write-off-requests",
    response_model=ApprovalRequestPublic,
    status_code=201,
    responses=error_responses(401, 403, 404, 409, 422),
)
def file_write_off(
    loan_no: LoanNo,
    body: WriteOffRequestCreate,
    session: SessionDep,
    actor: ActorDep,
    clock: ClockDep,
) -> ApprovalRequestPublic:
    _loan(session, loan_no, actor)
    request = filing.file_write_off(
        session,
        loan_no,
        actor,
        EFFECTS,
        reason=body.reason,
        evidence=body.evidence,
        now=clock.now(),
        business_date=clock.today(),
    )
    return _filed(session, request, actor)


@router.post(
    "/loans/{loan_no}/handover-requests",
    response_model=ApprovalRequestPublic,
    status_code=201,
    responses=error_responses(401, 403, 404, 409, 422),
)
def file_handover(
    loan_no: LoanNo,
    body: HandoverRequestCreate,
    session: SessionDep,
    actor: ActorDep,
    clock: ClockDep,
) -> ApprovalRequestPublic:
    _loan(session, loan_no, actor)
    request = filing.file_handover(
        session,
        loan_no,
        actor,
        EFFECTS,
        reason=body.reason,
        now=clock.now(),
        business_date=clock.today(),
    )
    return _filed(session, request, actor)


def _loan_requests(
    session: Session, loan_no: str, actor: Actor, kind: RequestKind | None, limit: int, offset: int
) -> ApprovalRequestsPublic:
    loan = visible_loan(session, loan_no, org_paths(actor))
    rows, total = list_requests(
        session,
        actor,
        loan_id=loan.id,
        kind=kind.value if kind else None,
        limit=limit,
        offset=offset,
    )
    return _page(session, actor, rows, total)


def _page(
    session: Session, actor: Actor, rows: list[ApprovalRequest], total: int
) -> ApprovalRequestsPublic:
    return ApprovalRequestsPublic(
        data=[public(request_view(session, r.id or 0, actor)) for r in rows], count=total
    )


@router.get(
    "/loans/{loan_no}/requests",
    response_model=ApprovalRequestsPublic,
    responses=error_responses(401, 404, 422),
)
def read_loan_requests(
    loan_no: LoanNo,
    session: SessionDep,
    actor: ActorDep,
    kind: RequestKind | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> ApprovalRequestsPublic:
    return _loan_requests(session, loan_no, actor, kind, limit, offset)


@router.get(
    "/loans/{loan_no}/extension-requests",
    response_model=ApprovalRequestsPublic,
    responses=error_responses(401, 404, 422),
)
def read_extension_requests(
    loan_no: LoanNo, session: SessionDep, actor: ActorDep, limit: Limit = 50, offset: Offset = 0
) -> ApprovalRequestsPublic:
    return _loan_requests(session, loan_no, actor, RequestKind.extension, limit, offset)


@router.get(
    "/loans/{loan_no}/classification-proposals",
    response_model=ApprovalRequestsPublic,
    responses=error_responses(401, 404, 422),
)
def read_classification_proposals(
    loan_no: LoanNo, session: SessionDep, actor: ActorDep, limit: Limit = 50, offset: Offset = 0
) -> ApprovalRequestsPublic:
    return _loan_requests(session, loan_no, actor, RequestKind.classification, limit, offset)


@router.get(
    "/approval-requests", response_model=ApprovalRequestsPublic, responses=error_responses(401, 422)
)
def read_requests(
    session: SessionDep,
    actor: ActorDep,
    kind: RequestKind | None = None,
    state: CodeOrNone = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> ApprovalRequestsPublic:
    rows, total = list_requests(
        session, actor, kind=kind.value if kind else None, state=state, limit=limit, offset=offset
    )
    return _page(session, actor, rows, total)


@router.get(
    "/approval-requests/{request_id}",
    response_model=ApprovalRequestPublic,
    responses=error_responses(401, 403, 404, 422),
)
def read_request(request_id: Id, session: SessionDep, actor: ActorDep) -> ApprovalRequestPublic:
    return public(request_view(session, request_id, actor))


@router.post(
    "/approval-requests/{request_id}/withdraw",
    response_model=ApprovalRequestPublic,
    responses=error_responses(401, 403, 404, 409, 422),
)
def withdraw_request(
    request_id: Id, body: RequestWithdraw, session: SessionDep, actor: ActorDep, clock: ClockDep
) -> ApprovalRequestPublic:
    request = approval_requests.withdraw(
        session,
        request_id,
        actor,
        EFFECTS,
        reason=body.reason,
        now=clock.now(),
        business_date=clock.today(),
    )
    return _filed(session, request, actor)


def warning_public(session: Session, case: WarningCase) -> WarningCasePublic:
    owner = session.get(User, case.owner_id) if case.owner_id else None
    return WarningCasePublic(
        **case.model_dump(
            include={
                "id", "loan_no", "signals", "description", "raised_by", "raised_on", "grade",
                "measures", "disposal_plan", "deadline", "request_id", "closed_on",
            }
        ),
        state=str(case.state),
        owner=owner.username if owner else None,
    )  # fmt: skip


@router.get("/warnings/signals")
def read_signals() -> dict[str, dict[str, str]]:
    """The early-warning signals (DOMAIN §5): code → labels."""
    return {code: {"zh": zh, "en": en} for code, (zh, en) in SIGNALS.items()}


@router.post(
    "/loans/{loan_no}/warnings",
    response_model=WarningCasePublic,
    status_code=201,
    responses=error_responses(401, 403, 404, 409, 422),
)
def report_warning(
    loan_no: LoanNo, body: WarningCreate, session: SessionDep, actor: ActorDep, clock: ClockDep
) -> WarningCasePublic:
    loan = visible_loan(session, loan_no, org_paths(actor))
    approval_requests.require_filer(session, loan, actor)
    case = raise_warning(
        session,
        loan_no,
        actor,
        EFFECTS,
        signals=body.signals,
        description=body.description,
        evidence=body.evidence,
        now=clock.now(),
        business_date=clock.today(),
    )
    commit(session)
    return warning_public(session, case)


@router.get(
    "/loans/{loan_no}/warnings",
    response_model=list[WarningCasePublic],
    responses=error_responses(401, 404, 422),
)
def read_warnings(loan_no: LoanNo, session: SessionDep, actor: ActorDep) -> list[WarningCasePublic]:
    loan = visible_loan(session, loan_no, org_paths(actor))
    return [warning_public(session, c) for c in warnings_of_loan(session, loan.id or 0)]
