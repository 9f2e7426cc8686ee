"""What each kind of request does to the book: the facts a decider sees, the checks of a decision
against the book on its date, and the effect of the final approval (or of a refusal), each through
the loan services that enforce the rules whoever calls them.

A table kind → Effect; the warning kind's effect lives in cases/ and is added there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from sqlmodel import Session

from approvals.models import ApprovalRequest
from core.errors import NotFoundError, ValidationError
from core.identity import Role, User, principal_of, user_by_username
from forms import TaskForm
from forms.reviews import ClassificationReviewForm, ExtensionReviewForm, HandoverReviewForm
from loans import aging
from loans.book import get_loan, installments_of
from loans.extensions import close_extension, grant_extension, months_between
from loans.floors import floor_for
from loans.models import ExtensionStatus, Loan
from loans.transitions import npl_exit_for, reclassify_loan, transition_loan
from statemachines.enums import LoanState, RequestKind, RequestState, RiskClass


@dataclass(frozen=True)
class EffectContext:
    """Who took the final decision, and when (from the concluding decision)."""

    actor: str  # journal actor: "u:<decider>" or "system:<flow>"
    decider: str | None  # username of the final decider
    decider_roles: frozenset[Role]
    on_behalf_of: str | None
    now: datetime
    business_date: date
    form: TaskForm | None = None
    form_kind: str | None = None
    schema_hash: str | None = None


class Effect(Protocol):
    def describe(self, session: Session, request: ApprovalRequest, on: date) -> dict[str, Any]:
        """Facts for the decider's inbox and form page (amount, class, floor, days past due …)."""
        ...

    def check_decision(
        self, session: Session, request: ApprovalRequest, form: TaskForm, on: date
    ) -> None:
        """Refuse, with field errors, a decision the book does not allow on `on`."""
        ...

    def approved(
        self, session: Session, request: ApprovalRequest, ctx: EffectContext
    ) -> dict[str, Any]:
        """Apply the approved request; returns the outcome recorded on the request."""
        ...

    def closed(
        self, session: Session, request: ApprovalRequest, ctx: EffectContext
    ) -> dict[str, Any]:
        """The request was rejected or withdrawn."""
        ...


def requester_username(request: ApprovalRequest) -> str:
    """The applicant as the loan services record requesters (a username, or "system:…")."""
    return request.requested_by.removeprefix("u:")


def loan_facts(session: Session, loan: Loan, on: date) -> dict[str, Any]:
    """What every decider sees about the loan on `on`, computed from the book."""
    assert loan.id is not None
    insts = installments_of(session, loan.id)
    floor = floor_for(session, loan, on)
    return {
        "state": str(loan.state),
        "risk_class": str(loan.risk_class),
        "floor": str(floor.risk_class),
        "floor_rules": list(floor.rule_refs),
        "days_past_due": aging.days_past_due(insts, on),
        "exposure_cents": aging.outstanding_principal_cents(insts),
        "maturity_date": loan.maturity_date.isoformat(),
    }


def field_error(field: str, zh: str, en: str, **context: Any) -> ValidationError:
    return ValidationError(
        en, errors=[{"field": field, "message": zh, "message_en": en}], **context
    )


class _Base:
    def describe(self, session: Session, request: ApprovalRequest, on: date) -> dict[str, Any]:
        return loan_facts(session, get_loan(session, request.loan_no), on)

    def check_decision(
        self, session: Session, request: ApprovalRequest, form: TaskForm, on: date
    ) -> None:
        return None

    def closed(
        self, session: Session, request: ApprovalRequest, ctx: EffectContext
    ) -> dict[str, Any]:
        return {"state": str(request.state)}


class ExtensionEffect(_Base):
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


class ClassificationEffect(_Base):
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


def check_class(
    session: Session, loan: Loan, wanted: RiskClass, on: date, field: str = "confirmed_class"
) -> None:
    """A class someone proposes or confirms: never better than the floor on `on`; out of 不良
    only with the repayment record (DOMAIN §3). Field errors on `field`."""
    floor = floor_for(session, loan, on)
    if RiskClass(wanted).is_better_than(floor.risk_class):
        raise field_error(
            field,
            f"不得优于监管底线“{floor.risk_class.label_zh}”（{'；'.join(floor.rule_refs)}）",
            f"cannot be better than the regulatory floor {floor.risk_class.value}",
            floor=floor.risk_class,
            rules=list(floor.rule_refs),
        )
    if RiskClass(loan.risk_class).is_npl and not RiskClass(wanted).is_npl:
        evidence = npl_exit_for(session, loan, on)
        if evidence.problem:
            raise field_error(
                field,
                f"不良贷款上调条件未满足：{evidence.problem}",
                f"an upgrade out of 不良 needs the repayment record: {evidence.problem}",
                problem=evidence.problem,
            )


class WriteOffEffect(_Base):
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
            reason=getattr(ctx.form, "opinion", None) or "write-off approved",
            payload={"approval_request_id": request.id},
            on_behalf_of=ctx.on_behalf_of,
            approved_by=ctx.decider,
            requested_by=requester_username(request),
            form_kind=ctx.form_kind,
            schema_hash=ctx.schema_hash,
        )
        return {"loan_state": str(result.loan.state)}


class HandoverEffect(_Base):
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


def require_state(loan: Loan, states: tuple[LoanState, ...], field: str, zh: str, en: str) -> None:
    if LoanState(loan.state) not in states:
        raise field_error(field, zh, en, state=str(loan.state))


EFFECTS: Mapping[RequestKind, Effect] = {
    RequestKind.extension: ExtensionEffect(),
    RequestKind.classification: ClassificationEffect(),
    RequestKind.write_off: WriteOffEffect(),
    RequestKind.handover: HandoverEffect(),
}
