"""The regulatory floor facts of loans, from the book as of a date — the one place they are
gathered, for one loan (the transition service, pages) or thousands (the daily sweep's chunks).

Days past due from the installments; 第七条 contagion over the borrower's claims on the books
(open loans only: a settled or written-off loan is no longer a claim); restructuring from the
loan's history of restructurings (loans/restructuring.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import Table, func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from loans import aging
from loans.models import Borrower, BorrowerKind, Installment, Loan
from loans.regulation import Floor, FloorFacts, RuleBook, classification_floor
from loans.rescheduling import restructuring_history
from loans.restructuring import floor_facts, restructuring_facts
from statemachines.enums import LoanState, RiskClass

OPEN_STATES = tuple(s.value for s in LoanState if s.is_open)
INSTALLMENTS: Table = Installment.__table__  # type: ignore[attr-defined]


class LoanLike(Protocol):
    id: Any
    borrower_id: int
    risk_class: Any


def contagion_shares(session: Session, loans: Sequence[LoanLike]) -> dict[int, Decimal]:
    """For each loan of a non-retail borrower: the share of the borrower's outstanding principal
    on the books held in its *other* 不良 loans. The loan itself counts as performing (or a
    borrower's only loan, once 不良, would hold itself 不良 forever). Retail borrowers: absent."""
    borrowers = {loan.borrower_id for loan in loans}
    if not borrowers:
        return {}
    owed = func.coalesce(
        func.sum(col(Installment.principal_due_cents) - col(Installment.principal_paid_cents)), 0
    )
    claims: dict[int, list[tuple[int, bool, int]]] = {}
    ids = sorted(borrowers)
    for start in range(0, len(ids), 1000):
        rows = session.exec(
            select(col(Loan.id), col(Loan.borrower_id), col(Loan.risk_class), owed)
            .join(Installment, col(Installment.loan_id) == col(Loan.id))
            .join(Borrower, col(Borrower.id) == col(Loan.borrower_id))
            .where(
                col(Loan.borrower_id).in_(ids[start : start + 1000]),
                col(Loan.state).in_(OPEN_STATES),
                col(Borrower.kind) != BorrowerKind.individual.value,
            )
            .group_by(col(Loan.id), col(Loan.borrower_id), col(Loan.risk_class))
        ).all()
        for loan_id, borrower_id, cls, amount in rows:
            claims.setdefault(borrower_id, []).append((loan_id, RiskClass(cls).is_npl, int(amount)))
    shares: dict[int, Decimal] = {}
    for loan in loans:
        mine = claims.get(loan.borrower_id)
        if mine is None:
            continue
        total = sum(amount for _, _, amount in mine)
        npl = sum(amount for loan_id, is_npl, amount in mine if is_npl and loan_id != loan.id)
        shares[loan.id] = Decimal(npl) / Decimal(total) if total else Decimal(0)
    return shares


def floor_facts_for(
    session: Session, loans: Sequence[LoanLike], on: date, rules: RuleBook
) -> dict[int, FloorFacts]:
    """The FloorFacts of each loan on `on`, in a handful of queries however many loans."""
    ids = [loan.id for loan in loans]
    schedules: dict[int, list[Any]] = {i: [] for i in ids}
    table = INSTALLMENTS  # plain rows: no ORM object per installment of thousands of loans
    for start in range(0, len(ids), 1000):
        for inst in session.connection().execute(
            sa_select(table)
            .where(table.c.loan_id.in_(ids[start : start + 1000]))
            .order_by(table.c.loan_id, table.c.seq_no)
        ):
            schedules[inst.loan_id].append(inst)
    shares = contagion_shares(session, loans)
    history = restructuring_history(session, ids)
    borrower_ids = sorted({loan.borrower_id for loan in loans})
    retail = set(
        session.exec(
            select(col(Borrower.id)).where(
                col(Borrower.id).in_(borrower_ids),
                col(Borrower.kind) == BorrowerKind.individual.value,
            )
        ).all()
    )
    return {
        loan.id: floor_facts(
            days_past_due=aging.days_past_due(schedules[loan.id], on),
            is_retail=loan.borrower_id in retail,
            borrower_npl_share=shares.get(loan.id, Decimal(0)),
            current_class=RiskClass(loan.risk_class),
            restructuring=restructuring_facts(history[loan.id], schedules[loan.id], on, rules),
        )
        for loan in loans
    }


def floor_for(session: Session, loan: Loan, on: date, rules: RuleBook | None = None) -> Floor:
    """The best class the rules in force on `on` allow for this loan's facts."""
    book = RuleBook.from_settings() if rules is None else rules
    facts = floor_facts_for(session, [loan], on, book)[loan.id]
    return classification_floor(facts, on, book)


def floors_for(
    session: Session, loans: Iterable[LoanLike], on: date, rules: RuleBook
) -> dict[int, Floor]:
    loans = list(loans)
    facts = floor_facts_for(session, loans, on, rules)
    return {loan_id: classification_floor(f, on, rules) for loan_id, f in facts.items()}
