"""Demo approvals for the demo book (`postloan demo seed`): an extension waiting for a branch
head in each branch, and a warning signal reported on a loan — so that a head's inbox shows the
approval half of the product from the first sign-in. (The sweep adds its floor proposals.)"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlmodel import Session, col, select

from approvals.filing import file_extension
from cases.completion import EFFECTS
from cases.warnings import raise_warning
from core.errors import PostloanError
from core.identity import User
from loans import aging
from loans.book import installments_of
from loans.models import Loan
from statemachines.enums import LoanState
from tasks.access import actor_for


def seed_demo_requests(session: Session, *, today: date, now: datetime) -> int:
    """One extension per branch (a healthy loan maturing in 2–12 months) and one warning."""
    filed = 0
    candidates = session.exec(
        select(Loan)
        .where(
            col(Loan.state).in_((LoanState.normal.value, LoanState.watched.value)),
            col(Loan.maturity_date).between(
                today + timedelta(days=60), today + timedelta(days=365)
            ),
        )
        .order_by(col(Loan.loan_no))
    ).all()
    branches: set[int] = set()
    for loan in candidates:
        if loan.branch_id in branches or aging.days_past_due(
            installments_of(session, loan.id or 0), today
        ):
            continue
        manager = session.get(User, loan.account_manager_id)
        assert manager is not None
        try:
            with session.begin_nested():  # a loan with guarantors needs their consent: skip it
                file_extension(
                    session, loan.loan_no, actor_for(session, manager, today), EFFECTS,
                    new_maturity_date=loan.maturity_date + timedelta(days=180),
                    reason="下游客户回款周期延长，申请展期六个月，还款来源不变",
                    financial_difficulty=False, guarantor_consents=[], now=now, business_date=today,
                )  # fmt: skip
        except PostloanError:
            continue
        branches.add(loan.branch_id)
        filed += 1
    watched = candidates[-1] if candidates else None
    if watched is not None:
        manager = session.get(User, watched.account_manager_id)
        assert manager is not None
        raise_warning(
            session, watched.loan_no, actor_for(session, manager, today), EFFECTS,
            signals=["sued_by_suppliers", "payments_slower"],
            description="借款人被两家供应商起诉，近两月还款较以往迟缓",
            now=now, business_date=today,
        )  # fmt: skip
        filed += 1
    return filed
