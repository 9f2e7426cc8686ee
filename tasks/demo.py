"""Demo tasks for the demo book (`postloan demo seed`): this month's loan-card checks (by the
20th), customer visits for key and 关注-or-worse loans, first usage checks for new loans, and
last month's checks some managers never did (overdue)."""

from __future__ import annotations

from datetime import date, timedelta

from sqlmodel import Session, select

from core.clock import FixedClock
from core.identity import OrgUnit, Role
from loans.models import Borrower, Loan
from loans.schedule import add_months
from statemachines.enums import LoanState, RiskClass
from tasks.opening import TaskSpec, open_task

SEED_ACTOR = "system:demo-seed"


def _next_20th(day: date) -> date:
    """The next "by the 20th" deadline on or after `day` (the business calendar comes later)."""
    return day.replace(day=20) if day.day <= 20 else add_months(day.replace(day=20), 1)


def seed_demo_tasks(session: Session, *, today: date) -> int:
    clock = FixedClock()
    clock.set_date(today)
    opened = 0
    due = _next_20th(today)
    last_due = add_months(due, -1)
    month, last_month = due.strftime("%Y-%m"), last_due
    loans = session.exec(
        select(Loan)
        .where(
            Loan.state.in_([s.value for s in LoanState if s.is_open])  # type: ignore[attr-defined]
        )
        .order_by(Loan.loan_no)
    ).all()
    for n, loan in enumerate(loans):
        branch = session.get(OrgUnit, loan.branch_id)
        borrower = session.get(Borrower, loan.borrower_id)
        assert branch is not None and borrower is not None
        specs = [
            TaskSpec(
                kind="loan_card_check",
                key=f"loan_card_check:{loan.loan_no}:{month}",
                title=f"贷款卡检索 {month} · {borrower.name}",
                due_date=due,
                org_unit=branch,
                candidate_role=Role.account_manager,
                loan=loan,
            )
        ]
        if n % 5 == 0:  # some checks of last month were never done: overdue now
            specs.append(
                TaskSpec(
                    kind="loan_card_check",
                    key=f"loan_card_check:{loan.loan_no}:{last_month:%Y-%m}",
                    title=f"贷款卡检索 {last_month:%Y-%m} · {borrower.name}",
                    due_date=last_due,
                    org_unit=branch,
                    candidate_role=Role.account_manager,
                    loan=loan,
                    priority=1,
                )
            )
        if borrower.is_key_client or RiskClass(loan.risk_class) != RiskClass.pass_:
            specs.append(
                TaskSpec(
                    kind="customer_visit",
                    key=f"customer_visit:{loan.loan_no}:{month}",
                    title=f"客户拜访 {month} · {borrower.name}",
                    due_date=due,
                    org_unit=branch,
                    candidate_role=Role.account_manager,
                    loan=loan,
                )
            )
        if loan.disbursement_date >= today - timedelta(days=45):
            specs.append(
                TaskSpec(
                    kind="first_usage_check",
                    key=f"first_usage_check:{loan.loan_no}",
                    title=f"首次用途检查 · {borrower.name}",
                    due_date=add_months(loan.disbursement_date, 1),
                    org_unit=branch,
                    candidate_role=Role.account_manager,
                    loan=loan,
                )
            )
        for spec in specs:
            _, created = open_task(
                session, spec, actor=SEED_ACTOR, now=clock.now(), business_date=today
            )
            opened += int(created)
    return opened
