"""Who can be picked for a task, as a page offers them: the account managers who may inspect
a loan on site (客户拜访检查人) and the people a supervisor may hand a task to (分派 / 转派)."""

from __future__ import annotations

from collections.abc import Collection

from sqlmodel import Session, col, select

from core.identity import OrgUnit, Role, User, UserRole, principal_of
from loans.models import Loan
from tasks.access import is_candidate, was_candidate
from tasks.models import HumanTask


def _with_role_under(
    session: Session, role: Role, path: str, among: Collection[str] | None = None
) -> list[User]:
    query = (
        select(User)
        .join(UserRole, col(UserRole.user_id) == col(User.id))
        .join(OrgUnit, col(OrgUnit.id) == col(User.org_unit_id))
        .where(UserRole.role == role, col(OrgUnit.path).startswith(path), col(User.active))
        .order_by(col(User.username))
    )
    if among is not None:
        query = query.where(col(User.username).in_(list(among)))
    return list(session.exec(query).all())


def someone_holds(
    session: Session, role: Role, org_path: str, excluding: Collection[int] = ()
) -> bool:
    """Whether an active user other than `excluding` would be a candidate of a task for `role`
    at `org_path`: holds the role in that unit or one above it (tasks.access.is_candidate)."""
    above = [org_path[: i + 1] for i, ch in enumerate(org_path) if ch == "/" and i > 0]
    query = (
        select(User.id)
        .join(UserRole, col(UserRole.user_id) == col(User.id))
        .join(OrgUnit, col(OrgUnit.id) == col(User.org_unit_id))
        .where(UserRole.role == role, col(OrgUnit.path).in_(above), col(User.active))
    )
    if excluding:
        query = query.where(col(User.id).not_in(list(excluding)))
    return session.exec(query.limit(1)).first() is not None


def eligible_inspectors(
    session: Session, task: HumanTask, among: Collection[str] | None = None
) -> list[User]:
    """Active account managers of the loan's branch (its whole subtree), and the loan's own
    lead and assistant managers wherever they sit (000 §1.2: two account managers on site).
    `among`: only whether these usernames are (a filed visit's two inspectors), without reading
    every account manager of a large branch."""
    people = {
        u.id: u for u in _with_role_under(session, Role.account_manager, task.branch_path, among)
    }
    loan = session.get(Loan, task.loan_id) if task.loan_id else None
    for user_id in (loan.account_manager_id, loan.assistant_manager_id) if loan else ():
        user = session.get(User, user_id) if user_id else None
        if among is not None and (user is None or user.username not in among):
            continue
        if user is not None and user.active and user.id not in people:
            if Role.account_manager in principal_of(session, user).roles:
                people[user.id] = user
    return sorted(people.values(), key=lambda u: u.username)


def eligible_assignees(session: Session, task: HumanTask) -> list[User]:
    """Everyone the task may be handed to: its candidates (the named user, or its role in its
    org subtree), and before an escalation its earlier candidates."""
    if task.candidate_user_id is not None:
        named = session.get(User, task.candidate_user_id)
        found = [named] if named is not None and named.active else []
    elif task.candidate_role is not None:
        found = _with_role_under(session, Role(task.candidate_role), task.candidate_org_path)
    else:
        found = []
    before = (task.context or {}).get("escalated_from") or {}
    if before.get("role"):
        found += _with_role_under(session, Role(before["role"]), str(before.get("org_path") or ""))
    elif before.get("user_id") is not None:
        earlier = session.get(User, before["user_id"])
        found += [earlier] if earlier is not None and earlier.active else []
    unique = {u.id: u for u in found if u.id != task.assignee_id}
    return [
        u
        for u in sorted(unique.values(), key=lambda u: u.username)
        if is_candidate(p := principal_of(session, u), task) or was_candidate(p, task)
    ]
