"""A small hand-built book for the portfolio report (report date D = 2025-06-30, migration start
S = 2025-03-31): interest-free bullet loans, so a balance is the principal less what was paid.
Classes move through the real reclassification service (journal → status history); buckets are
the rows the daily sweep writes ([entered_on, left_on)), stored as such. `later_work` happens
after D: figures as of D must not move. The expected numbers are in the tests.

    loan  product   principal  on S (03-31)        on D (06-30)
    A1    car         100,000  pass                pass, 20,000 repaid 05-10
    A2    car         200,000  pass                pass (50,000 valued 07-05, after D)
    A3    mortgage    300,000  pass                关注 from 04-10; M1 04-01, M2 05-01, M3 05-31
    A4    mortgage    400,000  次级 from 03-20      次级; M3 03-01 … M6+ 06-29; 10,000 repaid 06-01
    A5    car          50,000  次级                 可疑 04-01, 损失 05-01, 核销 06-15; M4 … M6+
    A6    car          80,000  pass, M1 03-01–03-20 结清 05-20
    A7    student      60,000  (booked 04-15)      pass; M1 from 06-20
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlmodel import Session

from core.clock import FixedClock
from loans.book import LoanTerms, get_loan, open_loan
from loans.demo import DemoOrg
from loans.models import LoanBucketHistory
from loans.payments import record_payment
from loans.schedule import RepaymentMethod, add_months
from loans.transitions import reclassify_loan, transition_loan
from statemachines.enums import RiskClass
from tests.factories import make_borrower

D = date(2025, 6, 30)
S = date(2025, 3, 31)
TODAY = date(2025, 7, 10)
BOOKED = date(2025, 1, 15)
Y = 100  # cents per yuan

LOANS = {  # loan → (product, principal in yuan, booked)
    "A1": ("car", 100_000, BOOKED),
    "A2": ("car", 200_000, BOOKED),
    "A3": ("mortgage", 300_000, BOOKED),
    "A4": ("mortgage", 400_000, BOOKED),
    "A5": ("car", 50_000, BOOKED),
    "A6": ("car", 80_000, BOOKED),
    "A7": ("student", 60_000, date(2025, 4, 15)),
}
BUCKETS = {  # loan → [(bucket, entered_on, left_on)]
    "A3": [("M1", date(2025, 4, 1), date(2025, 5, 1)), ("M2", date(2025, 5, 1), date(2025, 5, 31)),
           ("M3", date(2025, 5, 31), None)],
    "A4": [("M3", date(2025, 3, 1), date(2025, 3, 31)), ("M4", date(2025, 3, 31), date(2025, 4, 30)),
           ("M5", date(2025, 4, 30), date(2025, 5, 30)), ("M6", date(2025, 5, 30), date(2025, 6, 29)),
           ("M6+", date(2025, 6, 29), None)],
    "A5": [("M4", date(2025, 2, 1), date(2025, 3, 1)), ("M5", date(2025, 3, 1), date(2025, 3, 31)),
           ("M6", date(2025, 3, 31), date(2025, 4, 30)), ("M6+", date(2025, 4, 30), None)],
    "A6": [("M1", date(2025, 3, 1), date(2025, 3, 20))],
    "A7": [("M1", date(2025, 6, 20), None)],
}  # fmt: skip


def _classify(
    session: Session, clock: FixedClock, loan_no: str, target: RiskClass, on: date
) -> None:
    clock.set_date(on)
    reclassify_loan(session, loan_no, target, actor="u:head_bj", now=clock.now(),
                    business_date=on, reason="分类认定", approved_by="head_bj")  # fmt: skip


def _pay(session: Session, clock: FixedClock, loan_no: str, yuan: int, on: date) -> None:
    clock.set_date(on)
    record_payment(session, get_loan(session, loan_no), payment_ref=f"{loan_no}-{on}",
                   value_date=on, amount_cents=yuan * Y, actor="system:feed",
                   now=clock.now(), business_date=on)  # fmt: skip


def build(session: Session, org: DemoOrg, clock: FixedClock) -> None:
    for loan_no, (product, principal, booked) in LOANS.items():
        clock.set_date(booked)
        borrower = make_borrower(session, org, f"C-{loan_no}")
        open_loan(
            session,
            LoanTerms(
                loan_no=loan_no, borrower_id=borrower.id or 0, product=product,
                branch_id=org.units["SH01" if loan_no == "A7" else "BJ01"].id or 0,
                account_manager_id=org.users["am_sh1" if loan_no == "A7" else "am_bj1"].id or 0,
                principal_cents=principal * Y, annual_rate=Decimal("0"), disbursement_date=booked,
                maturity_date=add_months(booked, 24), repayment_method=RepaymentMethod.bullet,
            ),
            actor="u:am_bj1", now=clock.now(), business_date=booked,
        )  # fmt: skip
    for loan_no, rows in BUCKETS.items():
        loan_id = get_loan(session, loan_no).id or 0
        session.add_all(
            LoanBucketHistory(loan_id=loan_id, bucket=b, entered_on=start, left_on=end)
            for b, start, end in rows
        )
    _classify(session, clock, "A5", RiskClass.substandard, date(2025, 3, 1))
    _classify(session, clock, "A4", RiskClass.substandard, date(2025, 3, 20))
    _classify(session, clock, "A5", RiskClass.doubtful, date(2025, 4, 1))
    _classify(session, clock, "A3", RiskClass.special_mention, date(2025, 4, 10))
    _classify(session, clock, "A5", RiskClass.loss, date(2025, 5, 1))
    _pay(session, clock, "A1", 20_000, date(2025, 5, 10))
    _pay(session, clock, "A6", 80_000, date(2025, 5, 20))
    transition_loan(session, "A6", "settle", actor="system:sweep", now=clock.now(),
                    business_date=date(2025, 5, 20), reason="结清")  # fmt: skip
    _pay(session, clock, "A4", 10_000, date(2025, 6, 1))
    clock.set_date(date(2025, 6, 15))
    transition_loan(session, "A5", "write_off", actor="u:head_bj", now=clock.now(),
                    business_date=date(2025, 6, 15), reason="核销", approved_by="head_bj",
                    requested_by="am_bj1")  # fmt: skip
    session.commit()


def later_work(session: Session, clock: FixedClock) -> None:
    """After D: a payment valued after D, a downgrade, a bucket opened."""
    _pay(session, clock, "A2", 50_000, date(2025, 7, 5))
    _classify(session, clock, "A1", RiskClass.special_mention, date(2025, 7, 6))
    session.add(LoanBucketHistory(loan_id=get_loan(session, "A1").id or 0, bucket="M1",
                                  entered_on=date(2025, 7, 6)))  # fmt: skip
    session.commit()
