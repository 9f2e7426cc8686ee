"""A small hand-built student-loan book for the student-loan report (report date D = 2026-06-30,
its month from 06-01, its year from 01-01). Loans are booked through open_student_loan, the
scheduler opens the student work, forms are completed through cases.completion; buckets are the
rows the daily sweep writes, stored as such. `later_work` happens after D: nothing as of D moves.

    loan inst product branch  facts                                   buckets (sweep)
    S1   U1   student BJ01    graduated 2025-07-01, ¥12,000 at 0 %     M1 05-02 →; paid ¥400 06-10
    S2   U1   student BJ01    graduated 2025-07-01, ¥12,000 at 0 %     M1 05-10 → 06-05; ¥200 06-05
    S3   U1   student BJ01    in school to 2027-07-01, ¥8,000 at 3 %   (none): subsidy ¥20 a month
    S4   U1   student BJ01    graduated 2025-07-01, ¥12,000 at 0 %     M1 06-20 →; ¥200 05-15
    S7   U1   student BJ01    expected 2026-05-01, confirmed on 06-02 (late): left school 04-20
    S5   C1   student SH01    in school to 2029-07-01, reached by a contact on 03-10
    S6   C1   student SH01    disbursed 2026-03-02 (this year)

S1 has a collection contact recorded on 06-12; S3 and S1 their 2026 contacts on 06-15 (S1 not
reached).
"""

from __future__ import annotations

from datetime import date

from sqlmodel import Session, select

from cases.completion import complete_task
from core.calendar import BusinessCalendar
from core.clock import FixedClock
from loans.book import get_loan
from loans.demo import DemoOrg
from loans.models import LoanBucketHistory
from loans.payments import record_payment
from tasks import service
from tasks.inspections import schedule_inspections
from tasks.models import HumanTask
from tests.factories import make_student_loan
from tests.forms.form_examples import VALID
from tests.reports.operations_book import at, open_, register
from tests.tasks.conftest import as_user

D = date(2026, 6, 30)
GRADUATED = dict(disbursed=date(2021, 9, 15), enrolled=date(2021, 9, 1), expected=date(2025, 7, 1),
                 graduated=date(2025, 7, 1), booked=date(2025, 8, 1), maturity=date(2030, 7, 1),
                 principal_cents=12_000_00, rate="0", grace_months=0)  # fmt: skip
U1 = dict(institution="U1", institution_name="北京某大学")
C1 = dict(institution="C1", institution_name="海淀区学生资助管理中心", branch="SH01",
          manager="am_sh1")  # fmt: skip
BUCKETS = {
    "S1": [("M1", date(2026, 5, 2), None)],
    "S2": [("M1", date(2026, 5, 10), date(2026, 6, 5))],
    "S4": [("M1", date(2026, 6, 20), None)],
}


def _pay(session: Session, clock: FixedClock, loan_no: str, cents: int, on: date) -> None:
    clock.set_date(on)
    record_payment(session, get_loan(session, loan_no), payment_ref=f"{loan_no}-{on}",
                   value_date=on, amount_cents=cents, actor="system:feed", now=clock.now(),
                   business_date=on)  # fmt: skip
    session.commit()


def _schedule(session: Session, clock: FixedClock, on: date) -> None:
    clock.set_date(on)
    schedule_inspections(session, on=on, calendar=BusinessCalendar(), actor="system:test",
                         now=clock.now())  # fmt: skip
    session.commit()


def _task(session: Session, key: str) -> HumanTask:
    return session.exec(select(HumanTask).where(HumanTask.key == key)).one()


def complete(session: Session, clock: FixedClock, key: str, data: dict, on: date,
             user: str = "am_bj1") -> None:  # fmt: skip
    clock.set_date(on)
    task, actor = _task(session, key), as_user(session, user, on)
    service.claim(session, task.id, actor, now=clock.now(), business_date=on)
    complete_task(session, task.id, actor, data, now=clock.now(), business_date=on)
    session.commit()


CONTACT = VALID["student_contact"]
LEFT = VALID["graduation_confirmation"] | {"status": "left_school", "graduation_date": "2026-04-20",
                                          "confirmation_sheet": None}  # fmt: skip


def build(session: Session, org: DemoOrg, clock: FixedClock) -> None:
    for loan_no in ("S1", "S2", "S4"):
        make_student_loan(session, org, clock, loan_no, **U1, **GRADUATED)
    make_student_loan(session, org, clock, "S3", **U1, disbursed=date(2024, 9, 15),
                      enrolled=date(2024, 9, 1), expected=date(2027, 7, 1),
                      maturity=date(2042, 7, 1))  # fmt: skip
    make_student_loan(session, org, clock, "S7", **U1, rate="0", disbursed=date(2022, 9, 15),
                      enrolled=date(2022, 9, 1), expected=date(2026, 5, 1),
                      maturity=date(2041, 5, 1))  # fmt: skip
    make_student_loan(session, org, clock, "S5", **C1, rate="0", disbursed=date(2025, 10, 10),
                      enrolled=date(2025, 9, 1), expected=date(2029, 7, 1),
                      maturity=date(2044, 7, 1))  # fmt: skip
    make_student_loan(session, org, clock, "S6", **C1, rate="0", disbursed=date(2026, 3, 2),
                      enrolled=date(2025, 9, 1), expected=date(2029, 7, 1),
                      maturity=date(2044, 7, 1))  # fmt: skip
    for loan_no, rows in BUCKETS.items():
        loan_id = get_loan(session, loan_no).id or 0
        session.add_all(LoanBucketHistory(loan_id=loan_id, bucket=b, entered_on=start, left_on=end)
                        for b, start, end in rows)  # fmt: skip
    session.commit()
    _schedule(session, clock, date(2026, 1, 5))  # the year's contacts
    complete(session, clock, "student_contact:S5:2026", CONTACT, date(2026, 3, 10), "am_sh1")
    _schedule(session, clock, date(2026, 5, 1))  # S7's graduation confirmation, due 05-29
    _pay(session, clock, "S4", 20_000, date(2026, 5, 15))
    complete(session, clock, "graduation_confirmation:S7:2026-05-01", LEFT, date(2026, 6, 2))
    _pay(session, clock, "S2", 20_000, date(2026, 6, 5))
    _pay(session, clock, "S1", 40_000, date(2026, 6, 10))
    task = open_(session, org, "collection:S1", "S1", date(2026, 6, 12), kind="collection_contact",
                 opened=date(2026, 6, 11))  # fmt: skip
    register(session, task, at(date(2026, 6, 12)), result={"channel": "phone", "reached": True})
    complete(session, clock, "student_contact:S3:2026", CONTACT, date(2026, 6, 15))
    complete(session, clock, "student_contact:S1:2026",
             CONTACT | {"reached": False, "school_status": None}, date(2026, 6, 15))  # fmt: skip


def later_work(session: Session, clock: FixedClock) -> None:
    """After D: a payment, a contact, a cured bucket — none of them may move a figure of D."""
    _pay(session, clock, "S4", 20_000, date(2026, 7, 2))
    complete(session, clock, "student_contact:S2:2026", CONTACT, date(2026, 7, 3))
    row = session.exec(select(LoanBucketHistory).where(
        LoanBucketHistory.loan_id == get_loan(session, "S1").id)).one()  # fmt: skip
    row.left_on = date(2026, 7, 2)
    session.add(row)
    session.commit()
