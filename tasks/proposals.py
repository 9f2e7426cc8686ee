"""Automatic downgrade proposals (DOMAIN §3): a loan below its regulatory floor gets a
classification-review task for the head of its branch — the first level of the classification
chain. The class itself changes only when the chain confirms it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from sqlmodel import Session, col, func, select

from core.identity import OrgUnit, Role
from loans.models import Borrower, Installment, Loan
from statemachines.enums import RiskClass
from tasks.bulk import TaskRow, open_tasks_bulk

KIND = "classification_review"


class Proposal(Protocol):
    loan_id: int
    loan_no: str
    current_class: Any
    floor_class: Any
    reasons: Sequence[str]
    rule_refs: Sequence[str]


def proposal_rows(session: Session, proposals: Sequence[Proposal], *, due: date) -> list[TaskRow]:
    """Task rows for the proposals, business columns read in two queries for all of them."""
    ids = [p.loan_id for p in proposals]
    if not ids:
        return []
    loans = {
        loan.id: (loan, borrower, branch)
        for loan, borrower, branch in session.exec(
            select(Loan, Borrower, OrgUnit)
            .join(Borrower, col(Borrower.id) == col(Loan.borrower_id))
            .join(OrgUnit, col(OrgUnit.id) == col(Loan.branch_id))
            .where(col(Loan.id).in_(ids))
        ).all()
    }
    exposure = dict(
        session.exec(
            select(
                Installment.loan_id,
                func.sum(
                    col(Installment.principal_due_cents) - col(Installment.principal_paid_cents)
                ),
            )
            .where(col(Installment.loan_id).in_(ids))
            .group_by(col(Installment.loan_id))
        ).all()
    )
    rows = []
    for p in proposals:
        loan, borrower, branch = loans[p.loan_id]
        floor = RiskClass(p.floor_class)
        rows.append(
            TaskRow(
                kind=KIND,
                key=f"{KIND}:{loan.loan_no}:{floor.value}",
                title=f"五级分类下调建议 {RiskClass(p.current_class).label_zh}→{floor.label_zh} · "
                f"{borrower.name}",
                due_date=due,
                candidate_role=Role.branch_head.value,
                candidate_org_unit_id=branch.id or 0,
                candidate_org_path=branch.path,
                branch_id=branch.id,
                branch_path=branch.path,
                loan_id=loan.id,
                loan_no=loan.loan_no,
                borrower_name=borrower.name,
                product=loan.product,
                bucket=loan.bucket,
                risk_class=str(loan.risk_class),
                exposure_cents=int(exposure.get(p.loan_id, 0) or 0),
                chain_key=f"classification:{loan.loan_no}:{floor.value}",
                chain_level=1,
                priority=floor.rank,
                context={
                    "proposed_class": floor.value,
                    "current_class": str(p.current_class),
                    "reasons": list(p.reasons),
                    "rule_refs": list(p.rule_refs),
                    "proposed_by": "system:daily-sweep",
                },
            )
        )
    return rows


def open_floor_proposals(
    session: Session,
    proposals: Sequence[Proposal],
    *,
    actor: str,
    now: datetime,
    business_date: date,
    days_to_decide: int = 5,
) -> int:
    """Open the review tasks (idempotent by loan and proposed class); returns how many are new."""
    rows = proposal_rows(session, proposals, due=business_date + timedelta(days=days_to_decide))
    return len(open_tasks_bulk(session, rows, actor=actor, now=now, business_date=business_date))
