"""What a kind of request is to its chain (the Effect protocol: the facts a decider sees, the
check of a decision against the book, the effect of the final approval or of a refusal) and the
helpers every kind shares. The kinds themselves: approvals/kinds.py, cases/warnings.py."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from sqlmodel import Session

from approvals.models import ApprovalRequest
from core.errors import ValidationError
from core.identity import Role
from forms import TaskForm
from loans import aging
from loans.book import get_loan, installments_of
from loans.floors import floor_for
from loans.models import Loan
from loans.transitions import npl_exit_for
from statemachines.enums import LoanState, RiskClass


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


def decision_facts(session: Session, loan: Loan, on: date) -> dict[str, Any]:
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
        f"{zh} ({en})", errors=[{"field": field, "message": zh, "message_en": en}], **context
    )


class BaseEffect:
    """Defaults: the loan's facts, no extra check, nothing to undo on refusal."""

    def describe(self, session: Session, request: ApprovalRequest, on: date) -> dict[str, Any]:
        return decision_facts(session, get_loan(session, request.loan_no), on)

    def check_decision(
        self, session: Session, request: ApprovalRequest, form: TaskForm, on: date
    ) -> None:
        return None

    def closed(
        self, session: Session, request: ApprovalRequest, ctx: EffectContext
    ) -> dict[str, Any]:
        return {"state": str(request.state)}


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
            zh, bracket, en = evidence.problem.partition(" (")  # "中文 (English)"
            en = en.removesuffix(")") if bracket else zh
            raise field_error(
                field,
                f"不良贷款上调条件未满足：{zh}",
                f"an upgrade out of non-performing needs the repayment record: {en}",
                problem=evidence.problem,
            )


def require_state(loan: Loan, states: tuple[LoanState, ...], field: str, zh: str, en: str) -> None:
    if LoanState(loan.state) not in states:
        raise field_error(field, zh, en, state=str(loan.state))
