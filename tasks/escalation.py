"""The SLA ladder of every human task (DOMAIN §4 "a late inspection is itself a finding"), as
data: a task not done by its due date is reminded to its assignee, then reassigned to the head of
its unit, then one level up — each step on the business calendar, journaled, fired once per task
(a unique row per task and step), never again for the same breach.

An approval level's task is *copied* up, not reassigned: who decides a level is the chain's
rule (four eyes, authority), so the heads above are told and the decider stays.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import or_
from sqlmodel import Session, col, select

from audit import journal
from core.calendar import BusinessCalendar
from core.identity import OrgUnit, OrgUnitKind, Role, org_unit_by_code
from core.settings import Settings, get_settings
from statemachines.enums import TaskState
from statemachines.human_task import HumanTaskLifecycle, TaskFacts
from tasks.access import Actor
from tasks.journaling import MACHINE, TASK
from tasks.models import HumanTask, Notification, TaskEscalation

REMIND, HEAD, UP = "remind", "head", "up"
SLA = "sla"  # journal machine of the ladder's steps (the task machine moves on `escalate`)
HEAD_ROLE = {
    OrgUnitKind.branch: Role.branch_head,
    OrgUnitKind.sub_branch: Role.branch_head,
    OrgUnitKind.department: Role.department_head,
}


@dataclass(frozen=True)
class SlaStep:
    number: int
    action: str
    after_business_days: int  # after the due date


def sla_ladder(settings: Settings | None = None) -> tuple[SlaStep, ...]:
    s = settings or get_settings()
    return (
        SlaStep(1, REMIND, s.sla_remind_after_business_days),
        SlaStep(2, HEAD, s.sla_head_after_business_days),
        SlaStep(3, UP, s.sla_upper_after_business_days),
    )


@dataclass
class EscalationResult:
    reminders: int = 0
    escalations: int = 0
    copies: int = 0


@dataclass(frozen=True)
class Target:
    unit: OrgUnit
    role: Role


def _top(session: Session, settings: Settings) -> Target:
    """Where escalations above a branch go (授信管理部 by default), and its head."""
    top = org_unit_by_code(session, settings.escalation_top_unit)
    return Target(top, HEAD_ROLE.get(OrgUnitKind(top.kind), Role.department_head))


def _head_of(session: Session, unit: OrgUnit, settings: Settings) -> Target:
    """The head above work done in `unit`: its own head (the head office has none: the top)."""
    role = HEAD_ROLE.get(OrgUnitKind(unit.kind))
    return Target(unit, role) if role is not None else _top(session, settings)


def _up_from(session: Session, unit: OrgUnit, settings: Settings) -> Target:
    parent = session.get(OrgUnit, unit.parent_id) if unit.parent_id else None
    if parent is None or parent.parent_id is None:  # above a branch: the escalation unit
        return _top(session, settings)
    return _head_of(session, parent, settings)


def escalate_overdue(
    session: Session,
    *,
    on: date,
    calendar: BusinessCalendar,
    actor: str,
    now: datetime,
    settings: Settings | None = None,
) -> EscalationResult:
    """Fire every ladder step due on `on` that has not fired yet, oldest breach first."""
    s = settings or get_settings()
    ladder = sla_ladder(s)
    late = list(
        session.exec(
            select(HumanTask)
            .where(
                col(HumanTask.state).in_([t.value for t in TaskState if t.is_active]),
                col(HumanTask.due_date) < on,
            )
            .order_by(col(HumanTask.due_date), col(HumanTask.id))
        ).all()
    )
    fired = _fired(session, [t.id for t in late if t.id is not None])
    result = EscalationResult()
    for task in late:
        for step in ladder:
            if (task.id, step.number) in fired:
                continue
            if calendar.add_business_days(task.due_date, step.after_business_days) > on:
                break
            _fire(session, task, step, on=on, actor=actor, now=now, settings=s, result=result)
    return result


def _fired(session: Session, task_ids: Sequence[int]) -> set[tuple[int, int]]:
    found: set[tuple[int, int]] = set()
    for start in range(0, len(task_ids), 1000):
        rows = session.exec(
            select(TaskEscalation.task_id, TaskEscalation.step).where(
                col(TaskEscalation.task_id).in_(task_ids[start : start + 1000])
            )
        ).all()
        found.update((t, s) for t, s in rows)
    return found


def _notify(
    session: Session,
    task: HumanTask,
    now: datetime,
    zh: str,
    en: str,
    *,
    user_id: int | None = None,
    target: Target | None = None,
) -> None:
    session.add(
        Notification(
            user_id=user_id,
            role=target.role.value if target else None,
            org_path=target.unit.path if target else None,
            task_id=task.id,
            kind="sla",
            message_zh=zh,
            message_en=en,
            created_at=now,
        )
    )


def _fire(
    session: Session,
    task: HumanTask,
    step: SlaStep,
    *,
    on: date,
    actor: str,
    now: datetime,
    settings: Settings,
    result: EscalationResult,
) -> None:
    late = (on - task.due_date).days
    title, before = task.title, str(task.state)
    target: Target | None = None
    action = step.action
    if step.action == REMIND:
        if task.assignee_id or task.candidate_user_id:
            _notify(session, task, now, f"任务「{title}」已逾期 {late} 天，请尽快处理",
                    f"Task '{title}' is {late} days overdue",
                    user_id=task.assignee_id or task.candidate_user_id)  # fmt: skip
        else:
            unit = session.get(OrgUnit, task.candidate_org_unit_id)
            assert unit is not None and task.candidate_role is not None
            _notify(session, task, now, f"任务「{title}」已逾期 {late} 天，尚无人领取",
                    f"Task '{title}' is {late} days overdue and unclaimed",
                    target=Target(unit, Role(task.candidate_role)))  # fmt: skip
        result.reminders += 1
    else:
        unit = session.get(OrgUnit, task.candidate_org_unit_id)
        assert unit is not None
        target = (
            _head_of(session, unit, settings)
            if step.action == HEAD
            else _up_from(session, unit, settings)
        )
        copy_only = "approval_request_id" in task.context or (
            target.role.value == task.candidate_role and target.unit.id == unit.id
        )
        if copy_only:
            action = f"{step.action}_copy"
            _notify(session, task, now, f"抄送：任务「{title}」已逾期 {late} 天",
                    f"Copy: task '{title}' is {late} days overdue", target=target)  # fmt: skip
            result.copies += 1
        else:
            _reassign(session, task, target, now=now)
            _notify(session, task, now, f"任务「{title}」逾期 {late} 天，已升级给您处理",
                    f"Task '{title}' ({late} days overdue) is escalated to you",
                    target=target)  # fmt: skip
            result.escalations += 1
    session.add(
        TaskEscalation(
            task_id=task.id or 0,
            step=step.number,
            action=action,
            business_date=on,
            target_role=target.role.value if target else None,
            target_org_path=target.unit.path if target else None,
            created_at=now,
        )
    )
    session.flush()
    journal.append(
        session,
        aggregate_type=TASK,
        aggregate_id=str(task.id),
        machine=MACHINE if action in (HEAD, UP) else SLA,  # a reassignment moves the machine
        event="escalate" if action in (HEAD, UP) else action,
        from_state=before if action in (HEAD, UP) else None,
        to_state=str(task.state) if action in (HEAD, UP) else None,
        actor=actor,
        now=now,
        business_date=on,
        reason=f"时限第{step.number}步：已超过截止日 {task.due_date} {late} 天",
        payload={
            "step": step.number,
            "action": action,
            "target_role": target.role.value if target else None,
            "target_unit": target.unit.code if target else None,
        },
    )


def _reassign(session: Session, task: HumanTask, target: Target, *, now: datetime) -> None:
    """Escalate: the task goes to the target's candidates; who it was with is kept, so the head
    can hand it back (delegate) to one of them."""
    context = dict(task.context)
    context["escalated_from"] = context.get("escalated_from") or {  # the first candidates
        "role": task.candidate_role,
        "org_path": task.candidate_org_path,
        "user_id": task.candidate_user_id,
    }
    HumanTaskLifecycle.fire_on(
        task, "escalate", facts=TaskFacts(actor="system:sla", is_system=True)
    )
    task.context = context
    task.candidate_role, task.candidate_user_id = target.role.value, None
    task.candidate_org_unit_id, task.candidate_org_path = target.unit.id or 0, target.unit.path
    task.assignee_id, task.claimed_at, task.updated_at = None, None, now
    session.add(task)


def notifications_for(session: Session, actor: Actor, limit: int = 10) -> list[Notification]:
    """Unread messages for the actor: addressed to them, or to a role they hold in a unit of
    their subtree."""
    conditions: list[Any] = [col(Notification.user_id).in_(actor.user_ids)]
    for p in actor.principals:
        for role in p.roles:
            conditions.append(
                (col(Notification.role) == role.value)
                & col(Notification.org_path).startswith(p.org_path)
            )
    return list(
        session.exec(
            select(Notification)
            .where(or_(*conditions), col(Notification.read_at).is_(None))
            .order_by(col(Notification.id).desc())
            .limit(limit)
        ).all()
    )
