"""Who may see and do what with a task: candidates (role + org subtree, or a named user),
assignees, supervisors, deputies acting on behalf of someone, and read-only auditors."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from sqlmodel import Session

from core.identity import (
    Principal,
    Role,
    User,
    principal_of,
    principals_for,
    signed_in_principal,
)
from statemachines.human_task import TaskFacts
from tasks.models import HumanTask

SUPERVISOR_ROLES = frozenset({Role.branch_head, Role.department_head, Role.admin})


@dataclass(frozen=True)
class Actor:
    """The signed-in user, and the people they stand in for today (substitutes)."""

    me: Principal
    deputy_for: tuple[Principal, ...] = ()

    @property
    def name(self) -> str:
        return f"u:{self.me.username}"

    @property
    def principals(self) -> tuple[Principal, ...]:
        return (self.me, *self.deputy_for)

    @property
    def user_ids(self) -> list[int]:
        return [p.user.id for p in self.principals if p.user.id is not None]

    @property
    def read_only(self) -> bool:
        return self.me.is_auditor


def actor_for(session: Session, user: User, on: date) -> Actor:
    assert user.id is not None
    deputy_for = tuple(principal_of(session, u) for u in principals_for(session, user.id, on))
    return Actor(principal_of(session, user), deputy_for)


def signed_in_actor(session: Session, username: str, on: date) -> Actor | None:
    """The actor of a request, read afresh: one statement, and one more only for a user who
    stands in for someone today. None for an unknown or inactive user."""
    found = signed_in_principal(session, username, on)
    if found is None or not found[0].user.active:
        return None
    me, stands_in = found
    if not stands_in:
        return Actor(me)
    assert me.user.id is not None
    return Actor(
        me, tuple(principal_of(session, u) for u in principals_for(session, me.user.id, on))
    )


def is_candidate(p: Principal, task: HumanTask) -> bool:
    if task.candidate_user_id is not None:
        return p.user.id == task.candidate_user_id
    return (
        task.candidate_role is not None
        and Role(task.candidate_role) in p.roles
        and task.candidate_org_path.startswith(p.org_path)
    )


def was_candidate(p: Principal, task: HumanTask) -> bool:
    """A candidate before the task was escalated: a head may hand it back to them."""
    before = task.context.get("escalated_from") if task.context else None
    if not before:
        return False
    if before.get("user_id") is not None:
        return bool(p.user.id == before["user_id"])
    role, path = before.get("role"), str(before.get("org_path") or "")
    return role is not None and Role(role) in p.roles and path.startswith(p.org_path)


def is_supervisor(p: Principal, task: HumanTask) -> bool:
    return bool(p.roles & SUPERVISOR_ROLES) and task.candidate_org_path.startswith(p.org_path)


def can_see(actor: Actor, task: HumanTask) -> bool:
    """Own org subtree only; auditors see everything; one's own tasks are always visible."""
    return any(
        p.sees(task.branch_path)
        or p.sees(task.candidate_org_path)
        or is_candidate(p, task)
        or p.user.id in (task.assignee_id, task.completed_by_id)
        for p in actor.principals
    )


def facts_for(
    actor: Actor, task: HumanTask, event: str, target: Principal | None = None
) -> tuple[TaskFacts, Principal]:
    """The facts the machine checks, for the principal this actor acts as (themself first,
    then whoever they deputize for). The chosen principal goes into the journal."""

    def facts(p: Principal) -> TaskFacts:
        return TaskFacts(
            actor=actor.me.username,
            is_candidate=is_candidate(p, task),
            is_assignee=task.assignee_id is not None and task.assignee_id == p.user.id,
            is_supervisor=is_supervisor(p, task),
            target_is_candidate=target is not None
            and (is_candidate(target, task) or was_candidate(target, task)),
            read_only=actor.read_only,
        )

    rules: dict[str, Callable[[TaskFacts], bool]] = {
        "claim": lambda f: f.is_candidate,
        "release": lambda f: f.is_assignee,
        "complete": lambda f: f.is_assignee,
        "save_draft": lambda f: f.is_assignee,
        "delegate": lambda f: f.is_assignee or f.is_supervisor,
        "assign": lambda f: f.is_supervisor,
        "cancel": lambda f: f.is_supervisor,
        "escalate": lambda f: f.is_supervisor,
    }
    needs = rules[event]
    for p in actor.principals:
        f = facts(p)
        if needs(f):
            return f, p
    return facts(actor.me), actor.me
