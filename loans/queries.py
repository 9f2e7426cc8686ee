"""Read models of the loan book for lists and detail pages (one query per list page)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, or_
from sqlmodel import Session, select

from audit.journal import JournalEntry
from audit.replay import ReplayResult, replay
from core.identity import OrgUnit, User
from loans import aging
from loans.book import LOAN, get_loan, installments_of
from loans.models import Borrower, Installment, Loan
from loans.regulation import Floor
from loans.transitions import floor_for


@dataclass(frozen=True)
class LoanRow:
    loan: Loan
    borrower_name: str
    branch_name: str
    manager_name: str
    outstanding_principal_cents: int


def list_loans(
    session: Session,
    *,
    branch_code: str | None = None,
    state: str | None = None,
    risk_class: str | None = None,
    q: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[LoanRow], int]:
    outstanding = (
        select(
            Installment.loan_id,
            func.sum(Installment.principal_due_cents - Installment.principal_paid_cents).label(
                "principal"
            ),
        )
        .group_by(Installment.loan_id)
        .subquery()
    )
    query = (
        select(
            Loan,
            Borrower.name,
            OrgUnit.name,
            User.full_name,
            func.coalesce(outstanding.c.principal, 0),
        )
        .join(Borrower, Borrower.id == Loan.borrower_id)
        .join(OrgUnit, OrgUnit.id == Loan.branch_id)
        .join(User, User.id == Loan.account_manager_id)
        .outerjoin(outstanding, outstanding.c.loan_id == Loan.id)
    )
    if branch_code:
        branch = session.exec(select(OrgUnit).where(OrgUnit.code == branch_code)).first()
        subtree = branch.path if branch else "/-none-/"
        query = query.where(OrgUnit.path.startswith(subtree))  # type: ignore[attr-defined]
    if state:
        query = query.where(Loan.state == state)
    if risk_class:
        query = query.where(Loan.risk_class == risk_class)
    if q:
        like = f"%{q}%"
        query = query.where(or_(Loan.loan_no.like(like), Borrower.name.like(like)))  # type: ignore[attr-defined]
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    rows = session.exec(query.order_by(Loan.loan_no).limit(limit).offset(offset)).all()
    return [LoanRow(r[0], r[1], r[2], r[3], int(r[4])) for r in rows], int(total)


@dataclass(frozen=True)
class LoanDetail:
    loan: Loan
    borrower: Borrower
    branch: OrgUnit
    manager: User
    installments: list[Installment]
    days_past_due: int
    outstanding_cents: int
    floor: Floor


def loan_detail(session: Session, loan_no: str, on: date) -> LoanDetail:
    loan = get_loan(session, loan_no)
    insts = installments_of(session, loan.id or 0)
    borrower = session.get(Borrower, loan.borrower_id)
    branch = session.get(OrgUnit, loan.branch_id)
    manager = session.get(User, loan.account_manager_id)
    assert borrower and branch and manager
    return LoanDetail(
        loan,
        borrower,
        branch,
        manager,
        insts,
        aging.days_past_due(insts, on),
        aging.outstanding_cents(insts),
        floor_for(session, loan, on),
    )


@dataclass(frozen=True)
class LoanReplay:
    result: ReplayResult
    stored: dict[str, str]
    matches_stored: bool | None  # None: the as-of date is before later entries, nothing to match


def replay_loan(session: Session, loan_no: str, as_of: date | None = None) -> LoanReplay:
    """Fold the loan's journal up to `as_of` and compare with the stored state where it applies."""
    loan = get_loan(session, loan_no)
    stored = {"loan_lifecycle": str(loan.state), "risk_classification": str(loan.risk_class)}
    result = replay(session, LOAN, loan_no, as_of=as_of)
    newest = session.exec(
        select(func.max(JournalEntry.business_date)).where(
            JournalEntry.aggregate_type == LOAN, JournalEntry.aggregate_id == loan_no
        )
    ).one()
    comparable = as_of is None or newest is None or as_of >= newest
    matches = (result.states == stored and not result.problems) if comparable else None
    return LoanReplay(result, stored, matches)
