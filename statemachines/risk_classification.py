"""RiskClassification: the five-tier class (五级分类) of one loan (DOMAIN §3).

Every class can move to every other, but never better than the regulatory floor, and an upgrade
(to a better class) always needs an approver who is not the proposer.
"""

from __future__ import annotations

from dataclasses import dataclass

from statemachine import State

from core.errors import RuleViolationError
from statemachines.base import MachineUsageError, StrictMachine
from statemachines.enums import RiskClass


class ClassBelowFloorError(RuleViolationError):
    code = "class_below_floor"


class UpgradeNotApprovedError(RuleViolationError):
    code = "upgrade_not_approved"


class NplExitEvidenceError(RuleViolationError):
    """Upgrade out of 不良 without the repayment record the rule asks for (DOMAIN §3)."""

    code = "npl_upgrade_evidence"


@dataclass(frozen=True)
class ClassificationFacts:
    floor: RiskClass = RiskClass.pass_  # best class the rules allow on the business date
    floor_reasons: tuple[str, ...] = ()  # rule codes that set the floor, for the error and journal
    proposed_by: str | None = None
    approved_by: str | None = None
    # Upgrade out of 不良: arrears cleared, then max(2 periods, 6 months) paid in full and on
    # time — checked from the book by the caller; `npl_exit_problem` says why not.
    npl_exit_checked: bool = False
    npl_exit_problem: str | None = None


_CLASSES = list(RiskClass)


class RiskClassification(StrictMachine):
    facts_type = ClassificationFacts

    pass_ = State("正常 pass", value=RiskClass.pass_, initial=True)
    special_mention = State("关注 special mention", value=RiskClass.special_mention)
    substandard = State("次级 substandard", value=RiskClass.substandard)
    doubtful = State("可疑 doubtful", value=RiskClass.doubtful)
    loss = State("损失 loss", value=RiskClass.loss)

    _checks = ["check_floor", "check_upgrade_approved", "check_npl_exit"]
    classify_pass = (
        special_mention.to(pass_, validators=_checks)
        | substandard.to(pass_, validators=_checks)
        | doubtful.to(pass_, validators=_checks)
        | loss.to(pass_, validators=_checks)
    )
    classify_special_mention = (
        pass_.to(special_mention, validators=_checks)
        | substandard.to(special_mention, validators=_checks)
        | doubtful.to(special_mention, validators=_checks)
        | loss.to(special_mention, validators=_checks)
    )
    classify_substandard = (
        pass_.to(substandard, validators=_checks)
        | special_mention.to(substandard, validators=_checks)
        | doubtful.to(substandard, validators=_checks)
        | loss.to(substandard, validators=_checks)
    )
    classify_doubtful = (
        pass_.to(doubtful, validators=_checks)
        | special_mention.to(doubtful, validators=_checks)
        | substandard.to(doubtful, validators=_checks)
        | loss.to(doubtful, validators=_checks)
    )
    classify_loss = (
        pass_.to(loss, validators=_checks)
        | special_mention.to(loss, validators=_checks)
        | substandard.to(loss, validators=_checks)
        | doubtful.to(loss, validators=_checks)
    )

    def check_floor(self, facts: ClassificationFacts, target: State) -> None:
        wanted = RiskClass(target.value)
        if wanted.is_better_than(facts.floor):
            raise ClassBelowFloorError(
                f"不能分为{wanted.label_zh}类：监管底线为{facts.floor.label_zh}类"
                + (f"，依据 {', '.join(facts.floor_reasons)}" if facts.floor_reasons else "")
                + f" (cannot classify {wanted.value}: the regulatory floor is {facts.floor.value}"
                + (f", by {', '.join(facts.floor_reasons)}" if facts.floor_reasons else "")
                + ")",
                wanted=wanted,
                floor=facts.floor,
                reasons=list(facts.floor_reasons),
            )

    def check_upgrade_approved(
        self, facts: ClassificationFacts, source: State, target: State
    ) -> None:
        if not RiskClass(target.value).is_better_than(RiskClass(source.value)):
            return  # downgrades are proposed automatically; the chain confirms them
        if not facts.approved_by:
            raise UpgradeNotApprovedError(
                "上调须经审批，从不自动上调 "
                "(an upgrade needs an approval, approved_by; upgrades are never automatic)"
            )
        if not facts.proposed_by:
            raise UpgradeNotApprovedError(
                "上调须记录提议人，以作四眼核对 "
                "(an upgrade needs its proposer on record, proposed_by, for the four-eyes check)"
            )
        if facts.approved_by == facts.proposed_by:
            raise UpgradeNotApprovedError(
                "四眼原则：上调的审批人不能是提议人 "
                "(four eyes: the approver of an upgrade must differ from the proposer)",
                approved_by=facts.approved_by,
            )

    def check_npl_exit(self, facts: ClassificationFacts, source: State, target: State) -> None:
        if not RiskClass(source.value).is_npl or RiskClass(target.value).is_npl:
            return
        if not facts.npl_exit_checked:
            raise MachineUsageError(
                "退出不良须有还款证据 "
                "(an upgrade out of non-performing needs the repayment evidence, npl_exit_checked)"
            )
        if facts.npl_exit_problem:
            zh, bracket, en = facts.npl_exit_problem.partition(" (")  # "中文 (English)"
            en = en.removesuffix(")") if bracket else zh
            raise NplExitEvidenceError(
                f"不能从{RiskClass(source.value).label_zh}类上调：{zh} "
                f"(cannot upgrade out of {source.value}: {en})",
                wanted=RiskClass(target.value),
                problem=facts.npl_exit_problem,
            )


def event_for(target: RiskClass | str) -> str:
    """The event that moves the machine to `target`."""
    target = RiskClass(target)
    return "classify_" + ("pass" if target is RiskClass.pass_ else target.value)
