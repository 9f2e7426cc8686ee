"""ApprovalRequestMachine: one request (展期, 五级分类, 核销, 移交, 预警处置) walking its chain of
levels (DOMAIN §6). The level number is data on the request; the machine says what may happen.

submitted → pending (level 1) → pending (level k+1) … → approved | rejected | withdrawn, and
"退回补充" returns the request to its applicant, who resubmits it (a new round, from level 1).
Four eyes at every decision: nobody decides their own request and, within a round, each level is
a different person. Whether a level's approval concludes the chain is the decider's authority
(授权) for the amount — a fact the caller resolves; the machine routes on it.
"""

from __future__ import annotations

from dataclasses import dataclass

from statemachine import State

from core.errors import PermissionDeniedError, SameApproverError, SelfApprovalError
from statemachines.base import StrictMachine
from statemachines.enums import RequestState


class RequestPermissionError(PermissionDeniedError):
    code = "request_permission_denied"


@dataclass(frozen=True)
class ApprovalFacts:
    """Who acts on the request and what the chain knows, resolved inside the transaction."""

    actor: str  # "u:<username>" or "system:<flow>"
    acting_as: str | None = None  # the principal a deputy acts for ("u:<username>")
    requester: str | None = None  # who asked for it ("system:…" for automatic proposals)
    earlier_deciders: tuple[str, ...] = ()  # deciders of earlier levels in this round
    concludes: bool = False  # this approval ends the chain (authority covers the amount)
    is_system: bool = False
    is_supervisor: bool = False  # head of the request's unit: may withdraw it
    read_only: bool = False  # auditors


class ApprovalRequestMachine(StrictMachine):
    facts_type = ApprovalFacts

    submitted = State("已提交 submitted", value=RequestState.submitted, initial=True)
    pending = State("审批中 pending", value=RequestState.pending)
    returned = State("退回补充 returned", value=RequestState.returned)
    approved = State("已批准 approved", value=RequestState.approved, final=True)
    rejected = State("已否决 rejected", value=RequestState.rejected, final=True)
    withdrawn = State("已撤回 withdrawn", value=RequestState.withdrawn, final=True)

    # the first level's task is opened (the chain starts)
    start = submitted.to(pending, validators="check_writable")
    # a level approves: the chain ends if the decider's authority covers the amount, else it
    # goes on to the next level (e.g. above a branch head's limit → the credit committee)
    approve = pending.to(approved, cond="concludes", validators="check_may_decide") | pending.to(
        pending, validators="check_may_decide"
    )
    reject = pending.to(rejected, validators="check_may_decide")
    return_for_revision = pending.to(returned, validators="check_may_decide")
    resubmit = returned.to(pending, validators="check_is_requester")
    # the facts changed while the request waits (a floor worsened): the system amends it
    amend = pending.to.itself(validators="check_is_system")  # type: ignore[no-untyped-call]
    withdraw = (
        submitted.to(withdrawn, validators="check_may_withdraw")
        | pending.to(withdrawn, validators="check_may_withdraw")
        | returned.to(withdrawn, validators="check_may_withdraw")
    )

    # -- guards ----------------------------------------------------------------------------------
    def concludes(self, facts: ApprovalFacts) -> bool:
        return facts.concludes

    # -- validators ------------------------------------------------------------------------------
    def check_writable(self, facts: ApprovalFacts) -> None:
        if facts.read_only:
            raise RequestPermissionError(
                "审计人员只能查看申请，不能操作 (auditors can read requests but not act on them)",
                actor=facts.actor,
            )

    def _people(self, facts: ApprovalFacts) -> set[str]:
        return {facts.actor} | ({facts.acting_as} if facts.acting_as else set())

    def check_may_decide(self, facts: ApprovalFacts) -> None:
        self.check_writable(facts)
        people = self._people(facts)
        if facts.requester is not None and facts.requester in people:
            raise SelfApprovalError(
                "四眼原则：不能审批自己提交的申请 (four eyes: nobody decides their own request)",
                actor=facts.actor,
            )
        twice = people & set(facts.earlier_deciders)
        if twice:
            raise SameApproverError(
                "四眼原则：同一审批链的各级须由不同的人审批 "
                "(four eyes: each level of an approval chain must be a different person)",
                actor=facts.actor,
                decided_before=sorted(twice),
            )

    def check_is_requester(self, facts: ApprovalFacts) -> None:
        self.check_writable(facts)
        if facts.requester is None or facts.requester not in self._people(facts):
            raise RequestPermissionError(
                "只有申请人可以重新提交申请 (only the applicant may resubmit the request)",
                actor=facts.actor,
            )

    def check_may_withdraw(self, facts: ApprovalFacts) -> None:
        self.check_writable(facts)
        mine = facts.requester is not None and facts.requester in self._people(facts)
        if not (mine or facts.is_supervisor or facts.is_system):
            raise RequestPermissionError(
                "只有申请人或贷款所属机构的负责人可以撤回申请 "
                "(only the applicant or a head of the loan's unit may withdraw the request)",
                actor=facts.actor,
            )

    def check_is_system(self, facts: ApprovalFacts) -> None:
        if not facts.is_system:
            raise RequestPermissionError(
                "只有系统可以修改待审批的申请 (only the system amends a waiting request)"
            )
