"""Read models of the loan book for lists and detail pages (one query per list page)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import false, func, or_
from sqlmodel import Session, select

from audit.journal import JournalEntry
from audit.replay import ReplayResult, replay
from core.db import subtree
from core.errors import NotFoundError
from core.identity import OrgUnit, User
from loans import aging
from loans.book import LOAN, get_loan, installments_of
from loans.floors import floor_for
from loans.models import Borrower, Installment, Loan
from loans.regulation import Floor


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
    org_paths: Sequence[str] | None = None,
) -> tuple[list[LoanRow], int]:
    """Loans of the given org subtrees (None: every loan — auditors), filtered and paged."""
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
    if org_paths is not None:
        query = query.where(or_(false(), *(subtree(OrgUnit.path, p) for p in org_paths)))
    if branch_code:
        branch = session.exec(select(OrgUnit).where(OrgUnit.code == branch_code)).first()
        path = branch.path if branch else "/-none-/"
        query = query.where(subtree(OrgUnit.path, path))
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


def visible_loan(session: Session, loan_no: str, org_paths: Sequence[str] | None) -> Loan:
    """The loan if it belongs to one of the org subtrees (None: all); else "not found"."""
    loan = get_loan(session, loan_no)
    if org_paths is not None:
        branch = session.get(OrgUnit, loan.branch_id)
        if branch is None or not any(branch.path.startswith(p) for p in org_paths):
            raise NotFoundError(f"no loan {loan_no!r}", loan_no=loan_no)
    return loan


def loan_detail(
    session: Session, loan_no: str, on: date, org_paths: Sequence[str] | None = None
) -> LoanDetail:
    loan = visible_loan(session, loan_no, org_paths)
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


def replay_loan(
    session: Session,
    loan_no: str,
    as_of: date | None = None,
    org_paths: Sequence[str] | None = None,
) -> LoanReplay:
    """Fold the loan's journal up to `as_of` and compare with the stored state where it applies."""
    loan = visible_loan(session, loan_no, org_paths)
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
