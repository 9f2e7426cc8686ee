"""/api/v1/loans: the loan book (read) and a loan's history as of any date."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query

from api.auth import ActorDep
from api.deps import ClockDep, OneHopRoute, SessionDep
from api.error_schema import error_responses
from api.params import CodeOrNone, Limit, LoanNo, Offset, SearchOrNone
from api.replay_schemas import LoanReplayPublic, entry_public
from api.schemas import (
    InstallmentPublic,
    LoanDetailPublic,
    LoanPublic,
    LoansPublic,
    StudentLoanPublic,
)
from cases.loan_history import loan_history
from loans.queries import LoanRow, list_loans, loan_detail, replay_loan, visible_loan
from loans.student.view import student_view
from tasks.access import Actor

router = APIRouter(prefix="/loans", tags=["loans"], route_class=OneHopRoute)


def org_paths(actor: Actor) -> list[str] | None:
    """The org subtrees the actor may see (None: everything — auditors)."""
    return None if actor.read_only else [p.org_path for p in actor.principals]


def _public(row: LoanRow) -> LoanPublic:
    loan = row.loan
    return LoanPublic(
        loan_no=loan.loan_no,
        borrower=row.borrower_name,
        branch=row.branch_name,
        account_manager=row.manager_name,
        product=loan.product,
        state=loan.state,
        risk_class=loan.risk_class,
        principal_cents=loan.principal_cents,
        outstanding_principal_cents=row.outstanding_principal_cents,
        disbursement_date=loan.disbursement_date,
        maturity_date=loan.maturity_date,
        version=loan.version,
    )


@router.get("", response_model=LoansPublic, responses=error_responses(401, 422))
def read_loans(
    session: SessionDep,
    actor: ActorDep,
    branch: CodeOrNone = None,
    state: CodeOrNone = None,
    risk_class: CodeOrNone = None,
    q: SearchOrNone = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> LoansPublic:
    rows, count = list_loans(
        session,
        branch_code=branch,
        state=state,
        risk_class=risk_class,
        q=q,
        limit=limit,
        offset=offset,
        org_paths=org_paths(actor),
    )
    return LoansPublic(data=[_public(r) for r in rows], count=count)


@router.get("/{loan_no}", response_model=LoanDetailPublic, responses=error_responses(401, 404, 422))
def read_loan(
    loan_no: LoanNo,
    session: SessionDep,
    clock: ClockDep,
    actor: ActorDep,
    as_of: Annotated[
        date | None, Query(description="截至日期：该日的贷款 (the loan as it stood that day)")
    ] = None,
) -> LoanDetailPublic:
    d = loan_detail(session, loan_no, clock.today(), org_paths(actor), as_of=as_of)
    base = _public(
        LoanRow(
            d.loan, d.borrower.name, d.branch.name, d.manager.full_name,
            d.outstanding_principal_cents,
        )
    )  # fmt: skip
    return LoanDetailPublic(
        **base.model_dump(exclude={"state", "risk_class"}),
        state=d.state,
        risk_class=d.risk_class,
        as_of=d.as_of,
        repayment_method=d.loan.repayment_method,
        annual_rate=str(d.loan.annual_rate),
        days_past_due=d.days_past_due,
        outstanding_cents=d.outstanding_cents,
        class_floor=d.floor.risk_class,
        class_floor_rules=list(d.floor.rule_refs),
        installments=[
            InstallmentPublic.model_validate(i, from_attributes=True) for i in d.installments
        ],
        student=_student(session, d.loan.id or 0, d.loan.product, d.on),
    )


def _student(session: SessionDep, loan_id: int, product: str, on: date) -> StudentLoanPublic | None:
    view = student_view(session, loan_id, product, on)
    return StudentLoanPublic.model_validate(view, from_attributes=True) if view else None


@router.get(
    "/{loan_no}/history", response_model=LoanReplayPublic, responses=error_responses(401, 404, 422)
)
def read_loan_history(
    loan_no: LoanNo,
    session: SessionDep,
    clock: ClockDep,
    actor: ActorDep,
    as_of: Annotated[
        date | None,
        Query(description="截至日期：回放到该日 (replay up to and including that business date)"),
    ] = None,
) -> LoanReplayPublic:
    """Every journal entry of the loan and of its tasks, approval requests and cases, oldest
    first, and the loan's state and class on `as_of` folded from its journal (回放)."""
    r = replay_loan(session, loan_no, as_of, org_paths(actor), today=clock.today())
    loan = visible_loan(session, loan_no, org_paths(actor))
    history = loan_history(session, loan.id or 0, loan_no, as_of)
    return LoanReplayPublic(
        loan_no=loan_no,
        as_of=as_of,
        state=r.result.states.get("loan_lifecycle"),
        risk_class=r.result.states.get("risk_classification"),
        states=r.result.states,
        stored=r.stored,
        matches_stored=r.matches_stored,
        problems=r.result.problems,
        entries=[entry_public(row, history.names) for row in history.rows],
    )
