"""The tasks of a chain's levels: the deciding level's task (its candidates, due date, the facts
its inbox row shows), the applicant's task when a request is returned, and finding them again.
Idempotent by key: `approval:<request>:r<round>:l<level>`."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from sqlmodel import Session, select

from approvals.chains import ChainLevel, unit_for
from approvals.effects import Effect
from approvals.models import ApprovalRequest
from approvals.records import chain_key, decisions_of, revision_key, task_key
from core.calendar import get_calendar
from core.errors import RuleViolationError
from core.identity import OrgUnit, User, user_by_username
from core.settings import get_settings
from loans.book import get_loan
from loans.models import Borrower, Loan
from statemachines.enums import RequestKind
from tasks.models import HumanTask
from tasks.opening import TaskSpec, open_task
from tasks.people import someone_holds

Effects = Mapping[RequestKind, Effect]
REVISION = "request_revision"


def level_of(request: ApprovalRequest, number: int | None = None) -> ChainLevel:
    return ChainLevel.model_validate(request.chain[(number or request.level) - 1])


def _title(session: Session, loan: Loan, request: ApprovalRequest, what: str) -> str:
    borrower = session.get(Borrower, loan.borrower_id)
    return f"{RequestKind(request.kind).label_zh} · {what} · {borrower.name if borrower else ''}"


def open_level_task(
    session: Session,
    request: ApprovalRequest,
    effects: Effects,
    *,
    actor: str,
    now: datetime,
    business_date: date,
    facts: dict[str, Any] | None = None,
) -> HumanTask:
    """The deciding level's task (idempotent by request, round and level). Its `facts` are what
    the inbox row shows: computed from the book when the chain starts, carried on from level to
    level (the task page shows them fresh, and each decision is checked against the book)."""
    existing = session.exec(select(HumanTask).where(HumanTask.key == task_key(request))).first()
    if existing is not None:
        return existing
    level = level_of(request)
    loan = get_loan(session, request.loan_no)
    if facts is None:
        facts = effects[RequestKind(request.kind)].describe(session, request, business_date)
    branch = session.get(OrgUnit, loan.branch_id)
    assert branch is not None
    days = level.due_business_days or get_settings().approval_level_business_days
    requester = session.get(User, request.requested_by_id) if request.requested_by_id else None
    spec = TaskSpec(
        kind=level.task_kind,
        key=task_key(request),
        title=_title(session, loan, request, level.name_zh),
        due_date=get_calendar().add_business_days(business_date, days),
        org_unit=unit_for(session, level, branch),
        candidate_role=level.role,
        loan=loan,
        requested_by=requester,
        chain_key=chain_key(request),
        chain_level=request.level,
        priority=2,
        context={
            "approval_request_id": request.id,
            "request_kind": request.kind,
            "round": request.round,
            "level": request.level,
            "levels": len(request.chain),
            "level_name_zh": level.name_zh,
            "level_name_en": level.name_en,
            "requested_by": request.requested_by,
            "reason": request.reason,
            "facts": facts,
        },
    )
    task, _ = open_task(session, spec, actor=actor, now=now, business_date=business_date)
    return task


def open_revision_task(
    session: Session, request: ApprovalRequest, *, actor: str, now: datetime, business_date: date
) -> HumanTask | None:
    """A returned request goes back to its applicant (a named task in their inbox)."""
    if request.requested_by_id is None:
        return None
    applicant = session.get(User, request.requested_by_id)
    assert applicant is not None
    spec = TaskSpec(
        kind=REVISION,
        key=revision_key(request),
        title=_title(session, get_loan(session, request.loan_no), request, "退回补充"),
        due_date=get_calendar().add_business_days(
            business_date, get_settings().approval_level_business_days
        ),
        org_unit=session.get(OrgUnit, applicant.org_unit_id) or _missing_unit(applicant),
        candidate_user=applicant,
        loan=get_loan(session, request.loan_no),
        chain_key=revision_key(request),
        context={
            "approval_request_id": request.id,
            "request_kind": request.kind,
            "round": request.round,
            "returned_by_level": request.level,
        },
    )
    task, _ = open_task(session, spec, actor=actor, now=now, business_date=business_date)
    return task


def _missing_unit(user: User) -> OrgUnit:
    raise RuleViolationError(
        f"用户 {user.username} 未归属任何机构 (user {user.username} has no org unit)"
    )


def excluded_deciders(session: Session, request: ApprovalRequest) -> set[int]:
    """Who four eyes refuses at the request's next decision: its applicant and whoever decided
    (or was stood in for at) an earlier level of this round."""
    excluded = {request.requested_by_id} if request.requested_by_id else set()
    for d in decisions_of(session, request.id or 0, request.round):
        excluded.add(d.decided_by_id)
        if d.on_behalf_of:
            excluded.add(user_by_username(session, d.on_behalf_of).id or 0)
    return excluded


def someone_may_decide(session: Session, request: ApprovalRequest) -> bool:
    """Whether anyone is left to decide the request's level (its task's candidates) once four
    eyes has excluded the applicant and this round's deciders."""
    level = level_of(request)
    branch = session.get(OrgUnit, get_loan(session, request.loan_no).branch_id)
    assert branch is not None
    unit = unit_for(session, level, branch)
    return someone_holds(session, level.role, unit.path, excluded_deciders(session, request))
