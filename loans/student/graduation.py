"""毕业确认: the graduation confirmation service. In the caller's one transaction it locks the
loan, checks what was confirmed against the loan (field errors), plans the loan again from the
confirmation date — the repayment start moves to the grace period's end after the confirmed
date — replaces the installments not yet due, withdraws subsidy periods the state no longer
pays, updates the school facts and journals it all on the loan's chain."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlmodel import Session, col, select

from audit import journal
from core.errors import NotFoundError, RuleViolationError, ValidationError
from loans.book import LOAN, installments_of
from loans.models import Installment, Loan
from loans.schedule import RepaymentMethod, add_months
from loans.student.book import STUDENT_MACHINE, plan_summary, school_facts, store_subsidy
from loans.student.models import SchoolStatus, StudentLoan, StudentSubsidy
from loans.student.plan import StudentPlanFacts, SubsidyPeriod, plan_student_loan
from loans.transitions import flush_loan, lock_loan
from statemachines.enums import LoanState


@dataclass(frozen=True)
class Confirmation:
    """What the institution confirmed: graduated or left school on a date, or still in school
    (a further degree, a delayed graduation) until a new expected date. Field names are the
    graduation_confirmation form's."""

    status: SchoolStatus
    graduation_date: date | None = (
        None  # graduated / left_school: the day the in-school period ended
    )
    new_expected_graduation_date: date | None = None  # in_school: studies continue until then


def _err(field: str, zh: str, en: str) -> dict[str, str]:
    return {"field": field, "message": zh, "message_en": en}


def student_loan_of(session: Session, loan: Loan) -> StudentLoan:
    record = session.get(StudentLoan, loan.id)
    if record is None:
        raise NotFoundError(
            f"贷款 {loan.loan_no} 不是助学贷款 (loan {loan.loan_no} is not a student loan)",
            loan_no=loan.loan_no,
        )
    return record


def _check(loan: Loan, record: StudentLoan, c: Confirmation, on: date) -> tuple[date, date] | None:
    """(leaves school on, expected graduation) the confirmation gives, or raises naming fields."""
    errors: list[dict[str, str]] = []
    if c.status == SchoolStatus.in_school:
        expected = c.new_expected_graduation_date
        if expected is None:
            errors.append(_err("new_expected_graduation_date", "继续在校须填写新的预计毕业日期",
                               "still in school: give the new expected graduation date"))  # fmt: skip
        elif expected <= on:
            errors.append(_err("new_expected_graduation_date", f"须晚于今天 {on}",
                               f"must be after today {on}"))  # fmt: skip
        leaves = expected
    else:
        leaves = c.graduation_date  # type: ignore[assignment]
        expected = record.expected_graduation_date
        if leaves is None:
            errors.append(_err("graduation_date", "请填写毕业（离校）日期",
                               "give the graduation (leaving) date"))  # fmt: skip
        elif leaves > on:
            errors.append(
                _err("graduation_date", f"不能晚于今天 {on}", f"cannot be after today {on}")
            )
        elif leaves <= max(loan.disbursement_date, record.enrolment_date):
            errors.append(_err("graduation_date", "须晚于入学日期和放款日",
                               "must be after the enrolment and the disbursement"))  # fmt: skip
    if leaves is not None and not errors:
        starts = add_months(leaves, record.grace_months)
        if starts >= loan.maturity_date:
            field = "graduation_date" if c.status != SchoolStatus.in_school else (
                "new_expected_graduation_date")  # fmt: skip
            errors.append(_err(field, f"还本起始日 {starts} 须早于到期日 {loan.maturity_date}",
                               f"repayment start {starts} must be before maturity "
                               f"{loan.maturity_date}"))  # fmt: skip
    if errors:
        raise ValidationError(
            f"毕业确认有误 (the graduation confirmation of {loan.loan_no} is not valid)",
            errors=errors, loan_no=loan.loan_no,
        )  # fmt: skip
    assert leaves is not None and expected is not None
    return leaves, expected


def confirm_graduation(
    session: Session,
    loan_no: str,
    confirmation: Confirmation,
    *,
    actor: str,
    now: datetime,
    business_date: date,
    expected_version: int | None = None,
    reason: str | None = None,
    on_behalf_of: str | None = None,
    payload: dict[str, Any] | None = None,
    form_kind: str | None = None,
    schema_hash: str | None = None,
) -> StudentLoan:
    """Record the confirmation and plan the loan again from `business_date` (see the module)."""
    loan = lock_loan(session, loan_no, expected_version)
    record = student_loan_of(session, loan)
    if not LoanState(loan.state).is_open:
        raise RuleViolationError(
            f"贷款 {loan_no} 已{LoanState(loan.state).label_zh}，不再确认毕业 "
            f"(loan {loan_no} is {loan.state}: nothing left to confirm)",
            loan_no=loan_no,
        )
    if record.status != SchoolStatus.in_school:
        raise RuleViolationError(
            f"贷款 {loan_no} 的毕业已于 {record.graduation_confirmed_on} 确认 "
            f"(loan {loan_no}: graduation already confirmed on {record.graduation_confirmed_on})",
            loan_no=loan_no,
        )
    checked = _check(loan, record, confirmation, business_date)
    assert checked is not None and loan.id is not None
    leaves, expected = checked
    before = school_facts(record)
    plan = _replan(session, loan, record, leaves, business_date)
    record.status = confirmation.status
    record.expected_graduation_date = expected
    record.graduation_date = None if confirmation.status == SchoolStatus.in_school else leaves
    record.graduation_confirmed_on = business_date
    record.repayment_start = plan.repayment_start or record.repayment_start
    session.add(record)
    flush_loan(session, loan_no)
    journal.append(
        session,
        aggregate_type=LOAN,
        aggregate_id=loan_no,
        machine=STUDENT_MACHINE,
        event="confirm_graduation",
        from_state=str(before["status"]),
        to_state=str(record.status),
        actor=actor,
        now=now,
        business_date=business_date,
        reason=reason or "毕业确认 (graduation confirmed)",
        on_behalf_of=on_behalf_of,
        payload={
            **(payload or {}),
            "before": before,
            "after": school_facts(record),
            **plan_summary(plan),
        },
        form_kind=form_kind,
        schema_hash=schema_hash,
    )
    return record


def _replan(session: Session, loan: Loan, record: StudentLoan, leaves: date, on: date) -> Any:
    """Installments due by `on`, or already (partly) paid, stay; the rest are planned again."""
    assert loan.id is not None
    insts = installments_of(session, loan.id)
    kept = [i for i in insts if i.due_date <= on or i.principal_paid_cents or i.interest_paid_cents]
    stored = session.exec(
        select(StudentSubsidy)
        .where(StudentSubsidy.loan_id == loan.id, col(StudentSubsidy.withdrawn_on).is_(None))
        .order_by(col(StudentSubsidy.period_start))
    ).all()
    facts = StudentPlanFacts(
        principal_cents=loan.principal_cents,
        annual_rate=loan.annual_rate,
        method=RepaymentMethod(loan.repayment_method),
        disbursement_date=loan.disbursement_date,
        maturity_date=loan.maturity_date,
        leaves_school_on=leaves,
        grace_months=record.grace_months,
        subsidised=record.subsidised,
    )
    plan = plan_student_loan(
        facts,
        principal_left=loan.principal_cents - sum(i.principal_due_cents for i in kept),
        billed_through=max((i.due_date for i in kept), default=None),
        stored_subsidy=[
            SubsidyPeriod(s.period_start, s.period_end, s.interest_cents, s.id) for s in stored
        ],  # fmt: skip
        planned_on=on,
    )
    for inst in insts:
        if inst not in kept:
            session.delete(inst)
    session.flush()
    first = max((i.seq_no for i in kept), default=0)
    session.add_all(
        Installment(loan_id=loan.id, seq_no=first + r.seq_no, due_date=r.due_date,
                    principal_due_cents=r.principal_cents, interest_due_cents=r.interest_cents)
        for r in plan.installments
    )  # fmt: skip
    withdrawn = {p.id for p in plan.withdraw}
    for row in stored:
        if row.id in withdrawn:
            row.withdrawn_on = on
            session.add(row)
    store_subsidy(session, loan.id, plan, on)
    return plan
