"""WarningCaseLifecycle: an early-warning case (预警, DOMAIN §5) from the signal to its closure.

raised → tracking (the disposition chain confirmed it: graded, owner, plan) → closed (the owner,
or the head an overdue report was escalated to, filed the outcome); raised → dismissed (the chain
did not confirm the signal).
"""

from __future__ import annotations

from dataclasses import dataclass

from statemachine import State

from core.errors import PermissionDeniedError, RuleViolationError
from statemachines.base import StrictMachine
from statemachines.enums import WarningState


@dataclass(frozen=True)
class WarningFacts:
    actor: str
    is_owner: bool = False  # the case's owner (or their deputy)
    took_over: bool = False  # the head the owner's overdue report was escalated to (SLA)
    is_system: bool = False  # the disposition chain's outcome
    has_plan: bool = False  # grade, owner, disposal plan and deadline recorded


class WarningCaseLifecycle(StrictMachine):
    facts_type = WarningFacts

    raised = State("已报告 raised", value=WarningState.raised, initial=True)
    tracking = State("跟踪处置 tracking", value=WarningState.tracking)
    closed = State("已关闭 closed", value=WarningState.closed, final=True)
    dismissed = State("已排除 dismissed", value=WarningState.dismissed, final=True)

    confirm = raised.to(tracking, validators=["check_is_system", "check_has_plan"])
    dismiss = raised.to(dismissed, validators="check_is_system")
    close = tracking.to(closed, validators="check_is_owner")

    def check_is_system(self, facts: WarningFacts) -> None:
        if not facts.is_system:
            raise PermissionDeniedError(
                "预警须经处置审批链确认或排除 "
                "(a warning is confirmed or dismissed by its disposition chain)",
                actor=facts.actor,
            )

    def check_has_plan(self, facts: WarningFacts) -> None:
        if not facts.has_plan:
            raise RuleViolationError(
                "确认的预警须有等级、负责人和处置方案 "
                "(a confirmed warning needs a grade, an owner and a plan)"
            )

    def check_is_owner(self, facts: WarningFacts) -> None:
        if not (facts.is_owner or facts.took_over):
            raise PermissionDeniedError(
                "只有预警负责人（或其逾期报告被升级给的负责人）可以关闭 "
                "(only the case's owner, or the head its overdue report was escalated to, "
                "closes it)",
                actor=facts.actor,
            )
