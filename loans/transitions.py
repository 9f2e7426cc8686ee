"""The loan transition service (DESIGN decision 1): in the caller's one transaction it locks the
loan, checks its version, runs the machine, applies the effects and appends the journal."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, or_
from sqlalchemy.orm.exc import StaleDataError
from sqlmodel import Session, col, select

from audit import journal
from audit.journal import JournalEntry
from core.errors import ConflictError, RuleViolationError
from core.settings import Settings, get_settings
from loans import aging
from loans.book import LOAN, get_loan, installments_of
from loans.floors import floor_for
from loans.models import Loan
from loans.regulation import RuleBook
from loans.rescheduling import apply_extension, granted_request
from statemachines.enums import LoanState, RiskClass
from statemachines.loan_lifecycle import LoanFacts, LoanLifecycle
from statemachines.risk_classification import ClassificationFacts, RiskClassification, event_for


@dataclass
class TransitionResult:
    loan: Loan
    entries: list[JournalEntry]


def lock_loan(session: Session, loan_no: str, expected_version: int | None) -> Loan:
    loan = get_loan(session, loan_no, for_update=True)
    if expected_version is not None and loan.version != expected_version:
        raise ConflictError(
            f"贷款 {loan_no} 已被他人修改（版本 {expected_version} → {loan.version}），请刷新后重试 "
            f"(loan {loan_no} changed since you loaded it, version {expected_version} → "
            f"{loan.version}; reload and try again)",
            loan_no=loan_no,
            expected_version=expected_version,
            version=loan.version,
        )
    return loan


def flush_loan(session: Session, loan_no: str) -> None:
    try:
        session.flush()
    except StaleDataError as exc:  # another transaction bumped the version first (SQLite path)
        raise ConflictError(
            f"贷款 {loan_no} 正被他人修改，请重试 (loan {loan_no} was changed concurrently; try again)",
            loan_no=loan_no,
        ) from exc


def loan_facts(session: Session, loan: Loan, on: date, **decision: Any) -> LoanFacts:
    assert loan.id is not None
    insts = installments_of(session, loan.id)
    granted = granted_request(session, loan.id)
    return LoanFacts(
        risk_class=RiskClass(loan.risk_class),
        days_past_due=aging.days_past_due(insts, on),
        outstanding_cents=aging.outstanding_cents(insts),
        approved_extension=granted is not None,
        extension_restructuring=bool(granted and granted.restructuring),
        **decision,
    )


def npl_since(session: Session, loan_no: str, on: date) -> date | None:
    """When the loan last became 不良 (the journal's class moves), up to `on`."""
    npl = [c.value for c in RiskClass if c.is_npl]
    return session.exec(
        select(func.max(JournalEntry.business_date)).where(
            JournalEntry.aggregate_type == LOAN,
            JournalEntry.aggregate_id == loan_no,
            JournalEntry.machine == "risk_classification",
            JournalEntry.business_date <= on,
            col(JournalEntry.to_state).in_(npl),
            or_(col(JournalEntry.from_state).is_(None), col(JournalEntry.from_state).not_in(npl)),
        )
    ).one()


def npl_exit_for(
    session: Session, loan: Loan, on: date, settings: Settings | None = None
) -> aging.NplExit:
    """The repayment record's evidence for an upgrade out of 不良 on `on` (DOMAIN §3)."""
    s = settings or get_settings()
    assert loan.id is not None
    return aging.npl_exit(
        installments_of(session, loan.id),
        npl_since=npl_since(session, loan.loan_no, on),
        on=on,
        min_periods=s.npl_upgrade_min_periods,
        min_months=s.npl_upgrade_min_months,
    )


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
    loan = lock_loan(session, loan_no, expected_version)
    facts = loan_facts(
        session, loan, business_date, approved_by=approved_by, requested_by=requested_by
    )
    before = str(loan.state)
    LoanLifecycle.fire_on(loan, event, facts=facts)
    payload = dict(payload or {})
    if event == "approve_extension":
        payload.update(apply_extension(session, loan, business_date))
    elif event == "hand_over":
        loan.handed_over = True
    session.add(loan)
    flush_loan(session, loan_no)
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


# Which lifecycle event follows a confirmed class, if any (DOMAIN §2).
def _lifecycle_follow_up(state: LoanState, new_class: RiskClass) -> str | None:
    if new_class.is_npl:
        return (
            "classify_npl"
            if state in (LoanState.normal, LoanState.watched, LoanState.overdue, LoanState.extended)
            else None
        )
    if state == LoanState.non_performing:
        return "reinstate"  # refused while arrears remain: the class never leaves 不良 alone
    if new_class == RiskClass.special_mention and state == LoanState.normal:
        return "flag_risk"
    if new_class == RiskClass.pass_ and state == LoanState.watched:
        return "clear_risk"
    return None


def check_class_agrees(loan: Loan) -> None:
    """Class and lifecycle never disagree: an open loan is *non-performing* exactly when its class
    is 不良 (次级/可疑/损失)."""
    state, cls = LoanState(loan.state), RiskClass(loan.risk_class)
    if state.is_open and (state == LoanState.non_performing) != cls.is_npl:
        raise RuleViolationError(
            f"风险分类{cls.label_zh}与贷款状态{state.label_zh}不一致 "
            f"(class {cls.value} and lifecycle {state.value} would disagree)",
            loan_no=loan.loan_no,
            state=state,
            risk_class=cls,
        )


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
        raise RuleViolationError("风险分类须填写理由 (a classification needs a reason)")
    loan = lock_loan(session, loan_no, expected_version)
    if not LoanState(loan.state).is_open:
        raise RuleViolationError(
            f"贷款 {loan_no} 已{LoanState(loan.state).label_zh}，已结束的贷款不再分类 "
            f"(loan {loan_no} is {loan.state}: a closed loan is not reclassified)",
            loan_no=loan_no,
            state=loan.state,
        )
    floor = floor_for(session, loan, business_date, rules)
    leaving_npl = RiskClass(loan.risk_class).is_npl and not RiskClass(target).is_npl
    evidence = npl_exit_for(session, loan, business_date) if leaving_npl else None
    facts = ClassificationFacts(
        floor=floor.risk_class,
        floor_reasons=floor.reasons,
        proposed_by=proposed_by,
        approved_by=approved_by,
        npl_exit_checked=evidence is not None,
        npl_exit_problem=evidence.problem if evidence else None,
    )
    before_class = str(loan.risk_class)
    RiskClassification.fire_on(loan, event_for(target), state_field="risk_class", facts=facts)
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
    follow = _lifecycle_follow_up(LoanState(loan.state), target)
    if follow:
        before = str(loan.state)
        LoanLifecycle.fire_on(loan, follow, facts=lfacts)
        entries.append(
            _journal(session, loan, "loan_lifecycle", follow, before, str(loan.state), ctx)
        )
    check_class_agrees(loan)
    session.add(loan)
    flush_loan(session, loan_no)
    return TransitionResult(loan, entries)
