"""Task commands (DESIGN decision 1): each locks the task, checks its version, runs the task
machine with the actor's resolved permission, writes the journal — one transaction."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy.orm.exc import StaleDataError
from sqlmodel import Session, select

from audit import journal
from core.errors import ConflictError, NotFoundError, TransitionNotAllowedError
from core.identity import Principal, User, principal_of
from forms import schema_hash, validate_draft, validate_form
from statemachines.base import MachineUsageError
from statemachines.enums import TaskState
from statemachines.human_task import HumanTaskLifecycle, TaskFacts, TaskPermissionError
from tasks import outbox
from tasks.access import Actor, can_see, facts_for
from tasks.attachments import link, require_stored
from tasks.errors import (
    TaskAlreadyClaimedError,
    TaskAlreadyCompletedError,
    TaskClosedError,
    TaskNotClaimedError,
)
from tasks.four_eyes import check_four_eyes
from tasks.journaling import TASK, journal_task
from tasks.models import HumanTask


def get_task(
    session: Session, task_id: int, actor: Actor, *, for_update: bool = False
) -> HumanTask:
    """The task if the actor may see it; otherwise "not found" (no leak across branches)."""
    query = select(HumanTask).where(HumanTask.id == task_id)
    if for_update:
        query = query.with_for_update()
    task = session.exec(query).first()
    if task is None or not can_see(actor, task):
        raise NotFoundError(f"未找到任务 {task_id} (no task {task_id})", task_id=task_id)
    return task


def _username(session: Session, user_id: int | None) -> str | None:
    user = session.get(User, user_id) if user_id else None
    return user.username if user else None


def _locked(
    session: Session, task_id: int, actor: Actor, expected_version: int | None
) -> HumanTask:
    task = get_task(session, task_id, actor, for_update=True)
    if expected_version is not None and task.version != expected_version:
        raise ConflictError(
            f"任务 {task_id} 已被他人修改，请刷新后重试 "
            f"(task {task_id} changed since you loaded it; reload and try again)",
            task_id=task_id,
            expected_version=expected_version,
            version=task.version,
        )
    return task


def _fire(
    session: Session,
    task: HumanTask,
    event: str,
    actor: Actor,
    *,
    now: datetime,
    target: Principal | None = None,
    dry_run: bool = False,
) -> Principal:
    facts, acting_as = facts_for(actor, task, event, target)
    try:  # a dry run asks the machine on a stand-in: the task itself is not touched
        model = SimpleNamespace(state=task.state) if dry_run else task
        HumanTaskLifecycle.restore(model).fire(event, facts=facts)
    except TransitionNotAllowedError as exc:
        state = TaskState(task.state)
        if state == TaskState.claimed and event == "claim":
            raise TaskAlreadyClaimedError(
                task.id or 0, _username(session, task.assignee_id)
            ) from exc
        if state in (TaskState.open, TaskState.escalated) and event not in ("claim", "assign"):
            raise TaskNotClaimedError(task.id or 0, event) from exc
        if state == TaskState.completed:
            raise TaskAlreadyCompletedError(
                task.id or 0, _username(session, task.completed_by_id)
            ) from exc
        raise TaskClosedError(
            f"任务 {task.id} 当前为 {state}，不能 {event} (task {task.id} is {state}: {event} is not possible)",
            task_id=task.id,
            state=state,
            event=event,
        ) from exc
    if not dry_run:
        task.updated_at = now
    return acting_as


def _on_behalf(actor: Actor, acting_as: Principal) -> str | None:
    return None if acting_as.user.id == actor.me.user.id else f"u:{acting_as.username}"


def _finish(
    session: Session,
    task: HumanTask,
    event: str,
    before: str,
    actor: Actor,
    acting_as: Principal,
    *,
    now: datetime,
    business_date: date,
    reason: str | None = None,
    payload: dict[str, Any] | None = None,
    form_kind: str | None = None,
) -> HumanTask:
    session.add(task)
    try:
        journal_task(
            session,
            task,
            event,
            before,
            str(task.state),
            actor=actor.name,
            now=now,
            business_date=business_date,
            on_behalf_of=_on_behalf(actor, acting_as),
            reason=reason,
            payload=payload,
            form_kind=form_kind,
            schema_hash=schema_hash(form_kind) if form_kind else None,
        )
    except StaleDataError as exc:
        raise ConflictError(
            f"任务 {task.id} 正被他人修改，请刷新后重试 "
            f"(task {task.id} was changed concurrently; reload and try again)",
            task_id=task.id,
        ) from exc
    return task


def claim(
    session: Session,
    task_id: int,
    actor: Actor,
    *,
    now: datetime,
    business_date: date,
    expected_version: int | None = None,
) -> HumanTask:
    task = _locked(session, task_id, actor, expected_version)
    before = str(task.state)
    acting_as = _fire(session, task, "claim", actor, now=now)
    task.assignee_id, task.claimed_at = acting_as.user.id, now
    return _finish(
        session, task, "claim", before, actor, acting_as, now=now, business_date=business_date
    )


def release(
    session: Session,
    task_id: int,
    actor: Actor,
    *,
    now: datetime,
    business_date: date,
    expected_version: int | None = None,
) -> HumanTask:
    task = _locked(session, task_id, actor, expected_version)
    before = str(task.state)
    acting_as = _fire(session, task, "release", actor, now=now)
    task.assignee_id, task.claimed_at = None, None
    return _finish(
        session, task, "release", before, actor, acting_as, now=now, business_date=business_date
    )


def delegate(
    session: Session,
    task_id: int,
    actor: Actor,
    to: User,
    *,
    now: datetime,
    business_date: date,
    reason: str | None = None,
    expected_version: int | None = None,
) -> HumanTask:
    """Hand a claimed task to another candidate (its assignee or a supervisor); an unclaimed
    one (open / escalated) is *assigned* (分派) by a supervisor, journaled as `assign`."""
    task = _locked(session, task_id, actor, expected_version)
    before = str(task.state)
    unclaimed = TaskState(task.state) in (TaskState.open, TaskState.escalated)
    event = "assign" if unclaimed else "delegate"
    acting_as = _fire(session, task, event, actor, now=now, target=principal_of(session, to))
    task.assignee_id, task.claimed_at = to.id, now
    return _finish(
        session,
        task,
        event,
        before,
        actor,
        acting_as,
        now=now,
        business_date=business_date,
        reason=reason,
        payload={"to": to.username},
    )


def cancel(
    session: Session,
    task_id: int,
    actor: Actor,
    *,
    now: datetime,
    business_date: date,
    reason: str,
    expected_version: int | None = None,
) -> HumanTask:
    task = _locked(session, task_id, actor, expected_version)
    before = str(task.state)
    acting_as = _fire(session, task, "cancel", actor, now=now)
    task.outcome_note = reason
    return _finish(
        session,
        task,
        "cancel",
        before,
        actor,
        acting_as,
        now=now,
        business_date=business_date,
        reason=reason,
    )


def cancel_as_system(
    session: Session,
    task: HumanTask,
    *,
    actor: str,
    reason: str,
    now: datetime,
    business_date: date,
) -> HumanTask:
    """Cancel a task because what it was for is gone (a withdrawn request, a closed loan): the
    domain decided it, so the machine sees the system acting; `actor` is who caused it."""
    before = str(task.state)
    facts = TaskFacts(actor=actor, is_system=True)
    HumanTaskLifecycle.restore(task).fire("cancel", facts=facts)
    task.outcome_note, task.updated_at = reason, now
    session.add(task)
    journal_task(
        session,
        task,
        "cancel",
        before,
        str(task.state),
        actor=actor,
        now=now,
        business_date=business_date,
        reason=reason,
    )
    return task


def require_assignee(session: Session, task: HumanTask, actor: Actor, doing: str) -> None:
    """Only the assignee works on a claimed task — its draft, its files, its form — checked
    before anything is stored: the task's state first (409), then who is asking (403)."""
    state = TaskState(task.state)
    if state in (TaskState.open, TaskState.escalated):
        raise TaskNotClaimedError(task.id or 0, doing)
    if state == TaskState.completed:
        raise TaskAlreadyCompletedError(task.id or 0, _username(session, task.completed_by_id))
    if state != TaskState.claimed:
        raise TaskClosedError(
            f"任务 {task.id} 当前为 {state} (task {task.id} is {state})",
            task_id=task.id,
            state=state,
        )
    facts, _ = facts_for(actor, task, "complete")
    if facts.read_only:
        raise TaskPermissionError(
            "审计人员只能查看任务，不能操作 (auditors can read tasks but not act on them)",
            actor=facts.actor,
            rule="read_only",
        )
    if not facts.is_assignee:
        raise TaskPermissionError(
            f"此任务不在 {facts.actor} 的待办中，请先领取 (the task is not in {facts.actor}'s inbox; claim it first)",
            actor=facts.actor,
            rule="not_assignee",
        )


def save_draft(
    session: Session,
    task_id: int,
    actor: Actor,
    data: Mapping[str, Any],
    *,
    now: datetime,
    expected_version: int | None = None,
) -> HumanTask:
    """Keep a partial form (not journaled: a draft decides nothing)."""
    task = _locked(session, task_id, actor, expected_version)
    require_assignee(session, task, actor, "save a draft of")
    task.draft = validate_draft(task.kind, data)
    task.updated_at = now
    session.add(task)
    session.flush()
    link(session, "task", task.id or 0, task.draft)  # whoever sees the task sees its files
    return task


def complete(
    session: Session,
    task_id: int,
    actor: Actor,
    data: Mapping[str, Any],
    *,
    now: datetime,
    business_date: date,
    expected_version: int | None = None,
    decided_by_caller: bool = False,
) -> HumanTask:
    """Validate the form, check four eyes, complete, journal the result, queue the resume.

    A level of an approval chain is completed only through cases.completion.complete_task
    (`decided_by_caller`), which records the decision in the same transaction: completed here
    alone, the task would be done and its request none the wiser."""
    task = _locked(session, task_id, actor, expected_version)
    if "approval_request_id" in task.context and not decided_by_caller:
        raise MachineUsageError(
            f"任务 {task_id} 审批申请 {task.context['approval_request_id']}，须经审批流程提交 "
            f"(task {task_id} decides approval request {task.context['approval_request_id']}: "
            "complete it through cases.completion.complete_task)",
            task_id=task_id,
        )
    if TaskState(task.state) == TaskState.completed:  # a double submit: one completion only
        raise TaskAlreadyCompletedError(task_id, _username(session, task.completed_by_id))
    # who may complete is decided before the form is read: a stranger gets 403, not field errors
    facts, acting_as = facts_for(actor, task, "complete")
    if TaskState(task.state) != TaskState.claimed or facts.read_only or not facts.is_assignee:
        _fire(session, task, "complete", actor, now=now)  # raises the precise refusal
    form = validate_form(task.kind, data)
    require_stored(session, form.attachments())
    check_four_eyes(session, task, actor, acting_as, form)
    before = str(task.state)
    acting_as = _fire(session, task, "complete", actor, now=now)
    task.result = form.model_dump(mode="json")
    link(session, "task", task.id or 0, task.result)  # whoever sees the task sees its files
    task.form_schema_version = form.schema_version
    task.completed_by_id, task.completed_at = actor.me.user.id, now
    task.on_behalf_of_id = acting_as.user.id if acting_as.user.id != actor.me.user.id else None
    task.draft = None
    follow = task.context.get("continue")
    if isinstance(follow, dict):  # a flow continues after this task (DESIGN decision 2)
        outbox.enqueue(
            session,
            key=f"task:{task.id}:complete",
            flow=str(follow["flow"]),
            parameters={**follow.get("parameters", {}), "task_id": task.id},
            now=now,
        )
    return _finish(
        session,
        task,
        "complete",
        before,
        actor,
        acting_as,
        now=now,
        business_date=business_date,
        payload=task.result,
        form_kind=task.kind,
    )


def record_refusal(
    session: Session,
    task_id: int,
    actor: Actor,
    event: str,
    error: Exception,
    *,
    now: datetime,
    business_date: date,
) -> None:
    """Refused attempts are recorded (in their own transaction, since the attempt rolled back)."""
    journal.append(
        session,
        aggregate_type=TASK,
        aggregate_id=str(task_id),
        machine="refusals",
        event=f"refused_{event}",
        from_state=None,
        to_state=None,
        actor=actor.name,
        now=now,
        business_date=business_date,
        reason=str(error),
        payload={"code": getattr(error, "code", type(error).__name__)},
    )
