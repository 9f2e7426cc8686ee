"""The loan transition service (DESIGN decision 1): in the caller's one transaction it locks the
loan, checks its version, runs the machine, applies the effects and appends the journal."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func
from sqlalchemy.orm.exc import StaleDataError
from sqlmodel import Session, select

from audit import journal
from audit.journal import JournalEntry
from core.errors import ConflictError, RuleViolationError
from loans import aging
from loans.book import LOAN, get_loan, installments_of
from loans.extensions import reschedule_for_extension
from loans.models import (
    Borrower,
    BorrowerKind,
    ExtensionRequest,
    ExtensionStatus,
    Installment,
    Loan,
)
from loans.regulation import Floor, FloorFacts, RuleBook, classification_floor
from statemachines.enums import LoanState, RiskClass
from statemachines.loan_lifecycle import LoanFacts, LoanLifecycle
from statemachines.risk_classification import ClassificationFacts, RiskClassification, event_for


@dataclass
class TransitionResult:
    loan: Loan
    entries: list[JournalEntry]


def _lock(session: Session, loan_no: str, expected_version: int | None) -> Loan:
    loan = get_loan(session, loan_no, for_update=True)
    if expected_version is not None and loan.version != expected_version:
        raise ConflictError(
            f"loan {loan_no} changed since you loaded it (version {expected_version} → "
            f"{loan.version}); reload and try again",
            loan_no=loan_no,
            expected_version=expected_version,
            version=loan.version,
        )
    return loan


def _flush(session: Session, loan_no: str) -> None:
    try:
        session.flush()
    except StaleDataError as exc:  # another transaction bumped the version first (SQLite path)
        raise ConflictError(
            f"loan {loan_no} was changed concurrently; try again", loan_no=loan_no
        ) from exc


def loan_facts(session: Session, loan: Loan, on: date, **decision: Any) -> LoanFacts:
    assert loan.id is not None
    insts = installments_of(session, loan.id)
    approved = session.exec(
        select(ExtensionRequest.id).where(
            ExtensionRequest.loan_id == loan.id, ExtensionRequest.status == ExtensionStatus.approved
        )
    ).first()
    return LoanFacts(
        risk_class=RiskClass(loan.risk_class),
        days_past_due=aging.days_past_due(insts, on),
        outstanding_cents=aging.outstanding_cents(insts),
        approved_extension=approved is not None,
        **decision,
    )


def borrower_npl_share(session: Session, borrower_id: int, *, for_loan_id: int) -> Decimal:
    """Share of the borrower's outstanding principal held in *other* 不良 loans (contagion, 第七条).

    The loan being classified counts as performing here; otherwise a borrower's only loan, once
    不良, would force itself to stay 不良 forever.
    """
    outstanding = Installment.principal_due_cents - Installment.principal_paid_cents
    rows = session.exec(
        select(Loan.id, Loan.risk_class, func.coalesce(func.sum(outstanding), 0))
        .join(Installment, Installment.loan_id == Loan.id)
        .where(Loan.borrower_id == borrower_id)
        .group_by(Loan.id, Loan.risk_class)
    ).all()
    total = sum(int(amount) for _, _, amount in rows)
    npl = sum(
        int(amount)
        for loan_id, cls, amount in rows
        if loan_id != for_loan_id and RiskClass(cls).is_npl
    )
    return Decimal(npl) / Decimal(total) if total else Decimal(0)


def floor_for(session: Session, loan: Loan, on: date, rules: RuleBook | None = None) -> Floor:
    """The best class the rules in force on `on` allow for this loan's facts."""
    assert loan.id is not None
    insts = installments_of(session, loan.id)
    borrower = session.get(Borrower, loan.borrower_id)
    assert borrower is not None
    observation = (
        aging.restructuring_observation(insts, loan.restructured_on, on)
        if loan.restructured_on
        else aging.Observation(None, 0)
    )
    facts = FloorFacts(
        days_past_due=aging.days_past_due(insts, on),
        is_retail=borrower.kind == BorrowerKind.individual,
        borrower_npl_share=borrower_npl_share(session, loan.borrower_id, for_loan_id=loan.id),
        restructured_on=loan.restructured_on,
        observation_start=observation.start,
        on_time_periods_since_start=observation.on_time_periods,
        class_before_restructure=(
            RiskClass(loan.class_before_restructure) if loan.class_before_restructure else None
        ),
    )
    return classification_floor(facts, on, rules)


def _journal(
    session: Session,
    loan: Loan,
    machine: str,
    event: str,
    before: str,
    after: str,
    ctx: dict[str, Any],
) -> JournalEntry:
    return journal.append(
        session,
        aggregate_type=LOAN,
        aggregate_id=loan.loan_no,
        machine=machine,
        event=event,
        from_state=before,
        to_state=after,
        **ctx,
    )


def transition_loan(
    session: Session,
    loan_no: str,
    event: str,
    *,
    actor: str,
    now: datetime,
    business_date: date,
    reason: str | None = None,
    payload: dict[str, Any] | None = None,
    on_behalf_of: str | None = None,
    expected_version: int | None = None,
    approved_by: str | None = None,
    requested_by: str | None = None,
    form_kind: str | None = None,
    schema_hash: str | None = None,
) -> TransitionResult:
    """Move a loan's lifecycle by `event`; refused events raise and change nothing."""
    loan = _lock(session, loan_no, expected_version)
    facts = loan_facts(
        session, loan, business_date, approved_by=approved_by, requested_by=requested_by
    )
    before = str(loan.state)
    LoanLifecycle.restore(loan).fire(event, facts=facts)
    payload = dict(payload or {})
    if event == "approve_extension":
        payload.update(_apply_extension(session, loan, business_date))
    elif event == "hand_over":
        loan.handed_over = True
    session.add(loan)
    _flush(session, loan_no)
    ctx = dict(
        actor=actor,
        now=now,
        business_date=business_date,
        reason=reason,
        payload=payload,
        on_behalf_of=on_behalf_of,
        form_kind=form_kind,
        schema_hash=schema_hash,
    )
    entry = _journal(session, loan, "loan_lifecycle", event, before, str(loan.state), ctx)
    return TransitionResult(loan, [entry])


def _apply_extension(session: Session, loan: Loan, business_date: date) -> dict[str, Any]:
    request = session.exec(
        select(ExtensionRequest)
        .where(
            ExtensionRequest.loan_id == loan.id, ExtensionRequest.status == ExtensionStatus.approved
        )
        .order_by(ExtensionRequest.id)
    ).first()
    assert request is not None  # the machine's validator checked it exists
    old_maturity = loan.maturity_date
    reschedule_for_extension(session, loan, request.new_maturity_date, business_date)
    request.status = ExtensionStatus.applied
    session.add(request)
    if request.financial_difficulty:
        # Granted because of financial difficulty → restructured asset under observation (第十七条).
        loan.class_before_restructure = RiskClass(loan.risk_class)
        loan.restructured_on = business_date
    return {
        "extension_request_id": request.id,
        "old_maturity_date": old_maturity,
        "new_maturity_date": request.new_maturity_date,
        "restructured": request.financial_difficulty,
    }


# Which lifecycle event follows a confirmed class, if any (DOMAIN §2).
def _lifecycle_follow_up(state: LoanState, new_class: RiskClass, dpd: int) -> str | None:
    if new_class.is_npl:
        return (
            "classify_npl"
            if state in (LoanState.normal, LoanState.watched, LoanState.overdue, LoanState.extended)
            else None
        )
    if state == LoanState.non_performing:
        return "reinstate" if dpd == 0 else None
    if new_class == RiskClass.special_mention and state == LoanState.normal:
        return "flag_risk"
    if new_class == RiskClass.pass_ and state == LoanState.watched:
        return "clear_risk"
    return None


def reclassify_loan(
    session: Session,
    loan_no: str,
    target: RiskClass,
    *,
    actor: str,
    now: datetime,
    business_date: date,
    reason: str,
    proposed_by: str | None = None,
    approved_by: str | None = None,
    on_behalf_of: str | None = None,
    expected_version: int | None = None,
    payload: dict[str, Any] | None = None,
    rules: RuleBook | None = None,
    form_kind: str | None = None,
    schema_hash: str | None = None,
) -> TransitionResult:
    """Set the five-tier class (never better than the floor; upgrades need an approver) and move
    the lifecycle that follows from it, in one transaction."""
    if not reason:
        raise RuleViolationError("a classification needs a reason")
    loan = _lock(session, loan_no, expected_version)
    floor = floor_for(session, loan, business_date, rules)
    facts = ClassificationFacts(
        floor=floor.risk_class,
        floor_reasons=floor.reasons,
        proposed_by=proposed_by,
        approved_by=approved_by,
    )
    before_class = str(loan.risk_class)
    RiskClassification.restore(loan, state_field="risk_class").fire(event_for(target), facts=facts)
    body = dict(payload or {})
    body.update(
        {
            "floor": floor.risk_class,
            "floor_rules": list(floor.rule_refs),
            "proposed_by": proposed_by,
            "approved_by": approved_by,
        }
    )
    ctx = dict(
        actor=actor,
        now=now,
        business_date=business_date,
        reason=reason,
        payload=body,
        on_behalf_of=on_behalf_of,
        form_kind=form_kind,
        schema_hash=schema_hash,
    )
    entries = [
        _journal(
            session,
            loan,
            "risk_classification",
            event_for(target),
            before_class,
            str(loan.risk_class),
            ctx,
        )
    ]
    lfacts = loan_facts(
        session, loan, business_date, approved_by=approved_by, requested_by=proposed_by
    )
    follow = _lifecycle_follow_up(LoanState(loan.state), target, lfacts.days_past_due)
    if follow:
        before = str(loan.state)
        LoanLifecycle.restore(loan).fire(follow, facts=lfacts)
        entries.append(
            _journal(session, loan, "loan_lifecycle", follow, before, str(loan.state), ctx)
        )
    session.add(loan)
    _flush(session, loan_no)
    return TransitionResult(loan, entries)
