"""Read models of the loan book for lists and detail pages (one query per list page)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import false, func, or_
from sqlmodel import Session, col, select

from audit.journal import JournalEntry
from audit.replay import ReplayResult, replay
from core.db import subtree
from core.errors import NotFoundError, ValidationError
from core.identity import OrgUnit, User
from loans import aging
from loans.book import LOAN, get_loan, installments_of
from loans.floors import floor_for
from loans.models import Borrower, Installment, Loan, Payment
from loans.payments import allocated_as_of
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
    """A loan as it stood on `on`. Today: the stored state. An earlier date (`as_of`): state and
    class replayed from the journal, the schedule's paid amounts re-derived from the payments
    valued by then, the payments of then; DPD, outstanding and the floor from those."""

    loan: Loan
    borrower: Borrower
    branch: OrgUnit
    manager: User
    installments: list[Installment]
    days_past_due: int
    outstanding_cents: int
    floor: Floor
    on: date
    state: str
    risk_class: str
    payments: list[Payment]
    as_of: date | None = None  # None: today's stored book

    @property
    def outstanding_principal_cents(self) -> int:
        return aging.outstanding_principal_cents(self.installments)


@dataclass(frozen=True)
class _LoanOn:
    """What the floor reads of a loan (floors.LoanLike), with the class it had on a date."""

    id: int | None
    borrower_id: int
    risk_class: str


def visible_loan(session: Session, loan_no: str, org_paths: Sequence[str] | None) -> Loan:
    """The loan if it belongs to one of the org subtrees (None: all); else "not found"."""
    loan = get_loan(session, loan_no)
    if org_paths is not None:
        branch = session.get(OrgUnit, loan.branch_id)
        if branch is None or not any(branch.path.startswith(p) for p in org_paths):
            raise NotFoundError(f"未找到贷款 {loan_no!r} (no loan {loan_no!r})", loan_no=loan_no)
    return loan


def check_as_of(loan: Loan, as_of: date, today: date) -> None:
    """An as-of date lies between the loan's disbursement and today: before it the loan did not
    exist; after today nothing is known yet."""
    if as_of < loan.disbursement_date or as_of > today:
        raise ValidationError(
            f"截至日期 {as_of} 须在放款日 {loan.disbursement_date} 与今天 {today} 之间 "
            f"(the as-of date must lie between the disbursement date and today)",
            errors=[
                {
                    "field": "as_of",
                    "message": f"须在 {loan.disbursement_date} 至 {today} 之间 "
                    f"(between {loan.disbursement_date} and {today})",
                }
            ],
            loan_no=loan.loan_no,
            as_of=as_of.isoformat(),
            disbursement_date=loan.disbursement_date.isoformat(),
            today=today.isoformat(),
        )


def loan_detail(
    session: Session,
    loan_no: str,
    on: date,
    org_paths: Sequence[str] | None = None,
    as_of: date | None = None,
) -> LoanDetail:
    """The loan today (`on`), or as of an earlier date (`as_of`, checked against `on`)."""
    loan = visible_loan(session, loan_no, org_paths)
    insts = installments_of(session, loan.id or 0)
    payments = list(
        session.exec(
            select(Payment)
            .where(Payment.loan_id == loan.id)
            .order_by(col(Payment.value_date), col(Payment.id))
        ).all()
    )
    borrower = session.get(Borrower, loan.borrower_id)
    branch = session.get(OrgUnit, loan.branch_id)
    manager = session.get(User, loan.account_manager_id)
    assert borrower and branch and manager
    state, risk_class, subject = str(loan.state), str(loan.risk_class), loan
    if as_of is not None:
        check_as_of(loan, as_of, on)
        on = as_of
        states = replay(session, LOAN, loan_no, as_of=as_of).states
        state = states.get("loan_lifecycle", state)
        risk_class = states.get("risk_classification", risk_class)
        insts, payments = allocated_as_of(insts, payments, as_of)
        subject = _LoanOn(loan.id, loan.borrower_id, risk_class)
    return LoanDetail(
        loan,
        borrower,
        branch,
        manager,
        insts,
        aging.days_past_due(insts, on),
        aging.outstanding_cents(insts),
        floor_for(session, subject, on),
        on,
        state,
        risk_class,
        payments,
        as_of,
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
    today: date | None = None,
) -> LoanReplay:
    """Fold the loan's journal up to `as_of` and compare with the stored state where it applies.
    Given `today`, an as-of date outside the loan's life is refused (check_as_of)."""
    loan = visible_loan(session, loan_no, org_paths)
    if as_of is not None and today is not None:
        check_as_of(loan, as_of, today)
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
