"""Task commands (DESIGN decision 1): claim, release, delegate or assign, cancel — each locks
the task, checks its version, runs the task machine with the actor's resolved permission and
writes the journal in one transaction (the path: tasks.transition). Working the form (draft,
complete) lives in tasks.submission; both are reached through this module."""

from __future__ import annotations

from datetime import date, datetime

from sqlmodel import Session

from core.identity import User, principal_of
from statemachines.enums import TaskState
from statemachines.human_task import HumanTaskLifecycle, TaskFacts
from tasks.access import Actor
from tasks.journaling import journal_task
from tasks.models import HumanTask
from tasks.submission import complete as complete
from tasks.submission import record_refusal as record_refusal
from tasks.submission import require_assignee as require_assignee
from tasks.submission import save_draft as save_draft
from tasks.transition import finish, fire, locked
from tasks.transition import get_task as get_task


def claim(
    session: Session,
    task_id: int,
    actor: Actor,
    *,
    now: datetime,
    business_date: date,
    expected_version: int | None = None,
) -> HumanTask:
    task = locked(session, task_id, actor, expected_version)
    before = str(task.state)
    acting_as = fire(session, task, "claim", actor, now=now)
    task.assignee_id, task.claimed_at = acting_as.user.id, now
    return finish(
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
    task = locked(session, task_id, actor, expected_version)
    before = str(task.state)
    acting_as = fire(session, task, "release", actor, now=now)
    task.assignee_id, task.claimed_at = None, None
    return finish(
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
    task = locked(session, task_id, actor, expected_version)
    before = str(task.state)
    unclaimed = TaskState(task.state) in (TaskState.open, TaskState.escalated)
    event = "assign" if unclaimed else "delegate"
    acting_as = fire(session, task, event, actor, now=now, target=principal_of(session, to))
    task.assignee_id, task.claimed_at = to.id, now
    return finish(
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
    task = locked(session, task_id, actor, expected_version)
    before = str(task.state)
    acting_as = fire(session, task, "cancel", actor, now=now)
    task.outcome_note = reason
    return finish(
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
    HumanTaskLifecycle.fire_on(task, "cancel", facts=facts)
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
