"""The plan of a student loan (国家助学贷款), pure maths on integer cents: who pays the interest of
each period — the state while the student is in school (财政贴息), the borrower after — interest
only through the grace period (还本宽限期), then principal and interest by the loan's method.

Booking plans the whole loan from the expected graduation date. A graduation confirmation plans
again from what is already billed: installments already due stay as they are (days past due
never reset, as after an extension), subsidy periods after the confirmed leaving date are
withdrawn, and interest of a withdrawn period the new plan does not bill again is carried into
the first installment still to fall due. Imports no DB, web or Prefect library."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from core.errors import RuleViolationError
from loans.schedule import (
    RepaymentMethod,
    ScheduledInstallment,
    accrued_interest,
    add_months,
    generate_schedule,
    interest_periods,
)


@dataclass(frozen=True)
class SubsidyPeriod:
    """One in-school interest period the state pays (财政贴息); `id` when it is stored."""

    start: date
    end: date
    interest_cents: int
    id: int | None = None


@dataclass(frozen=True)
class StudentPlanFacts:
    """What a student loan's plan is made from."""

    principal_cents: int
    annual_rate: Decimal
    method: RepaymentMethod
    disbursement_date: date
    maturity_date: date
    leaves_school_on: date  # confirmed graduation / leaving date, else the expected one
    grace_months: int
    subsidised: bool

    @property
    def repayment_start(self) -> date:
        """还本起始日: the end of the grace period after leaving school."""
        return add_months(self.leaves_school_on, self.grace_months)


@dataclass(frozen=True)
class StudentPlan:
    """What to store: installments the borrower owes (numbered from 1), subsidy periods to add
    and stored ones to withdraw, and the interest carried into the first new installment."""

    installments: list[ScheduledInstallment]
    subsidy: list[SubsidyPeriod]
    withdraw: list[SubsidyPeriod] = field(default_factory=list)
    carried_interest_cents: int = 0
    repayment_start: date | None = None


def plan_student_loan(
    facts: StudentPlanFacts,
    *,
    principal_left: int | None = None,
    billed_through: date | None = None,
    stored_subsidy: Sequence[SubsidyPeriod] = (),
    planned_on: date | None = None,
) -> StudentPlan:
    """The plan from `billed_through` (the last due date already billed to the borrower; the
    disbursement date at booking) on `principal_left` (the principal not yet billed).

    The state pays [disbursement, leaving school) if the loan is subsidised; a stored subsidy
    period after the leaving date is withdrawn (the part before it stays, as a new row). The
    borrower pays interest from the later of leaving school and `billed_through` to the
    repayment start, then principal and interest to maturity. Installments of the new plan due
    on or before `planned_on` (a late confirmation) fall due with the first later one.
    """
    principal = facts.principal_cents if principal_left is None else principal_left
    billed = billed_through or facts.disbursement_date
    state_until = facts.leaves_school_on if facts.subsidised else facts.disbursement_date
    borrower_from = max(billed, state_until)

    keep_until = facts.disbursement_date
    withdraw: list[SubsidyPeriod] = []
    subsidy: list[SubsidyPeriod] = []
    carried = 0
    for period in stored_subsidy:
        if period.end <= state_until:
            keep_until = max(keep_until, period.end)
            continue
        withdraw.append(period)
        if period.start < state_until:  # the part before leaving school stays the state's
            part = accrued_interest(principal, facts.annual_rate, period.start, state_until)
            subsidy.append(SubsidyPeriod(period.start, state_until, part))
            keep_until = state_until
        # what the state no longer pays and no new installment bills: the borrower's, now
        start = max(period.start, state_until)
        end = min(period.end, borrower_from)
        carried += accrued_interest(principal, facts.annual_rate, start, end) if end > start else 0
    subsidy += [
        SubsidyPeriod(start, end, interest)
        for start, end, interest in interest_periods(
            principal, facts.annual_rate, max(keep_until, billed), state_until
        )
    ]

    repayment_start = facts.repayment_start
    amortise_from = max(repayment_start, borrower_from)
    rows = [
        (due, 0, interest)
        for _, due, interest in interest_periods(
            principal, facts.annual_rate, borrower_from, amortise_from
        )
    ]
    if principal > 0 and amortise_from < facts.maturity_date:
        rows += [
            (r.due_date, r.principal_cents, r.interest_cents)
            for r in generate_schedule(
                principal_cents=principal,
                annual_rate=facts.annual_rate,
                disbursement_date=amortise_from,
                maturity_date=facts.maturity_date,
                method=facts.method,
            )
        ]
    rows = _fold_into_first_later(rows, planned_on, carried)
    rows = [r for r in rows if r[1] or r[2]]  # an interest-free loan bills nothing in its grace
    installments = [
        ScheduledInstallment(seq, due, p, i) for seq, (due, p, i) in enumerate(rows, start=1)
    ]
    return StudentPlan(installments, subsidy, withdraw, carried, repayment_start)


def _fold_into_first_later(
    rows: list[tuple[date, int, int]], on: date | None, carried: int
) -> list[tuple[date, int, int]]:
    """Rows due on or before `on`, and the carried interest, added to the first row after it."""
    split = sum(1 for r in rows if on is not None and r[0] <= on)  # rows are in due-date order
    past, later = rows[:split], rows[split:]
    if not later:
        if past or carried:
            raise RuleViolationError(
                f"{on} 之后没有还款期次可以承接，贷款已到期 "
                f"(nothing falls due after {on}: the loan has matured)"
            )
        return []
    due, principal, interest = later[0]
    later[0] = (
        due,
        principal + sum(r[1] for r in past),
        interest + sum(r[2] for r in past) + carried,
    )
    return later
