"""Loading, locking and journaling approval requests, and the facts their machine checks.

Every move of a request is one `ApprovalRequestMachine` event and one journal entry on the
"approval" chain of that request, with the authenticated actor and on-behalf-of.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm.exc import StaleDataError
from sqlmodel import Session, col, select

from approvals.models import ApprovalDecision, ApprovalRequest
from audit import journal
from audit.journal import JournalEntry
from audit.replay import OPEN_EVENT
from core.errors import ConflictError, NotFoundError
from statemachines.approval_request import ApprovalFacts, ApprovalRequestMachine
from statemachines.enums import RequestState, TaskState
from tasks.access import SUPERVISOR_ROLES, Actor, can_see
from tasks.models import HumanTask

APPROVAL = "approval"  # journal aggregate type
MACHINE = "approval_request"
CONTINUE_FLOW = "approval-chain"  # the flow that continues a chain (flows/launch.py deploys it)


def actor_name(actor: Actor | str) -> str:
    return actor if isinstance(actor, str) else actor.name


def round_key(request_id: int, round_: int) -> str:
    """The chain of one round of a request (tasks.four_eyes reads it)."""
    return f"approval:{request_id}:r{round_}"


def request_of_chain(key: str | None) -> int | None:
    """The request a task's chain key (`round_key`, `revision_key`) belongs to, if any."""
    parts = (key or "").split(":")
    return (
        int(parts[1]) if len(parts) > 2 and parts[0] == "approval" and parts[1].isdigit() else None
    )


def chain_key(request: ApprovalRequest) -> str:
    return round_key(request.id or 0, request.round)


def task_key(request: ApprovalRequest) -> str:
    """The task of the deciding level."""
    return f"{chain_key(request)}:l{request.level}"


def revision_key(request: ApprovalRequest) -> str:
    """The applicant's task when the request is returned."""
    return f"{chain_key(request)}:revision"


def tasks_of(
    session: Session, request: ApprovalRequest, *, active_only: bool = False
) -> list[HumanTask]:
    """The request's tasks, by their exact keys (every round, level and revision it can have
    had): the unique index on the key finds them, where a LIKE on a prefix would scan."""
    keys = [
        f"{round_key(request.id or 0, r)}:{suffix}"
        for r in range(1, request.round + 1)
        for suffix in [*(f"l{n}" for n in range(1, len(request.chain) + 1)), "revision"]
    ]
    query = select(HumanTask).where(col(HumanTask.key).in_(keys))
    if active_only:
        query = query.where(col(HumanTask.state).in_([s.value for s in TaskState if s.is_active]))
    return list(session.exec(query).all())


def visible(session: Session, actor: Actor | str, request: ApprovalRequest) -> bool:
    """People see the requests of their org subtree (auditors everything) and those they decide
    a level of (the credit department's head, the committee); flows see all."""
    if isinstance(actor, str) or any(p.sees(request.branch_path) for p in actor.principals):
        return True
    return any(can_see(actor, task) for task in tasks_of(session, request))


def get_request(
    session: Session, request_id: int, actor: Actor | str, *, for_update: bool = False
) -> ApprovalRequest:
    query = select(ApprovalRequest).where(ApprovalRequest.id == request_id)
    if for_update:
        query = query.with_for_update()
    request = session.exec(query).first()
    if request is None or not visible(session, actor, request):
        raise NotFoundError(
            f"未找到审批申请 {request_id} (no approval request {request_id})", request_id=request_id
        )
    return request


def decisions_of(
    session: Session, request_id: int, round_: int | None = None
) -> list[ApprovalDecision]:
    query = select(ApprovalDecision).where(ApprovalDecision.request_id == request_id)
    if round_ is not None:
        query = query.where(ApprovalDecision.round == round_)
    return list(
        session.exec(query.order_by(col(ApprovalDecision.round), col(ApprovalDecision.level))).all()
    )


def facts(
    session: Session,
    request: ApprovalRequest,
    actor: Actor | str,
    *,
    acting_as: str | None = None,
    concludes: bool = False,
) -> ApprovalFacts:
    """What the machine checks, for this request and actor (earlier deciders of this round)."""
    earlier = tuple(
        f"u:{name}"
        for d in decisions_of(session, request.id or 0, request.round)
        for name in (d.decided_by, d.on_behalf_of)
        if name
    )
    if isinstance(actor, str):
        return ApprovalFacts(
            actor=actor, requester=request.requested_by, is_system=True, concludes=concludes
        )
    supervisor = any(
        bool(p.roles & SUPERVISOR_ROLES) and request.branch_path.startswith(p.org_path)
        for p in actor.principals
    )
    return ApprovalFacts(
        actor=actor.name,
        acting_as=acting_as,
        requester=request.requested_by,
        earlier_deciders=earlier,
        concludes=concludes,
        is_supervisor=supervisor,
        read_only=actor.read_only,
    )


def fire(
    session: Session,
    request: ApprovalRequest,
    event: str,
    facts_: ApprovalFacts,
    *,
    now: datetime,
    business_date: Any,
    reason: str | None = None,
    payload: dict[str, Any] | None = None,
    form_kind: str | None = None,
    schema_hash: str | None = None,
) -> JournalEntry:
    """Move the request by `event` (refused events raise, nothing changes) and journal it."""
    before = str(request.state)
    ApprovalRequestMachine.fire_on(request, event, facts=facts_)
    request.updated_at = now
    session.add(request)
    flush(session, request)
    return journal.append(
        session,
        aggregate_type=APPROVAL,
        aggregate_id=str(request.id),
        machine=MACHINE,
        event=event,
        from_state=before,
        to_state=str(request.state),
        actor=facts_.actor,
        on_behalf_of=facts_.acting_as,
        now=now,
        business_date=business_date,
        reason=reason,
        payload={"level": request.level, "round": request.round, **(payload or {})},
        form_kind=form_kind,
        schema_hash=schema_hash,
    )


def journal_opened(
    session: Session, request: ApprovalRequest, *, now: datetime, business_date: Any
) -> None:
    journal.append(
        session,
        aggregate_type=APPROVAL,
        aggregate_id=str(request.id),
        machine=MACHINE,
        event=OPEN_EVENT,
        from_state=None,
        to_state=RequestState.submitted,
        actor=request.requested_by,
        now=now,
        business_date=business_date,
        reason=request.reason,
        payload={
            "kind": request.kind,
            "loan_no": request.loan_no,
            "amount_cents": request.amount_cents,
            "subject": request.subject,
            "chain": [level["name_zh"] for level in request.chain],
        },
    )


def flush(session: Session, request: ApprovalRequest) -> None:
    try:
        session.flush()
    except StaleDataError as exc:
        raise ConflictError(
            f"审批申请 {request.id} 正被他人修改，请刷新后重试 "
            f"(approval request {request.id} was changed concurrently; reload and try again)",
            request_id=request.id,
        ) from exc


def live_requests(
    session: Session, loan_ids: Sequence[int], kind: str
) -> dict[int, ApprovalRequest]:
    """The live request of `kind` of each loan that has one (there is at most one)."""
    found: dict[int, ApprovalRequest] = {}
    ids = list(loan_ids)
    for start in range(0, len(ids), 1000):
        rows = session.exec(
            select(ApprovalRequest).where(
                col(ApprovalRequest.loan_id).in_(ids[start : start + 1000]),
                ApprovalRequest.kind == kind,
                col(ApprovalRequest.state).in_([s.value for s in RequestState if s.is_live]),
            )
        ).all()
        found.update((r.loan_id, r) for r in rows)
    return found
