"""HumanTaskLifecycle: a person's piece of work, from the queue to the archive (viewflow-style).

Claim, release, delegate, complete, escalate, cancel and expire are guarded transitions; the
permission is a fact the caller resolves and the machine *enforces* (never advisory).
"""

from __future__ import annotations

from dataclasses import dataclass

from statemachine import State

from core.errors import PermissionDeniedError
from statemachines.base import StrictMachine
from statemachines.enums import TaskState


class TaskPermissionError(PermissionDeniedError):
    code = "task_permission_denied"


@dataclass(frozen=True)
class TaskFacts:
    """Who is acting and what they may do with this task, resolved inside the transaction."""

    actor: str
    is_candidate: bool = False  # may claim: role + org subtree, or the named user
    is_assignee: bool = False  # the task is in this actor's inbox (directly or as deputy)
    is_supervisor: bool = False  # head of the task's org unit: may reassign / cancel
    is_system: bool = False  # a flow (system:<flow>) acting
    target_is_candidate: bool = False  # delegate: the new assignee may do this task
    read_only: bool = False  # auditors read everything and change nothing


class HumanTaskLifecycle(StrictMachine):
    facts_type = TaskFacts

    open = State("待领取 open", value=TaskState.open, initial=True)
    claimed = State("处理中 claimed", value=TaskState.claimed)
    escalated = State("已升级 escalated", value=TaskState.escalated)
    completed = State("已完成 completed", value=TaskState.completed, final=True)
    cancelled = State("已取消 cancelled", value=TaskState.cancelled, final=True)
    expired = State("已过期 expired", value=TaskState.expired, final=True)

    claim = open.to(claimed, validators="check_may_claim") | escalated.to(
        claimed, validators="check_may_claim"
    )
    release = claimed.to(open, validators="check_is_assignee")
    delegate = claimed.to.itself(validators="check_may_delegate")  # type: ignore[no-untyped-call]
    # a supervisor puts an unclaimed task straight into someone's inbox (分派)
    assign = open.to(claimed, validators="check_may_assign") | escalated.to(
        claimed, validators="check_may_assign"
    )
    complete = claimed.to(completed, validators="check_is_assignee")
    escalate = (
        open.to(escalated, validators="check_may_manage")
        | claimed.to(escalated, validators="check_may_manage")
        | escalated.to.itself(validators="check_may_manage")  # type: ignore[no-untyped-call]
    )  # once more, one level up
    cancel = (
        open.to(cancelled, validators="check_may_manage")
        | claimed.to(cancelled, validators="check_may_manage")
        | escalated.to(cancelled, validators="check_may_manage")
    )
    expire = (
        open.to(expired, validators="check_is_system")
        | claimed.to(expired, validators="check_is_system")
        | escalated.to(expired, validators="check_is_system")
    )

    def _writable(self, facts: TaskFacts) -> None:
        if facts.read_only:
            raise TaskPermissionError(
                "审计人员只能查看任务，不能操作 (auditors can read tasks but not act on them)",
                actor=facts.actor,
                rule="read_only",
            )

    def check_may_claim(self, facts: TaskFacts) -> None:
        self._writable(facts)
        if not facts.is_candidate:
            raise TaskPermissionError(
                f"{facts.actor} 不是此任务的候选人，角色或机构不符 "
                f"({facts.actor} is not a candidate for this task: role and org unit do not match)",
                actor=facts.actor,
                rule="not_candidate",
            )

    def check_is_assignee(self, facts: TaskFacts) -> None:
        self._writable(facts)
        if not facts.is_assignee:
            raise TaskPermissionError(
                f"此任务不在 {facts.actor} 的待办中，请先领取 "
                f"(the task is not in {facts.actor}'s inbox; claim it first)",
                actor=facts.actor,
                rule="not_assignee",
            )

    def check_may_delegate(self, facts: TaskFacts) -> None:
        self._writable(facts)
        if not (facts.is_assignee or facts.is_supervisor):
            raise TaskPermissionError(
                "只有处理人或上级负责人可以转派此任务 (only the assignee or a supervisor may delegate this task)",
                actor=facts.actor,
                rule="not_delegator",
            )
        self._target_is_candidate(facts)

    def check_may_assign(self, facts: TaskFacts) -> None:
        self._writable(facts)
        if not facts.is_supervisor:
            raise TaskPermissionError(
                "只有任务所属机构的负责人可以分派未领取的任务 "
                "(only a supervisor of the task's unit may assign an unclaimed task)",
                actor=facts.actor,
                rule="not_supervisor",
            )
        self._target_is_candidate(facts)

    def _target_is_candidate(self, facts: TaskFacts) -> None:
        if not facts.target_is_candidate:
            raise TaskPermissionError(
                "被指派人不是此任务的候选人，角色或机构不符 "
                "(the new assignee is not a candidate for this task: role and org unit)",
                actor=facts.actor,
                rule="target_not_candidate",
            )

    def check_may_manage(self, facts: TaskFacts) -> None:
        self._writable(facts)
        if not (facts.is_supervisor or facts.is_system):
            raise TaskPermissionError(
                "只有任务所属机构的负责人或系统可以执行此操作 "
                "(only a supervisor of the task's unit or the system may do this)",
                actor=facts.actor,
                rule="not_supervisor",
            )

    def check_is_system(self, facts: TaskFacts) -> None:
        if not facts.is_system:
            raise TaskPermissionError(
                "任务只能由系统置为过期 (tasks expire only by the system)",
                actor=facts.actor,
                rule="system_only",
            )
