"""The chain's steps: open the deciding level's task, take a decision, and `advance` — bring the
world in line with the request's state (the level's task open; on approval the effect applied
once; on refusal or withdrawal the open tasks cancelled). `advance` is idempotent: the
approval-chain flow runs it on every continuation, and the transaction that takes a decision runs
it too, so the next level's task is in the inbox the moment the decision commits.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlmodel import Session

from approvals.effects import EffectContext
from approvals.levels import (
    REVISION,
    Effects,
    level_of,
    open_level_task,
    open_revision_task,
)
from approvals.models import ApprovalDecision, ApprovalRequest
from approvals.records import CONTINUE_FLOW, decisions_of, facts, fire, get_request, tasks_of
from core.errors import InsufficientAuthorityError, RuleViolationError
from core.identity import Principal, Role, principal_of, user_by_username
from forms import TaskForm, schema_hash, validate_form
from forms.reviews import RequestRevisionForm
from loans.authority import covers
from statemachines.enums import RequestKind, RequestState
from tasks import outbox
from tasks.access import Actor
from tasks.errors import TaskClosedError
from tasks.models import HumanTask
from tasks.service import cancel_as_system


def continue_chain(session: Session, request: ApprovalRequest, seq: int, now: datetime) -> None:
    """Ask for the approval-chain flow to continue this request (delivered by the outbox)."""
    outbox.enqueue(
        session,
        key=f"approval:{request.id}:{seq}",
        flow=CONTINUE_FLOW,
        parameters={"request_id": request.id, "seq": seq},
        now=now,
    )


def capacity(request: ApprovalRequest, level: int, roles: frozenset[Role]) -> frozenset[Role]:
    """The roles a decider acts in at `level`: that level's role only (a committee member who is
    also a branch head, deciding the head's level, has the head's limit)."""
    return frozenset({level_of(request, level).role}) & roles


def _context_from_decision(
    session: Session, request: ApprovalRequest, *, actor: str, now: datetime, business_date: date
) -> EffectContext:
    """The final decision as the effect needs it, rebuilt from its row (the flow's path)."""
    final = [d for d in decisions_of(session, request.id or 0, request.round) if d.concluded]
    if not final:
        return EffectContext(actor, None, frozenset(), None, now, business_date)
    decision = final[-1]
    task = session.get(HumanTask, decision.task_id)
    assert task is not None
    principal = principal_of(
        session, user_by_username(session, decision.on_behalf_of or decision.decided_by)
    )
    return EffectContext(
        actor=f"u:{decision.decided_by}",
        decider=decision.decided_by,
        decider_roles=capacity(request, decision.level, principal.roles),
        on_behalf_of=f"u:{decision.on_behalf_of}" if decision.on_behalf_of else None,
        now=now,
        business_date=decision.business_date,
        form=validate_form(task.kind, decision.data),
        form_kind=task.kind,
        schema_hash=schema_hash(task.kind),
    )


def advance(
    session: Session,
    request: ApprovalRequest,
    effects: Effects,
    *,
    actor: str,
    now: datetime,
    business_date: date,
    ctx: EffectContext | None = None,
    inbox_facts: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Make the world match the request's state; a second call finds nothing to do.
    `inbox_facts`: what the next level's inbox row shows, when the caller has them already."""
    state = RequestState(request.state)
    effect = effects[RequestKind(request.kind)]
    if state == RequestState.submitted:
        request.level = 1
        fire(
            session,
            request,
            "start",
            facts(session, request, actor),
            now=now,
            business_date=business_date,
        )
        state = RequestState.pending
    task_id = None
    if state == RequestState.pending:
        task_id = open_level_task(
            session, request, effects, actor=actor, now=now, business_date=business_date,
            facts=inbox_facts,
        ).id  # fmt: skip
    elif state == RequestState.returned:
        revision = open_revision_task(
            session, request, actor=actor, now=now, business_date=business_date
        )
        task_id = revision.id if revision else None
    elif request.outcome is None:  # approved, rejected or withdrawn: its effect, once
        for task in tasks_of(session, request, active_only=True):
            cancel_as_system(
                session,
                task,
                actor=actor,
                reason=f"审批申请已{state.label_zh} (request {state.value})",
                now=now,
                business_date=business_date,
            )
        context = ctx or _context_from_decision(
            session, request, actor=actor, now=now, business_date=business_date
        )
        if state == RequestState.approved:
            request.outcome = effect.approved(session, request, context)
        else:
            request.outcome = effect.closed(session, request, context)
        request.decided_on = business_date
        session.add(request)
        session.flush()
    return {
        "request_id": request.id,
        "state": str(request.state),
        "level": request.level,
        "round": request.round,
        "task_id": task_id,
        "outcome": request.outcome,
    }


def decision_of(form: TaskForm) -> str:
    """approve / reject / return_for_revision: every level's review form has a `decision`."""
    value = getattr(form, "decision", None)
    if value is None:
        raise RuleViolationError(
            f"表单 {form.kind} 不对申请作出决定 (form {form.kind} takes no decision on a request)",
            kind=form.kind,
        )
    return str(value)


def decide(
    session: Session,
    task: HumanTask,
    form: TaskForm,
    actor: Actor,
    acting_as: Principal,
    effects: Effects,
    *,
    now: datetime,
    business_date: date,
) -> ApprovalRequest:
    """A level's task was completed: record its decision, move the request and advance the
    chain — all in the completing transaction (DESIGN decision 2)."""
    request = get_request(session, int(task.context["approval_request_id"]), actor, for_update=True)
    if task.kind == REVISION:
        return _answer_revision(
            session, request, task, form, actor, effects, now=now, business_date=business_date
        )
    current = (
        task.context.get("round") == request.round and task.context.get("level") == request.level
    )
    if RequestState(request.state) != RequestState.pending or not current:
        raise TaskClosedError(
            f"审批申请 {request.id} 已为 {request.state}（第 {request.level} 级），此任务不再审批它 "
            f"(approval request {request.id} is {request.state} at level {request.level}: "
            "this task no longer decides it)",
            request_id=request.id,
            task_id=task.id,
        )
    kind = RequestKind(request.kind)
    decision = decision_of(form)
    effects[kind].check_decision(session, request, form, business_date)
    roles = capacity(request, request.level, acting_as.roles)
    concludes = decision == "approve" and covers(roles, kind, request.amount_cents)
    if decision == "approve" and not concludes and request.level >= len(request.chain):
        raise InsufficientAuthorityError(
            f"{acting_as.username} 无权批准金额 {request.amount_cents / 100:,.2f} 的{kind.label_zh}，"
            "审批链中也没有更高一级 "
            f"({acting_as.username} has no authority to approve a {kind.value} of "
            f"{request.amount_cents / 100:,.2f}, and no level of the chain is above this one)",
            request_id=request.id,
        )
    if decision == "return_for_revision" and request.requested_by_id is None:
        raise RuleViolationError(
            "系统自动提议的申请没有申请人可退回，请批准或否决 "
            "(an automatic proposal has no applicant to return it to: approve or reject it)",
            request_id=request.id,
        )
    event = decision  # the machine's events bear the decisions' names
    on_behalf = None if acting_as.user.id == actor.me.user.id else acting_as.username
    entry = fire(
        session,
        request,
        event,
        facts(
            session,
            request,
            actor,
            acting_as=f"u:{on_behalf}" if on_behalf else None,
            concludes=concludes,
        ),
        now=now,
        business_date=business_date,
        reason=getattr(form, "opinion", None),
        payload={"task_id": task.id, "decision": decision, "concluded": concludes},
        form_kind=task.kind,
        schema_hash=schema_hash(task.kind),
    )
    session.add(
        ApprovalDecision(
            request_id=request.id or 0,
            round=request.round,
            level=request.level,
            task_id=task.id or 0,
            decision=decision,
            concluded=concludes or decision == "reject",  # this decision ended the chain
            decided_by_id=actor.me.user.id or 0,
            decided_by=actor.me.username,
            on_behalf_of=on_behalf,
            opinion=getattr(form, "opinion", None),
            data=form.model_dump(mode="json"),
            business_date=business_date,
            decided_at=now,
        )
    )
    if event == "approve" and not concludes:
        request.level += 1  # the chain goes on to the next level
    session.add(request)
    session.flush()
    ctx = EffectContext(
        actor=actor.name,
        decider=actor.me.username,
        decider_roles=roles,
        on_behalf_of=f"u:{on_behalf}" if on_behalf else None,
        now=now,
        business_date=business_date,
        form=form,
        form_kind=task.kind,
        schema_hash=schema_hash(task.kind),
    )
    advance(
        session, request, effects, actor=actor.name, now=now, business_date=business_date,
        ctx=ctx, inbox_facts=task.context.get("facts"),
    )  # fmt: skip
    continue_chain(session, request, entry.chain_seq, now)
    return request


def _answer_revision(
    session: Session,
    request: ApprovalRequest,
    task: HumanTask,
    form: TaskForm,
    actor: Actor,
    effects: Effects,
    *,
    now: datetime,
    business_date: date,
) -> ApprovalRequest:
    assert isinstance(form, RequestRevisionForm)
    if RequestState(request.state) != RequestState.returned:
        raise TaskClosedError(
            f"审批申请 {request.id} 为 {request.state}，未被退回 "
            f"(approval request {request.id} is {request.state}, not returned)",
            request_id=request.id,
        )
    event = "resubmit" if form.action == "resubmit" else "withdraw"
    if event == "resubmit":
        request.round, request.level = request.round + 1, 1
    entry = fire(
        session,
        request,
        event,
        facts(session, request, actor),
        now=now,
        business_date=business_date,
        reason=form.note,
        payload={
            "task_id": task.id,
            "documents": [d.model_dump(mode="json") for d in form.documents],
        },
        form_kind=task.kind,
        schema_hash=schema_hash(task.kind),
    )
    advance(session, request, effects, actor=actor.name, now=now, business_date=business_date)
    continue_chain(session, request, entry.chain_seq, now)
    return request
