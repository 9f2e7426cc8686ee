"""Taking a decision: a level's task completed records its decision (who, in which capacity,
on behalf of whom), moves the request and advances the chain in the completing transaction
(DESIGN decision 2); the applicant's answer to a returned request (resubmit or withdraw)."""

from __future__ import annotations

from datetime import date, datetime

from sqlmodel import Session

from approvals.effects import EffectContext
from approvals.levels import REVISION, Effects
from approvals.models import ApprovalDecision, ApprovalRequest
from approvals.records import facts, fire, get_request
from approvals.steps import advance, capacity, continue_chain
from core.errors import InsufficientAuthorityError, RuleViolationError
from core.identity import Principal
from forms import TaskForm, schema_hash
from forms.reviews import RequestRevisionForm
from loans.authority import covers
from statemachines.enums import RequestKind, RequestState
from tasks.access import Actor
from tasks.errors import TaskClosedError
from tasks.models import HumanTask


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
