"""The warning-disposition chain's effect (预警处置, DOMAIN §5–6): its approval grades the case,
names an owner, a plan and a deadline; a confirmed serious signal moves the loan to *watched*
and opens a classification proposal; a refusal dismisses the case."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlmodel import Session

from approvals import requests as approval_requests
from approvals.effects import EffectContext, decision_facts, field_error
from approvals.kinds import EFFECTS as LOAN_EFFECTS
from approvals.models import ApprovalRequest
from approvals.records import live_requests
from cases.models import WarningCase
from cases.warnings import SIGNALS, case_of, fire_case, open_tracking_task
from core.errors import NotFoundError
from core.identity import User, principal_of, user_by_username
from forms import TaskForm
from forms.reviews import WarningDispositionForm
from loans.book import get_loan
from loans.models import Loan
from loans.transitions import transition_loan
from statemachines.enums import LoanState, RequestKind, RequestState, RiskClass
from statemachines.warning_case import WarningFacts

SERIOUS_GRADES = frozenset({"orange", "red"})


class WarningEffect:
    """The warning-disposition chain's effect on its case and loan."""

    def describe(self, session: Session, request: ApprovalRequest, on: date) -> dict[str, Any]:
        case = case_of(session, request)
        return {
            **decision_facts(session, get_loan(session, request.loan_no), on),
            "signals": case.signals,
            "description": case.description,
        }

    def check_decision(
        self, session: Session, request: ApprovalRequest, form: TaskForm, on: date
    ) -> None:
        assert isinstance(form, WarningDispositionForm)
        if form.decision != "approve":
            return
        owner_of(session, request, form.owner)
        if form.deadline < on:
            raise field_error("deadline", "处置期限不能早于今天", "the deadline is in the past")

    def approved(
        self, session: Session, request: ApprovalRequest, ctx: EffectContext
    ) -> dict[str, Any]:
        assert isinstance(ctx.form, WarningDispositionForm)
        form, case = ctx.form, case_of(session, request)
        owner = owner_of(session, request, form.owner)
        case.grade, case.measures = form.signal_grade.value, [m.value for m in form.measures]
        case.disposal_plan, case.deadline, case.owner_id = (
            form.disposal_plan,
            form.deadline,
            owner.id,
        )
        fire_case(
            session,
            case,
            "confirm",
            WarningFacts(actor=ctx.actor, is_system=True, has_plan=True),
            now=ctx.now,
            business_date=ctx.business_date,
            reason=form.disposal_plan,
            payload={"grade": case.grade, "measures": case.measures, "owner": owner.username},
        )
        open_tracking_task(session, case, owner, 1, ctx.actor, ctx.now, ctx.business_date)
        serious = case.grade in SERIOUS_GRADES
        outcome: dict[str, Any] = {"grade": case.grade, "owner": owner.username}
        loan = get_loan(session, request.loan_no)
        if (serious or "move_to_watch" in case.measures) and LoanState(
            loan.state
        ) == LoanState.normal:
            transition_loan(
                session,
                loan.loan_no,
                "flag_risk",
                actor=ctx.actor,
                now=ctx.now,
                business_date=ctx.business_date,
                reason=f"预警确认（{case.grade}）：{'；'.join(SIGNALS[s][0] for s in case.signals)}",
                payload={"warning_case_id": case.id, "approval_request_id": request.id},
                on_behalf_of=ctx.on_behalf_of,
            )
            outcome["loan_state"] = LoanState.watched.value
        if serious or "propose_reclassification" in case.measures:
            proposal = _propose_downgrade(session, loan, case, ctx)
            outcome["classification_request_id"] = proposal.id if proposal else None
        return outcome

    def closed(
        self, session: Session, request: ApprovalRequest, ctx: EffectContext
    ) -> dict[str, Any]:
        case = case_of(session, request)
        fire_case(
            session,
            case,
            "dismiss",
            WarningFacts(actor=ctx.actor, is_system=True),
            now=ctx.now,
            business_date=ctx.business_date,
            reason=f"预警处置未获确认（{RequestState(request.state).label_zh}）",
        )
        return {"state": str(case.state)}


def owner_of(session: Session, request: ApprovalRequest, username: str) -> User:
    """The case owner must be an active user working on the loan's branch."""
    try:
        user = user_by_username(session, username)
    except NotFoundError as exc:
        raise field_error("owner", f"用户 {username} 不存在", f"no user {username}") from exc
    if not user.active or not principal_of(session, user).sees(request.branch_path):
        raise field_error(
            "owner",
            f"{username} 不在该贷款所属机构，不能担任处置责任人",
            f"{username} does not work on this loan's branch",
        )
    return user


def _propose_downgrade(
    session: Session, loan: Loan, case: WarningCase, ctx: EffectContext
) -> ApprovalRequest | None:
    """A confirmed serious signal opens a classification proposal: at least 关注, one class worse
    if the loan is 关注 or worse already — a proposal the chain confirms, never a change."""
    assert loan.id is not None
    if live_requests(session, [loan.id], RequestKind.classification.value):
        return None
    current = RiskClass(loan.risk_class)
    classes = list(RiskClass)
    proposed = (
        RiskClass.special_mention
        if current == RiskClass.pass_
        else classes[min(current.rank + 1, len(classes) - 1)]
    )
    if proposed == current:
        return None  # 损失 already
    return approval_requests.submit(
        session,
        RequestKind.classification,
        loan,
        f"system:warning-case-{case.id}",
        LOAN_EFFECTS,
        reason=f"预警确认（{case.grade}）后重新分类",
        subject={
            "proposed_class": proposed.value,
            "current_class": current.value,
            "reasons": ["warning_confirmed"],
            "rule_refs": [],
            "warning_case_id": case.id,
        },
        now=ctx.now,
        business_date=ctx.business_date,
    )
