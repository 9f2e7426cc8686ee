"""Working a claimed task's form (DESIGN decisions 1 and 6): only its assignee saves a draft
or completes it, checked before anything is stored; completing validates the form, checks
four eyes, journals the result and queues the flow that waits for it — one transaction."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from sqlmodel import Session

from audit import journal
from forms import validate_draft, validate_form
from statemachines.base import MachineUsageError
from statemachines.enums import TaskState
from statemachines.human_task import TaskPermissionError
from tasks import outbox
from tasks.access import Actor, facts_for
from tasks.attachments import link, require_stored
from tasks.errors import TaskAlreadyCompletedError, TaskClosedError, TaskNotClaimedError
from tasks.four_eyes import check_four_eyes
from tasks.journaling import TASK
from tasks.models import HumanTask
from tasks.transition import finish, fire, locked, username_of


def require_assignee(session: Session, task: HumanTask, actor: Actor, doing: str) -> None:
    """Only the assignee works on a claimed task — its draft, its files, its form — checked
    before anything is stored: the task's state first (409), then who is asking (403)."""
    state = TaskState(task.state)
    if state in (TaskState.open, TaskState.escalated):
        raise TaskNotClaimedError(task.id or 0, doing)
    if state == TaskState.completed:
        raise TaskAlreadyCompletedError(task.id or 0, username_of(session, task.completed_by_id))
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
    task = locked(session, task_id, actor, expected_version)
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
    task = locked(session, task_id, actor, expected_version)
    if "approval_request_id" in task.context and not decided_by_caller:
        raise MachineUsageError(
            f"任务 {task_id} 审批申请 {task.context['approval_request_id']}，须经审批流程提交 "
            f"(task {task_id} decides approval request {task.context['approval_request_id']}: "
            "complete it through cases.completion.complete_task)",
            task_id=task_id,
        )
    # who may complete is decided before the form is read: a stranger gets 403, not field errors;
    # a double submit gets "already completed" (one completion only)
    require_assignee(session, task, actor, "complete")
    _, acting_as = facts_for(actor, task, "complete")
    form = validate_form(task.kind, data)
    require_stored(session, form.attachments())
    check_four_eyes(session, task, actor, acting_as, form)
    before = str(task.state)
    acting_as = fire(session, task, "complete", actor, now=now)
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
    return finish(
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
