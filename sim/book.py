"""The simulated bank: the demo org with as many account managers as the book needs (about 250
loans each), and a generated loan book — corporate and retail, every repayment method, key
clients, guarantors — as the rows of the loans CSV the bank would import (loans.importer), so
the simulated book enters the system the way a real one does. Each loan's repayment profile is
drawn from the seed; nothing here is stored that the draws cannot give again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlmodel import Session, col, select

from core.identity import OrgUnit, Role, User, UserRole, add_user, hash_password
from loans.demo import CORPORATE, DEMO_PASSWORD, PEOPLE, PRODUCTS, seed_org
from loans.models import Collateral, CollateralKind, Loan
from loans.schedule import RepaymentMethod, add_months
from loans.student.rules import rules_for
from sim.params import SimParams, draw, pick

LOANS_PER_MANAGER = 250
BRANCHES = ("BJ01", "BJ0101", "SH01", "SH0101")
HEAD_BRANCH = {"BJ01": "BJ01", "BJ0101": "BJ01", "SH01": "SH01", "SH0101": "SH01"}
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂"
RATES = ("3.45", "3.85", "4.35", "4.90", "5.60")
RETAIL = PRODUCTS[3:6]  # mortgage, car, consumer (student loans have a product of their own)


@dataclass(frozen=True)
class Managers:
    """Who books loans where: account managers per booking unit, risk managers per branch."""

    managers: dict[str, list[str]]
    risk: dict[str, str]


def seed_staff(session: Session, params: SimParams) -> Managers:
    """The demo org and users, then `sim_am_…` account managers: two at least in every unit
    that books loans, and as many more as give each about 250 loans."""
    org = seed_org(session)
    have = managers_of(session).managers
    # every unit two (a visit takes two of the loan's branch), then one per ~250 loans
    units = [u for u in BRANCHES for _ in range(max(0, 2 - len(have[u])))]
    wanted = max(1, -(-params.loans // LOANS_PER_MANAGER)) - sum(map(len, have.values()))
    units += [BRANCHES[n % len(BRANCHES)] for n in range(max(0, wanted - len(units)))]
    password_hash = hash_password(DEMO_PASSWORD)  # one hash: argon2 is slow
    for n, unit in enumerate(units, start=sum(map(len, have.values()))):
        name = SURNAMES[n % len(SURNAMES)] + GIVEN[(n // len(SURNAMES)) % len(GIVEN)]
        username = f"sim_am_{unit.lower()}_{n:03d}"
        add_user(
            session,
            username=username,
            full_name=f"{name}{n:03d}",
            org_unit=org.units[unit],
            roles=[Role.account_manager],
            password_hash=password_hash,
        )
    session.flush()
    return managers_of(session)


def managers_of(session: Session) -> Managers:
    """The account managers of each booking unit in the order they were added, read back, so a resumed run draws the same rows."""
    managers: dict[str, list[str]] = {unit: [] for unit in BRANCHES}
    query = (
        select(User.username, OrgUnit.code)
        .join(OrgUnit, col(OrgUnit.id) == col(User.org_unit_id))
        .join(UserRole, col(UserRole.user_id) == col(User.id))
        .where(UserRole.role == Role.account_manager.value)
        .order_by(col(User.id))
    )
    for username, code in session.exec(query):
        if code in managers:
            managers[code].append(username)
    return Managers(managers, {"BJ01": "rm_bj", "SH01": "rm_sh"})


def profile_of(params: SimParams, loan_no: str) -> str:
    return pick(params.seed, params.profiles, "profile", loan_no)


def disbursement_of(params: SimParams, n: int) -> date:
    """Loans on the book at the start were disbursed in the two years before it; the others
    on a day of the run, spread evenly."""
    if draw(params.seed, "opening", n) < params.opening_share:
        return params.start - timedelta(days=1 + int(draw(params.seed, "age", n) * 720))
    return params.start + timedelta(days=int(draw(params.seed, "disbursed", n) * params.days))


def loan_row(params: SimParams, staff: Managers, n: int) -> dict[str, str]:
    """Loan `n` as a row of the loans CSV (README “loans.csv”)."""
    seed = params.seed
    unit = BRANCHES[n % len(BRANCHES)]
    corporate = draw(seed, "corporate", n) < 0.45
    people = staff.managers[unit]
    lead = people[int(draw(seed, "manager", n) * len(people))]
    others = [p for p in people if p != lead]
    disbursed = disbursement_of(params, n)
    if corporate:
        months = (12, 24, 36, 60)[int(draw(seed, "term", n) * 4)]
        principal = (5 + int(draw(seed, "amount", n) * 495)) * 10_000
        product = PRODUCTS[int(draw(seed, "product", n) * 3)]
        name = CORPORATE[n % len(CORPORATE)].replace("有限公司", f"{n:05d}有限公司")
    else:
        months = (12, 36, 60, 120)[int(draw(seed, "term", n) * 4)]
        principal = (2 + int(draw(seed, "amount", n) * 78)) * 10_000
        product = RETAIL[int(draw(seed, "product", n) * len(RETAIL))]
        name = f"{PEOPLE[n % len(PEOPLE)]}{n:05d}"
    methods = list(RepaymentMethod)
    if not corporate and draw(seed, "student", n) < 0.12:
        return student_row(params, n, unit, lead, others, staff, disbursed)
    return {
        "loan_no": f"SIM{disbursed.year}{unit}{n:06d}",
        "customer_no": f"SC{n:07d}",
        "borrower_name": name,
        "borrower_kind": "corporate" if corporate else "individual",
        "key_client": "yes" if corporate and draw(seed, "key", n) < 0.15 else "no",
        "branch": unit,
        "account_manager": lead,
        "assistant_manager": others[0] if others else "",
        "risk_manager": staff.risk[HEAD_BRANCH[unit]],
        "product": product,
        "principal": f"{principal}.00",
        "annual_rate_pct": RATES[int(draw(seed, "rate", n) * len(RATES))],
        "disbursement_date": disbursed.isoformat(),
        "maturity_date": add_months(disbursed, months).isoformat(),
        "repayment_method": methods[int(draw(seed, "method", n) * len(methods))].value,
    }


SCHOOLS = {  # branch → the handling institution (经办机构) of its student loans
    "BJ01": ("U-BJ-001", "北京示范理工大学", "university"),
    "SH01": ("C-SH-115", "上海市浦东新区学生资助管理中心", "county_centre"),
}


def student_row(params: SimParams, n: int, unit: str, lead: str, others: list[str],
                staff: Managers, disbursed: date) -> dict[str, str]:  # fmt: skip
    """A 国家助学贷款 row (the loans CSV's student columns, docs/student-loans.md): lent in one
    of the student's four years, outside the product's no-disbursement window, repaid over ten
    years after the expected graduation; one whose expected graduation is before the run has
    graduated on that date."""
    rules = rules_for("student")
    assert rules is not None
    while rules.in_no_disbursement_window(disbursed):
        disbursed -= timedelta(days=1)
    year_began = disbursed.year if disbursed.month >= 9 else disbursed.year - 1
    enrolled = date(year_began - n % 4, 9, 1)
    expected = date(enrolled.year + 4, 7, 1)
    if expected <= disbursed:
        expected = expected.replace(year=expected.year + 1)
    code, name, kind = SCHOOLS[HEAD_BRANCH[unit]]
    return {
        "loan_no": f"SIMS{disbursed.year}{unit}{n:06d}",
        "customer_no": f"SC{n:07d}",
        "borrower_name": f"学生{PEOPLE[n % len(PEOPLE)]}{n:05d}",
        "borrower_kind": "individual",
        "key_client": "no",
        "branch": unit,
        "account_manager": lead,
        "assistant_manager": others[0] if others else "",
        "risk_manager": staff.risk[HEAD_BRANCH[unit]],
        "product": "student",
        "principal": f"{(n % 8 + 1) * 2000}.00",
        "annual_rate_pct": "2.50",
        "disbursement_date": disbursed.isoformat(),
        "maturity_date": add_months(expected, 120).isoformat(),
        "repayment_method": "equal_installment",
        "institution_code": code,
        "institution_name": name,
        "institution_kind": kind,
        "enrolment_date": enrolled.isoformat(),
        "expected_graduation_date": expected.isoformat(),
        # a student of the opening book who was due to graduate before the run graduated then
        "graduation_date": expected.isoformat() if expected < params.start else "",
    }


def book_rows(params: SimParams, staff: Managers) -> list[dict[str, str]]:
    return [loan_row(params, staff, n) for n in range(1, params.loans + 1)]


def add_guarantors(session: Session, params: SimParams, loan_nos: list[str]) -> int:
    """A guarantor (保证) for about a third of the corporate loans just booked. The bank's
    collateral register has no CSV import yet: written as its rows, as a data migration would."""
    added = 0
    rows = session.exec(
        select(Loan.id, Loan.loan_no, Loan.principal_cents).where(col(Loan.loan_no).in_(loan_nos))
    ).all()
    for loan_id, loan_no, principal in rows:
        if not loan_no or draw(params.seed, "guarantor", loan_no) >= 0.3:
            continue
        guarantor = CORPORATE[int(draw(params.seed, "who", loan_no) * len(CORPORATE))]
        session.add(
            Collateral(
                loan_id=loan_id or 0,
                kind=CollateralKind.guarantee,
                description=f"连带责任保证 joint guarantee by {guarantor}",
                guarantor_name=guarantor.replace("有限公司", "担保有限公司"),
                value_cents=principal,
            )
        )
        added += 1
    return added
