"""Small builders for tests: a borrower and a loan with a generated schedule, journaled."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlmodel import Session

from core.clock import FixedClock
from loans.book import LoanTerms, open_loan
from loans.demo import DemoOrg
from loans.models import Borrower, BorrowerKind, Loan
from loans.schedule import RepaymentMethod, add_months


def make_borrower(
    session: Session,
    org: DemoOrg,
    customer_no: str = "C1",
    kind: BorrowerKind = BorrowerKind.corporate,
    branch: str = "BJ01",
) -> Borrower:
    borrower = Borrower(
        customer_no=customer_no,
        name=f"客户{customer_no}",
        kind=kind,
        org_unit_id=org.units[branch].id or 0,
    )
    session.add(borrower)
    session.flush()
    return borrower


def make_loan(
    session: Session,
    org: DemoOrg,
    clock: FixedClock,
    loan_no: str = "L1",
    *,
    borrower: Borrower | None = None,
    principal_cents: int = 120_000_00,
    disbursed: date = date(2025, 1, 15),
    months: int = 12,
    method: RepaymentMethod = RepaymentMethod.equal_installment,
    branch: str = "BJ01",
    manager: str = "am_bj1",
    commit: bool = True,
    booked: date | None = None,
) -> Loan:
    borrower = borrower or make_borrower(session, org, f"C-{loan_no}", branch=branch)
    terms = LoanTerms(
        loan_no=loan_no,
        borrower_id=borrower.id or 0,
        product="working_capital",
        branch_id=org.units[branch].id or 0,
        account_manager_id=org.users[manager].id or 0,
        principal_cents=principal_cents,
        annual_rate=Decimal("0.0435"),
        disbursement_date=disbursed,
        maturity_date=add_months(disbursed, months),
        repayment_method=method,
    )
    loan = open_loan(
        session, terms, actor="u:am_bj1", now=clock.now(), business_date=booked or disbursed
    )
    if commit:
        session.commit()
    return loan


def seed_book(session: Session, org: DemoOrg, clock: FixedClock) -> list[Loan]:
    """A small demo-like book: loans in two branches, a few open human tasks on them."""
    from core.identity import Role
    from tasks.opening import TaskSpec, open_task

    loans = [
        make_loan(session, org, clock, "BJ01-2025-0001"),
        make_loan(session, org, clock, "BJ01-2025-0002", months=24, manager="am_bj2"),
        make_loan(session, org, clock, "SH01-2025-0003", branch="SH01", manager="am_sh1"),
    ]
    for n, loan in enumerate(loans, start=1):
        open_task(
            session,
            TaskSpec(
                kind="loan_card_check",
                key=f"seed-{n}",
                title=f"贷后检查 {loan.loan_no}",
                due_date=date(2025, 3, 20),
                org_unit=org.units["SH01" if loan.loan_no.startswith("SH") else "BJ01"],
                candidate_role=Role.account_manager,
                loan=loan,
            ),
            actor="system:test",
            now=clock.now(),
            business_date=date(2025, 3, 3),
        )
    session.commit()
    return loans


def make_student_loan(
    session: Session,
    org: DemoOrg,
    clock: FixedClock,
    loan_no: str = "S1",
    *,
    institution: str = "U001",
    institution_name: str | None = None,
    principal_cents: int = 8_000_00,
    rate: str = "0.0300",
    disbursed: date = date(2024, 9, 15),
    enrolled: date = date(2024, 9, 1),
    expected: date = date(2028, 7, 1),
    maturity: date = date(2043, 7, 1),
    method: RepaymentMethod = RepaymentMethod.equal_installment,
    grace_months: int | None = None,
    subsidised: bool | None = None,
    graduated: date | None = None,
    branch: str = "BJ01",
    manager: str = "am_bj1",
    booked: date | None = None,
    commit: bool = True,
) -> Loan:
    """A 国家助学贷款 booked through loans.student.book.open_student_loan (the importer's path)."""
    from loans.student.book import StudentTerms, open_student_loan

    borrower = make_borrower(
        session, org, f"P-{loan_no}", kind=BorrowerKind.individual, branch=branch
    )
    terms = LoanTerms(
        loan_no=loan_no,
        borrower_id=borrower.id or 0,
        product="student",
        branch_id=org.units[branch].id or 0,
        account_manager_id=org.users[manager].id or 0,
        principal_cents=principal_cents,
        annual_rate=Decimal(rate),
        disbursement_date=disbursed,
        maturity_date=maturity,
        repayment_method=method,
    )
    student = StudentTerms(
        institution_code=institution,
        institution_name=institution_name or f"学校{institution}",
        enrolment_date=enrolled,
        expected_graduation_date=expected,
        graduation_date=graduated,
        grace_months=grace_months,
        subsidised=subsidised,
    )
    loan = open_student_loan(
        session, terms, student, actor="u:am_bj1", now=clock.now(),
        business_date=booked or disbursed,
    )  # fmt: skip
    if commit:
        session.commit()
    return loan
