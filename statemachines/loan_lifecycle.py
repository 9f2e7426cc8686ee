"""LoanLifecycle: a loan from disbursement to settlement or write-off (DOMAIN §2).

The class body is the transition table; validators (`check_*`) raise a domain error saying why.
Facts the guards need arrive as a `LoanFacts` keyword argument on each event.
"""

from __future__ import annotations

from dataclasses import dataclass

from statemachine import State

from core.errors import RuleViolationError
from statemachines.base import StrictMachine
from statemachines.enums import LoanState, RiskClass


@dataclass(frozen=True)
class LoanFacts:
    """What the guards look at, gathered by the caller inside the locking transaction."""

    risk_class: RiskClass = RiskClass.pass_
    days_past_due: int = 0
    outstanding_cents: int = 0
    approved_extension: bool = False  # an extension granted in this transaction, to apply
    extension_restructuring: bool = False  # the granted extension is a restructuring (重组)
    approved_by: str | None = None  # approver of the decision behind this event (committee, head)
    requested_by: str | None = None  # who asked for it (four eyes: approver must differ)


class LoanLifecycle(StrictMachine):
    # 核销 is terminal but still records recoveries (a self-transition), so it cannot be `final`.
    validate_final_reachability = False
    facts_type = LoanFacts

    normal = State("正常 normal", value=LoanState.normal, initial=True)
    watched = State("关注 watched", value=LoanState.watched)
    overdue = State("逾期 overdue", value=LoanState.overdue)
    extended = State("展期 extended", value=LoanState.extended)
    non_performing = State("不良 non-performing", value=LoanState.non_performing)
    written_off = State("核销 written off", value=LoanState.written_off)
    settled = State("结清 settled", value=LoanState.settled, final=True)

    # warning signal confirmed / classified 关注
    flag_risk = normal.to(watched)
    # back to the normal book once the class is 正常 again
    clear_risk = watched.to(normal, validators="check_class_is_pass")
    # an installment unpaid past its due date (daily sweep)
    mark_overdue = (
        normal.to(overdue, validators="check_past_due")
        | watched.to(overdue, validators="check_past_due")
        | extended.to(overdue, validators="check_past_due")
    )
    # arrears fully paid: back to watched if the class is 关注 or worse, else normal
    # (a 不良 class leaves only through `reinstate`, which needs an approval)
    _cure_checks = ["check_not_npl", "check_no_arrears"]
    cure = overdue.to(watched, cond="is_watch_class", validators=_cure_checks) | overdue.to(
        normal, validators=_cure_checks
    )
    # 展期: only from a performing loan, only with a granted request, decided by someone other
    # than the applicant; a loan in arrears is extended only as a restructuring (第十七条)
    _extension_checks = ["check_extension_approved", "check_approved", "check_arrears_restructure"]
    approve_extension = normal.to(extended, validators=_extension_checks) | watched.to(
        extended, validators=_extension_checks
    )
    # classified 次级/可疑/损失 (normal too: contagion, 分类办法 第七条)
    classify_npl = (
        overdue.to(non_performing, validators="check_class_is_npl")
        | extended.to(non_performing, validators="check_class_is_npl")
        | watched.to(non_performing, validators="check_class_is_npl")
        | normal.to(non_performing, validators="check_class_is_npl")
    )
    # handover to the asset disposal unit: state stays, owner changes (recorded event)
    hand_over = non_performing.to.itself(validators="check_approved")  # type: ignore[no-untyped-call]
    # upgrade out of 不良: arrears cleared, class raised by the approval chain
    reinstate = non_performing.to(
        watched, cond="is_watch_class", validators="check_reinstatement"
    ) | non_performing.to(normal, validators="check_reinstatement")
    # 核销: only class 损失, committee approval (001: 损失类贷款应按照程序及时核销)
    write_off = non_performing.to(written_off, validators=["check_class_is_loss", "check_approved"])
    # paid in full from any open state
    settle = (
        normal.to(settled, validators="check_nothing_outstanding")
        | watched.to(settled, validators="check_nothing_outstanding")
        | overdue.to(settled, validators="check_nothing_outstanding")
        | extended.to(settled, validators="check_nothing_outstanding")
        | non_performing.to(settled, validators="check_nothing_outstanding")
    )
    # the debt is still pursued after write-off
    record_recovery = written_off.to.itself()  # type: ignore[no-untyped-call]

    # -- guards (bool) --------------------------------------------------------------------------
    def is_watch_class(self, facts: LoanFacts) -> bool:
        return facts.risk_class != RiskClass.pass_

    # -- validators (raise, saying why) ---------------------------------------------------------
    def check_class_is_pass(self, facts: LoanFacts) -> None:
        if facts.risk_class != RiskClass.pass_:
            raise RuleViolationError(
                f"贷款仍为{facts.risk_class.label_zh}类，须先调为正常类 "
                f"(the loan is still classified {facts.risk_class.value}; reclassify it pass first)",
                risk_class=facts.risk_class,
            )

    def check_not_npl(self, facts: LoanFacts) -> None:
        if facts.risk_class.is_npl:
            raise RuleViolationError(
                f"贷款为{facts.risk_class.label_zh}类（不良），只能经批准的恢复正常退出不良 "
                f"(the loan is classified {facts.risk_class.value}, non-performing: it leaves "
                "non-performing only through an approved reinstatement)",
                risk_class=facts.risk_class,
            )

    def check_no_arrears(self, facts: LoanFacts) -> None:
        if facts.days_past_due > 0:
            raise RuleViolationError(
                f"逾期未清偿：已逾期 {facts.days_past_due} 天 "
                f"(arrears are not cleared: {facts.days_past_due} days past due)",
                days_past_due=facts.days_past_due,
            )

    def check_past_due(self, facts: LoanFacts) -> None:
        if facts.days_past_due <= 0:
            raise RuleViolationError("没有逾期的还款期次 (no installment is past due)")

    def check_extension_approved(self, facts: LoanFacts) -> None:
        if not facts.approved_extension:
            raise RuleViolationError(
                "此贷款没有已批准的展期申请 (no approved extension request for this loan)"
            )

    def check_arrears_restructure(self, facts: LoanFacts) -> None:
        if facts.days_past_due > 0 and not facts.extension_restructuring:
            raise RuleViolationError(
                f"贷款已逾期 {facts.days_past_due} 天：此时展期属于重组（分类办法 第十七条），不是普通展期 "
                f"(the loan is {facts.days_past_due} days past due: an extension now is a "
                "restructuring, not an ordinary extension)",
                days_past_due=facts.days_past_due,
            )

    def check_class_is_npl(self, facts: LoanFacts) -> None:
        if not facts.risk_class.is_npl:
            raise RuleViolationError(
                f"{facts.risk_class.label_zh}类不属于不良（次级/可疑/损失） "
                f"(class {facts.risk_class.value} is not non-performing)",
                risk_class=facts.risk_class,
            )

    def check_class_is_loss(self, facts: LoanFacts) -> None:
        if facts.risk_class != RiskClass.loss:
            raise RuleViolationError(
                f"核销须为损失类，贷款为{facts.risk_class.label_zh}类 "
                f"(write-off needs class loss, the loan is {facts.risk_class.value})",
                risk_class=facts.risk_class,
            )

    def check_approved(self, facts: LoanFacts) -> None:
        if not facts.approved_by:
            raise RuleViolationError("此操作须有审批人 (this event needs an approver, approved_by)")
        if not facts.requested_by:
            raise RuleViolationError(
                "此操作须记录申请人 (this event needs the requester on record, requested_by)"
            )
        if facts.approved_by == facts.requested_by:
            raise RuleViolationError(
                "四眼原则：审批人不能是申请人 (four eyes: the approver must differ from the requester)",
                approved_by=facts.approved_by,
            )

    def check_reinstatement(self, facts: LoanFacts) -> None:
        self.check_no_arrears(facts)
        if facts.risk_class.is_npl:
            raise RuleViolationError(
                f"分类仍为{facts.risk_class.label_zh}类，须先经审批链上调 "
                f"(the class is still {facts.risk_class.value}; "
                "upgrade it through the approval chain first)",
                risk_class=facts.risk_class,
            )
        self.check_approved(facts)

    def check_nothing_outstanding(self, facts: LoanFacts) -> None:
        if facts.outstanding_cents > 0:
            raise RuleViolationError(
                f"仍有 {facts.outstanding_cents / 100:.2f} 未结清 "
                f"({facts.outstanding_cents / 100:.2f} is still outstanding)",
                outstanding_cents=facts.outstanding_cents,
            )
