"""Four eyes, enforced when a task is completed (DOMAIN §4, §6)."""

from __future__ import annotations

from sqlmodel import Session, select

from core.identity import Principal, Role, User, roles_of
from forms import TaskForm
from loans.models import Loan
from statemachines.enums import TaskState
from tasks.access import Actor
from tasks.errors import SameApproverError, SelfApprovalError, VisitInspectorsError
from tasks.models import HumanTask
from tasks.people import eligible_inspectors

VISIT_KINDS = frozenset({"customer_visit"})


def check_four_eyes(
    session: Session, task: HumanTask, actor: Actor, acting_as: Principal, form: TaskForm
) -> None:
    people = {actor.me.user.id, acting_as.user.id}
    if task.requested_by_id is not None and task.requested_by_id in people:
        raise SelfApprovalError(
            "四眼原则：不能审批自己提交的申请 (four eyes: nobody approves their own request)",
            task_id=task.id,
            user=actor.me.username,
        )
    if task.chain_key:
        earlier = session.exec(
            select(HumanTask.id).where(
                HumanTask.chain_key == task.chain_key,
                HumanTask.id != task.id,
                HumanTask.state == TaskState.completed,
                HumanTask.completed_by_id.in_(people),  # type: ignore[union-attr]
            )
        ).first()
        if earlier is not None:
            raise SameApproverError(
                "四眼原则：同一审批链的各级须由不同的人审批 "
                "(four eyes: each level of an approval chain must be a different person)",
                task_id=task.id,
                earlier_task_id=earlier,
                user=actor.me.username,
            )
    if task.kind in VISIT_KINDS:
        _check_visit(session, task, actor, acting_as, list(getattr(form, "inspectors", [])))


def _check_visit(
    session: Session, task: HumanTask, actor: Actor, acting_as: Principal, inspectors: list[str]
) -> None:
    """Two people on site, both account managers of the loan's branch, at least one the loan's
    lead or assistant manager, and the one who files the record was there (000 §1.2). Each
    refusal names its `rule` and the field, so a page shows it beside the inspectors."""
    if len(set(inspectors)) != 2:
        raise VisitInspectorsError(
            "须二人实地检查：请选择两名不同的检查人 (an on-site visit needs two different inspectors)",
            field="inspectors",
            rule="two_inspectors",
            inspectors=inspectors,
        )
    users = {
        u.username: u
        for u in session.exec(
            select(User).where(User.username.in_(inspectors))  # type: ignore[attr-defined]
        ).all()
    }
    eligible = {u.username for u in eligible_inspectors(session, task, among=inspectors)}
    for name in inspectors:
        user = users.get(name)
        if (
            user is None
            or not user.active
            or Role.account_manager not in roles_of(session, user.id or 0)
        ):
            raise VisitInspectorsError(
                f"检查人 {name!r} 不是在职客户经理 (inspector {name!r} is not an active account manager)",
                field="inspectors",
                rule="not_account_manager",
                inspector=name,
            )
        if name not in eligible:
            raise VisitInspectorsError(
                f"检查人 {name!r} 不是本贷款所属机构的客户经理 "
                f"(inspector {name!r} is not an account manager of the loan's branch)",
                field="inspectors",
                rule="not_in_branch",
                inspector=name,
            )
    loan = session.get(Loan, task.loan_id) if task.loan_id else None
    if loan is not None:
        own = {loan.account_manager_id, loan.assistant_manager_id} - {None}
        if not own & {users[n].id for n in inspectors}:
            raise VisitInspectorsError(
                "检查人中须有本贷款的主办或协办客户经理 "
                "(one inspector must be the loan's lead or assistant account manager)",
                field="inspectors",
                rule="no_own_manager",
                loan_no=loan.loan_no,
            )
    if not {actor.me.username, acting_as.username} & set(inspectors):
        raise VisitInspectorsError(
            "拜访记录须由两名检查人之一提交 (the visit record is filed by one of its two inspectors)",
            field="inspectors",
            rule="filer_not_inspector",
            user=actor.me.username,
        )
