"""The demo book behind `postloan demo seed` / `make run`: a head office, two branches with a
sub-branch each, one user per role (DOMAIN §1), and a deterministic book of loans with history."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from sqlmodel import Session, func, select

from core.clock import FixedClock
from core.identity import OrgUnit, OrgUnitKind, Role, User, add_org_unit, add_user, hash_password
from core.settings import get_settings
from loans import aging
from loans.book import LoanTerms, installments_of, open_loan
from loans.floors import floor_for
from loans.models import Borrower, BorrowerKind, Loan
from loans.payments import record_payment
from loans.schedule import RepaymentMethod, add_months
from loans.student.book import open_student_loan
from loans.student.demo import student_terms
from loans.student.models import StudentInstitution
from loans.student.rules import rules_for
from loans.transitions import reclassify_loan, transition_loan
from statemachines.enums import LoanState, RiskClass

DEMO_PASSWORD = "postloan-demo"  # documented in README; every demo user has it
SEED_ACTOR = "system:demo-seed"
PROPOSAL_WINDOW_DAYS = 20  # floors crossed this recently are left to the approval chain

ORG_UNITS = [  # code, name, name_en, kind, parent
    ("HO", "总行", "Head office", OrgUnitKind.head_office, None),
    ("HO-CR", "授信管理部", "Credit department", OrgUnitKind.department, "HO"),
    ("BJ01", "北京分行", "Beijing branch", OrgUnitKind.branch, "HO"),
    ("BJ0101", "北京海淀支行", "Beijing Haidian sub-branch", OrgUnitKind.sub_branch, "BJ01"),
    ("SH01", "上海分行", "Shanghai branch", OrgUnitKind.branch, "HO"),
    ("SH0101", "上海浦东支行", "Shanghai Pudong sub-branch", OrgUnitKind.sub_branch, "SH01"),
]

USERS = [  # username, full name, org unit, roles
    ("am_bj1", "王晓明", "BJ01", [Role.account_manager]),
    ("am_bj2", "李娜", "BJ01", [Role.account_manager]),
    ("am_bj3", "赵磊", "BJ0101", [Role.account_manager]),
    ("am_sh1", "陈静", "SH01", [Role.account_manager]),
    ("am_sh2", "刘洋", "SH01", [Role.account_manager]),
    ("rm_bj", "张伟", "BJ01", [Role.risk_manager]),
    ("rm_sh", "周敏", "SH01", [Role.risk_manager]),
    ("head_bj", "孙建国", "BJ01", [Role.branch_head]),
    ("head_sh", "吴丽华", "SH01", [Role.branch_head]),
    ("head_cr", "郑志强", "HO-CR", [Role.department_head]),
    ("committee1", "钱宏", "HO", [Role.credit_committee]),
    ("committee2", "冯雪", "HO", [Role.credit_committee]),
    ("disposal", "何平", "HO", [Role.asset_disposal]),
    ("auditor", "高敏", "HO", [Role.auditor]),
    ("admin", "系统管理员", "HO", [Role.admin]),
]

PRODUCTS = [
    "working_capital",
    "fixed_asset",
    "trade_finance",
    "mortgage",
    "car",
    "consumer",
    "student",
]
CORPORATE = [
    "华北精密机械有限公司",
    "京西建材贸易有限公司",
    "海淀云图科技有限公司",
    "申江物流有限公司",
    "浦东新材料股份有限公司",
    "沪南食品加工有限公司",
    "燕山纺织有限公司",
    "长江电子元件有限公司",
]
PEOPLE = ["张三", "李四", "王五", "赵六", "孙七", "周八", "吴九", "郑十", "陈一", "林二"]


@dataclass
class DemoOrg:
    units: dict[str, OrgUnit] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)


def seed_org(session: Session, password_hash: str | None = None) -> DemoOrg:
    org = DemoOrg()
    for code, name, name_en, kind, parent in ORG_UNITS:
        org.units[code] = add_org_unit(
            session,
            code=code,
            name=name,
            name_en=name_en,
            kind=kind,
            parent=org.units[parent] if parent else None,
        )
    password_hash = password_hash or hash_password(DEMO_PASSWORD)  # one hash: argon2 is slow
    for username, full_name, unit, roles in USERS:
        org.users[username] = add_user(
            session,
            username=username,
            full_name=full_name,
            org_unit=org.units[unit],
            roles=roles,
            password_hash=password_hash,
        )
    return org


def is_empty(session: Session) -> bool:
    return session.exec(select(func.count()).select_from(OrgUnit)).one() == 0


def seed_demo(
    session: Session,
    *,
    today: date,
    loans: int = 40,
    seed: int = 7,
    password_hash: str | None = None,
) -> DemoOrg:
    """Org, users and `loans` loans disbursed over the past two years, with payments until
    `today`: most on time, some late or stopped, so the book has overdue and 不良 loans."""
    org = seed_org(session, password_hash)
    rng = random.Random(seed)
    managers = {"BJ01": ["am_bj1", "am_bj2", "am_bj3"], "SH01": ["am_sh1", "am_sh2"]}
    risk = {"BJ01": "rm_bj", "SH01": "rm_sh"}
    clock = FixedClock()
    schools: dict[str, StudentInstitution] = {}
    for n in range(1, loans + 1):
        branch = "BJ01" if n % 2 else "SH01"
        corporate = rng.random() < 0.5
        borrower = Borrower(
            customer_no=f"C{n:05d}",
            kind=BorrowerKind.corporate if corporate else BorrowerKind.individual,
            name=rng.choice(CORPORATE) if corporate else rng.choice(PEOPLE) + f"{n:02d}",
            is_key_client=corporate and rng.random() < 0.3,
            org_unit_id=org.units[branch].id or 0,
        )
        session.add(borrower)
        session.flush()
        disbursed = today - timedelta(days=rng.randint(60, 720))
        months = rng.choice([12, 24, 36, 60]) if corporate else rng.choice([12, 36, 60, 120])
        assistant = [
            m for m in managers[branch] if m != managers[branch][n % len(managers[branch])]
        ]
        terms = LoanTerms(
            loan_no=f"{branch}-{disbursed.year}-{n:04d}",
            borrower_id=borrower.id or 0,
            product=rng.choice(PRODUCTS[:3] if corporate else PRODUCTS[3:]),
            branch_id=org.units[branch].id or 0,
            account_manager_id=org.users[managers[branch][n % len(managers[branch])]].id or 0,
            assistant_manager_id=org.users[assistant[0]].id,
            risk_manager_id=org.users[risk[branch]].id,
            principal_cents=rng.randint(5, 500) * 10_000_00
            if corporate
            else rng.randint(2, 80) * 10_000_00,
            annual_rate=Decimal(rng.choice(["0.0345", "0.0385", "0.0435", "0.0490", "0.0560"])),
            disbursement_date=disbursed,
            maturity_date=add_months(disbursed, months),
            repayment_method=rng.choice(list(RepaymentMethod)),
        )
        if rules_for(terms.product) is not None:  # 国家助学贷款: booked as the importer books one
            terms, student = student_terms(terms, branch, n)
            clock.set_date(terms.disbursement_date)
            loan = open_student_loan(session, terms, student, actor=SEED_ACTOR, now=clock.now(),
                                     business_date=terms.disbursement_date, institutions=schools)  # fmt: skip
        else:
            clock.set_date(disbursed)
            loan = open_loan(
                session, terms, actor=SEED_ACTOR, now=clock.now(), business_date=disbursed
            )
        _pay_history(session, loan, rng, today, clock)
    return org


def _pay_history(
    session: Session, loan: Loan, rng: random.Random, today: date, clock: FixedClock
) -> None:
    """Walk the loan's installments due before today as the daily sweep would have seen them:
    on-time payers pay on the due date; late payers go overdue the next day, are downgraded when
    the floor says so and cure when they pay; stopped payers age into 不良."""
    behaviour = rng.choices(["good", "late", "stopped"], weights=[70, 15, 15])[0]
    stop_after = rng.randint(1, 12)
    assert loan.id is not None
    missed: date | None = None
    for k, inst in enumerate(installments_of(session, loan.id)):
        payable = aging.pay_by(inst.due_date)  # a due date on a holiday is payable after it
        if payable >= today:
            break
        if behaviour == "stopped" and k >= stop_after:
            missed = payable
            break
        late = rng.randint(3, 20) if behaviour == "late" and rng.random() < 0.5 else 0
        paid_on = payable + timedelta(days=late)
        if paid_on >= today:
            missed = payable
            break
        if late:
            _age(session, loan, payable, paid_on - timedelta(days=1), clock)
        _at(clock, paid_on)
        record_payment(
            session,
            loan,
            payment_ref=f"P-{loan.loan_no}-{inst.seq_no:03d}",
            value_date=paid_on,
            amount_cents=inst.outstanding_cents,
            actor=SEED_ACTOR,
            now=clock.now(),
            business_date=paid_on,
        )
        if LoanState(loan.state) == LoanState.overdue:
            transition_loan(
                session,
                loan.loan_no,
                "cure",
                actor=SEED_ACTOR,
                now=clock.now(),
                business_date=paid_on,
                reason=f"{paid_on} 逾期已清偿 (arrears paid {paid_on})",
            )
    if missed is not None:
        _age(session, loan, missed, today - timedelta(days=1), clock)


def _at(clock: FixedClock, day: date) -> None:
    clock.set_date(day, hour=20)  # the sweep runs in the evening of the business date


def _age(session: Session, loan: Loan, due: date, until: date, clock: FixedClock) -> None:
    """From the day after `due` (the installment's pay-by day) up to `until`: overdue, then each
    floor on the day it binds."""
    settings = get_settings()
    first = due + timedelta(days=1)
    if first > until:
        return
    if LoanState(loan.state) != LoanState.overdue:
        _at(clock, first)
        transition_loan(
            session,
            loan.loan_no,
            "mark_overdue",
            actor=SEED_ACTOR,
            now=clock.now(),
            business_date=first,
            reason=f"{due} 应还款未还 (installment due {due} unpaid)",
        )
    for days in (
        settings.classification_grace_days,
        settings.substandard_after_days,
        settings.doubtful_after_days,
        settings.loss_after_days,
    ):
        day = due + timedelta(days=days + 1)
        if day > until - timedelta(days=PROPOSAL_WINDOW_DAYS):
            break  # recent floors wait as the sweep's proposals, as they would in the bank
        floor = floor_for(session, loan, day)
        if floor.risk_class.rank > RiskClass(loan.risk_class).rank:
            _at(clock, day)
            reclassify_loan(
                session,
                loan.loan_no,
                floor.risk_class,
                actor=SEED_ACTOR,
                now=clock.now(),
                business_date=day,
                reason="regulatory floor: " + ", ".join(floor.rule_refs),
            )
