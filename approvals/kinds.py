"""The kinds of request that change the loan book — 展期, 五级分类, 核销, 移交 — each an Effect:
the facts its deciders see, its decision checked against the book on the day, its final
approval applied through the loan services (which enforce the rules whoever calls them).
The warning kind's effect lives in cases/ (the full table: cases.completion.EFFECTS)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from sqlmodel import Session

from approvals.effects import (
    BaseEffect,
    Effect,
    EffectContext,
    check_class,
    field_error,
    requester_username,
)
from approvals.models import ApprovalRequest
from core.errors import NotFoundError
from core.identity import Role, User, principal_of, user_by_username
from forms import TaskForm
from forms.reviews import ClassificationReviewForm, ExtensionReviewForm, HandoverReviewForm
from loans.book import get_loan
from loans.extensions import close_extension, grant_extension, months_between
from loans.models import ExtensionStatus
from loans.transitions import npl_exit_for, reclassify_loan, transition_loan
from statemachines.enums import RequestKind, RequestState, RiskClass


class ExtensionEffect(BaseEffect):
    """展期: granted and applied in the transaction that approves it (loans/extensions.py)."""

    def describe(self, session: Session, request: ApprovalRequest, on: date) -> dict[str, Any]:
        facts = super().describe(session, request, on)
        loan = get_loan(session, request.loan_no)
        new = date.fromisoformat(request.subject["new_maturity_date"])
        return {
            **facts,
            "new_maturity_date": new.isoformat(),
            "extension_months": months_between(loan.maturity_date, new),
            "restructuring": request.subject.get("restructuring", False),
            "restructuring_reasons": request.subject.get("restructuring_reasons", []),
        }

    def check_decision(
        self, session: Session, request: ApprovalRequest, form: TaskForm, on: date
    ) -> None:
        assert isinstance(form, ExtensionReviewForm)
        if form.decision != "approve" or form.approved_term_months is None:
            return
        loan = get_loan(session, request.loan_no)
        asked = months_between(
            loan.maturity_date, date.fromisoformat(request.subject["new_maturity_date"])
        )
        if form.approved_term_months > asked:
            raise field_error(
                "approved_term_months",
                f"批准期限不能超过申请的 {asked} 个月",
                f"cannot exceed the {asked} months applied for",
                asked=asked,
            )

    def approved(
        self, session: Session, request: ApprovalRequest, ctx: EffectContext
    ) -> dict[str, Any]:
        assert ctx.decider is not None
        months = getattr(ctx.form, "approved_term_months", None)
        result = grant_extension(
            session,
            int(request.subject["extension_request_id"]),
            approved_by=ctx.decider,
            approver_roles=sorted(ctx.decider_roles),
            actor=ctx.actor,
            now=ctx.now,
            business_date=ctx.business_date,
            approved_months=months,
            on_behalf_of=ctx.on_behalf_of,
            payload={"approval_request_id": request.id},
            form_kind=ctx.form_kind,
            schema_hash=ctx.schema_hash,
        )
        entry = result.entries[0]
        return {
            "loan_state": str(result.loan.state),
            "new_maturity_date": entry.payload["new_maturity_date"],
            "restructured": entry.payload["restructured"],
        }

    def closed(
        self, session: Session, request: ApprovalRequest, ctx: EffectContext
    ) -> dict[str, Any]:
        status = (
            ExtensionStatus.withdrawn
            if RequestState(request.state) == RequestState.withdrawn
            else ExtensionStatus.rejected
        )
        close_extension(
            session,
            int(request.subject["extension_request_id"]),
            status,
            decided_by=ctx.decider or ctx.actor,
            on=ctx.business_date,
        )
        return {"state": str(request.state)}


class ClassificationEffect(BaseEffect):
    """五级分类: the class changes only at the end, never better than the floor on that date."""

    def describe(self, session: Session, request: ApprovalRequest, on: date) -> dict[str, Any]:
        facts = super().describe(session, request, on)
        proposed = RiskClass(request.subject["proposed_class"])
        facts.update(
            proposed_class=proposed.value,
            reasons=request.subject.get("reasons", []),
            rule_refs=request.subject.get("rule_refs", []),
        )
        if RiskClass(facts["risk_class"]).is_npl and not proposed.is_npl:
            evidence = npl_exit_for(session, get_loan(session, request.loan_no), on)
            facts["npl_exit_problem"] = evidence.problem
        return facts

    def check_decision(
        self, session: Session, request: ApprovalRequest, form: TaskForm, on: date
    ) -> None:
        assert isinstance(form, ClassificationReviewForm)
        if form.decision != "approve" or form.confirmed_class is None:
            return
        check_class(session, get_loan(session, request.loan_no), form.confirmed_class, on)

    def approved(
        self, session: Session, request: ApprovalRequest, ctx: EffectContext
    ) -> dict[str, Any]:
        assert isinstance(ctx.form, ClassificationReviewForm) and ctx.form.confirmed_class
        target = RiskClass(ctx.form.confirmed_class)
        loan = get_loan(session, request.loan_no)
        if RiskClass(loan.risk_class) == target:
            return {"risk_class": target.value, "changed": False}
        result = reclassify_loan(
            session,
            request.loan_no,
            target,
            actor=ctx.actor,
            now=ctx.now,
            business_date=ctx.business_date,
            reason=ctx.form.opinion,
            proposed_by=requester_username(request),
            approved_by=ctx.decider,
            on_behalf_of=ctx.on_behalf_of,
            payload={"approval_request_id": request.id},
            form_kind=ctx.form_kind,
            schema_hash=ctx.schema_hash,
        )
        return {
            "risk_class": str(result.loan.risk_class),
            "loan_state": str(result.loan.state),
            "changed": True,
        }


class WriteOffEffect(BaseEffect):
    """核销: only a 损失 loan; the committee; the loan goes to *written off*."""

    def check_decision(
        self, session: Session, request: ApprovalRequest, form: TaskForm, on: date
    ) -> None:
        loan = get_loan(session, request.loan_no)
        if getattr(form, "decision", None) == "approve" and loan.risk_class != RiskClass.loss:
            raise field_error(
                "decision",
                f"仅损失类贷款可以核销（现为{RiskClass(loan.risk_class).label_zh}）",
                "only a loan classified loss can be written off",
            )

    def approved(
        self, session: Session, request: ApprovalRequest, ctx: EffectContext
    ) -> dict[str, Any]:
        result = transition_loan(
            session,
            request.loan_no,
            "write_off",
            actor=ctx.actor,
            now=ctx.now,
            business_date=ctx.business_date,
            reason=getattr(ctx.form, "opinion", None) or "核销已批准 (write-off approved)",
            payload={"approval_request_id": request.id},
            on_behalf_of=ctx.on_behalf_of,
            approved_by=ctx.decider,
            requested_by=requester_username(request),
            form_kind=ctx.form_kind,
            schema_hash=ctx.schema_hash,
        )
        return {"loan_state": str(result.loan.state)}


class HandoverEffect(BaseEffect):
    """移交资产处置: a recorded change of owner; the loan stays *non-performing*."""

    def check_decision(
        self, session: Session, request: ApprovalRequest, form: TaskForm, on: date
    ) -> None:
        assert isinstance(form, HandoverReviewForm)
        if form.decision == "approve" and form.disposal_owner:
            disposal_user(session, form.disposal_owner)

    def approved(
        self, session: Session, request: ApprovalRequest, ctx: EffectContext
    ) -> dict[str, Any]:
        assert isinstance(ctx.form, HandoverReviewForm) and ctx.form.disposal_owner
        owner = disposal_user(session, ctx.form.disposal_owner)
        result = transition_loan(
            session,
            request.loan_no,
            "hand_over",
            actor=ctx.actor,
            now=ctx.now,
            business_date=ctx.business_date,
            reason=f"移交资产处置 → {owner.full_name} ({owner.username})",
            payload={"approval_request_id": request.id, "owner": owner.username},
            on_behalf_of=ctx.on_behalf_of,
            approved_by=ctx.decider,
            requested_by=requester_username(request),
            form_kind=ctx.form_kind,
            schema_hash=ctx.schema_hash,
        )
        return {"loan_state": str(result.loan.state), "owner": owner.username}


def disposal_user(session: Session, username: str) -> User:
    try:
        user = user_by_username(session, username)
    except NotFoundError as exc:  # the field is wrong, not the URL
        raise field_error(
            "disposal_owner", f"用户 {username} 不存在", f"no user {username}"
        ) from exc
    if not user.active or Role.asset_disposal not in principal_of(session, user).roles:
        raise field_error(
            "disposal_owner",
            f"{username} 不是资产处置部门的在职人员",
            f"{username} is not an active member of the asset disposal unit",
        )
    return user


EFFECTS: Mapping[RequestKind, Effect] = {
    RequestKind.extension: ExtensionEffect(),
    RequestKind.classification: ClassificationEffect(),
    RequestKind.write_off: WriteOffEffect(),
    RequestKind.handover: HandoverEffect(),
}
