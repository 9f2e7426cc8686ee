"""The one path every task command takes (DESIGN decision 1): find the task the actor may
see, lock it at the version they loaded, fire the task machine with the actor's resolved
permission, journal the move. tasks.service (claim, release, delegate, cancel) and
tasks.submission (draft, complete) are built from these."""

from __future__ import annotations

from datetime import date, datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy.orm.exc import StaleDataError
from sqlmodel import Session, select

from core.errors import ConflictError, NotFoundError, TransitionNotAllowedError
from core.identity import Principal, User
from forms import schema_hash
from statemachines.enums import TaskState
from statemachines.human_task import HumanTaskLifecycle
from tasks.access import Actor, can_see, facts_for
from tasks.errors import (
    TaskAlreadyClaimedError,
    TaskAlreadyCompletedError,
    TaskClosedError,
    TaskNotClaimedError,
)
from tasks.journaling import journal_task
from tasks.models import HumanTask


def get_task(
    session: Session, task_id: int, actor: Actor, *, for_update: bool = False
) -> HumanTask:
    """The task if the actor may see it; otherwise "not found" (no leak across branches)."""
    query = _TASK_FOR_UPDATE if for_update else _TASK
    task = session.exec(query, params={"id": task_id}).first()
    if task is None or not can_see(actor, task):
        raise NotFoundError(f"未找到任务 {task_id} (no task {task_id})", task_id=task_id)
    return task


# built once: every task request runs one (a statement built per call recomputes its cache key)
_TASK = select(HumanTask).where(HumanTask.id == bindparam("id"))
_TASK_FOR_UPDATE = _TASK.with_for_update()


def username_of(session: Session, user_id: int | None) -> str | None:
    user = session.get(User, user_id) if user_id else None
    return user.username if user else None


def locked(session: Session, task_id: int, actor: Actor, expected_version: int | None) -> HumanTask:
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


def fire(
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
        HumanTaskLifecycle.fire_on(model, event, facts=facts)
    except TransitionNotAllowedError as exc:
        state = TaskState(task.state)
        if state == TaskState.claimed and event == "claim":
            raise TaskAlreadyClaimedError(
                task.id or 0, username_of(session, task.assignee_id)
            ) from exc
        if state in (TaskState.open, TaskState.escalated) and event not in ("claim", "assign"):
            raise TaskNotClaimedError(task.id or 0, event) from exc
        if state == TaskState.completed:
            raise TaskAlreadyCompletedError(
                task.id or 0, username_of(session, task.completed_by_id)
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


def on_behalf(actor: Actor, acting_as: Principal) -> str | None:
    return None if acting_as.user.id == actor.me.user.id else f"u:{acting_as.username}"


def finish(
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
            on_behalf_of=on_behalf(actor, acting_as),
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
