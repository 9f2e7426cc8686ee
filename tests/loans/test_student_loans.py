"""国家助学贷款 booking (loans/student/book.py, plan.py, rules.py) on a hand-built loan: the state
pays the interest while the student is in school, the borrower pays interest only through the
grace period, principal from the repayment start; every product rule refuses what breaks it,
naming the field; the rules are data keyed by product."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest
from sqlmodel import select

from audit.journal import JournalEntry
from core.errors import ValidationError
from core.settings import get_settings
from loans.book import LoanTerms, installments_of
from loans.models import BorrowerKind
from loans.schedule import RepaymentMethod
from loans.student.book import StudentTerms, check_student_terms, open_student_loan
from loans.student.models import SchoolStatus, StudentInstitution, StudentLoan, StudentSubsidy
from loans.student.rules import DEFAULTS, rules_for
from tests.factories import make_student_loan

# S1: ¥8,000 at 3 %, disbursed 2024-09-15, expected to graduate 2028-07-01, matures 2043-07-01.
MONTHLY_INTEREST = 2000  # 800000 × 0.03 / 12 cents
STUB = 1067  # 2028-06-15 → 07-01: 16 days, 800000 × 0.03 × 16 / 360 = 1066.67


def _subsidy(session, loan_id):
    return session.exec(
        select(StudentSubsidy).where(StudentSubsidy.loan_id == loan_id)
        .order_by(StudentSubsidy.period_start)
    ).all()  # fmt: skip


def test_book_in_school_interest_is_paid_by_the_state_not_the_borrower(session, org, clock):
    loan = make_student_loan(session, org, clock)
    insts = installments_of(session, loan.id)
    assert min(i.due_date for i in insts) == date(2028, 8, 1)  # nothing due while in school
    rows = _subsidy(session, loan.id)
    assert (rows[0].period_start, rows[-1].period_end) == (date(2024, 9, 15), date(2028, 7, 1))
    assert len(rows) == 46 and [r.interest_cents for r in rows] == [MONTHLY_INTEREST] * 45 + [STUB]
    record = session.get(StudentLoan, loan.id)
    assert record.status == SchoolStatus.in_school and record.subsidised
    assert session.get(StudentInstitution, record.institution_id).code == "U001"
    entry = session.exec(
        select(JournalEntry).where(JournalEntry.event == "book_student_loan")
    ).one()
    assert entry.payload["subsidy_interest_cents"] == 45 * MONTHLY_INTEREST + STUB
    assert entry.payload["repayment_start"] == "2033-07-01"


def test_grace_period_interest_only_then_principal_from_the_repayment_start(session, org, clock):
    loan = make_student_loan(session, org, clock)
    record = session.get(StudentLoan, loan.id)
    assert record.grace_months == 60 and record.repayment_start == date(2033, 7, 1)
    insts = installments_of(session, loan.id)
    grace = [i for i in insts if i.due_date <= date(2033, 7, 1)]
    assert len(grace) == 60
    assert {(i.principal_due_cents, i.interest_due_cents) for i in grace} == {(0, MONTHLY_INTEREST)}
    after = [i for i in insts if i.due_date > date(2033, 7, 1)]
    assert after[0].due_date == date(2033, 8, 1) and all(i.principal_due_cents > 0 for i in after)
    assert sum(i.principal_due_cents for i in insts) == loan.principal_cents
    assert insts[-1].due_date == loan.maturity_date


def test_grace_months_of_the_loan_move_the_repayment_start(session, org, clock):
    loan = make_student_loan(session, org, clock, grace_months=36)
    assert session.get(StudentLoan, loan.id).repayment_start == date(2031, 7, 1)
    first_principal = min(
        i.due_date for i in installments_of(session, loan.id) if i.principal_due_cents
    )
    assert first_principal == date(2031, 8, 1)


def test_unsubsidised_loan_borrower_pays_interest_from_disbursement(session, org, clock):
    loan = make_student_loan(session, org, clock, subsidised=False)
    assert _subsidy(session, loan.id) == []
    first = installments_of(session, loan.id)[0]
    assert (first.due_date, first.principal_due_cents, first.interest_due_cents) == (
        date(2024, 10, 15), 0, MONTHLY_INTEREST)  # fmt: skip


def test_booked_after_graduation_uses_the_confirmed_date(session, org, clock):
    loan = make_student_loan(session, org, clock, graduated=date(2028, 1, 10),
                             booked=date(2028, 3, 1))  # fmt: skip
    record = session.get(StudentLoan, loan.id)
    assert record.status == SchoolStatus.graduated
    assert record.graduation_confirmed_on == date(2028, 3, 1)
    assert record.repayment_start == date(2033, 1, 10)
    assert _subsidy(session, loan.id)[-1].period_end == date(2028, 1, 10)


def _rules_file(tmp_path, monkeypatch, **changes):
    base = DEFAULTS["student"].model_dump(mode="json")
    product = {**base, "product": "student_origin", "name_zh": "生源地信用助学贷款",
               "name_en": "Origin-based student loan", **changes}  # fmt: skip
    path = tmp_path / "student_rules.json"
    path.write_text(json.dumps({"products": [product]}), encoding="utf-8")
    monkeypatch.setenv("POSTLOAN_STUDENT_LOAN_RULES_FILE", str(path))
    get_settings.cache_clear()


def test_rules_are_keyed_by_product_and_a_file_adds_one(session, org, clock, tmp_path, monkeypatch):
    _rules_file(tmp_path, monkeypatch, grace_months=36, max_grace_months=36)
    assert rules_for("student").grace_months == 60 and rules_for("working_capital") is None
    assert rules_for("student_origin").grace_months == 36
    loan = make_student_loan(session, org, clock, commit=False)  # the default product still books
    terms = LoanTerms(
        loan_no="S2", borrower_id=loan.borrower_id, product="student_origin",
        branch_id=loan.branch_id, account_manager_id=loan.account_manager_id,
        principal_cents=8_000_00, annual_rate=Decimal("0.03"),
        disbursement_date=date(2024, 9, 15), maturity_date=date(2043, 7, 1),
        repayment_method=RepaymentMethod.equal_principal,
    )  # fmt: skip
    student = StudentTerms("U001", date(2024, 9, 1), date(2028, 7, 1))
    origin = open_student_loan(session, terms, student, actor="u:am_bj1", now=clock.now(),
                               business_date=date(2024, 9, 15))  # fmt: skip
    assert session.get(StudentLoan, origin.id).repayment_start == date(2031, 7, 1)
    with pytest.raises(ValidationError) as caught:
        open_student_loan(session, LoanTerms(**{**terms.__dict__, "loan_no": "S3",
                          "product": "working_capital"}), student, actor="u:am_bj1",
                          now=clock.now(), business_date=date(2024, 9, 15))  # fmt: skip
    assert [e["field"] for e in caught.value.errors] == ["product"]


def test_a_bad_rules_file_is_refused_naming_it(tmp_path, monkeypatch):
    path = tmp_path / "broken.json"
    path.write_text('{"products": [{"product": "x"}]}', encoding="utf-8")
    monkeypatch.setenv("POSTLOAN_STUDENT_LOAN_RULES_FILE", str(path))
    get_settings.cache_clear()
    with pytest.raises(ValidationError, match="broken.json"):
        rules_for("student")
    get_settings.cache_clear()


TERMS = LoanTerms(
    loan_no="S9", borrower_id=1, product="student", branch_id=1, account_manager_id=1,
    principal_cents=8_000_00, annual_rate=Decimal("0.03"), disbursement_date=date(2024, 9, 15),
    maturity_date=date(2043, 7, 1), repayment_method=RepaymentMethod.equal_installment,
)  # fmt: skip
STUDENT = StudentTerms("U001", date(2024, 9, 1), date(2028, 7, 1), institution_name="某大学")
KNOWN = StudentInstitution(id=1, code="U001", name="某大学")


@pytest.mark.parametrize(
    ("terms", "student", "kind", "institution", "field"),
    [
        ({}, {}, BorrowerKind.corporate, KNOWN, "borrower_kind"),
        ({"repayment_method": RepaymentMethod.bullet}, {}, None, KNOWN, "repayment_method"),
        ({}, {"institution_name": None}, None, None, "institution_name"),
        ({}, {"institution_name": "别的学校"}, None, KNOWN, "institution_name"),
        ({}, {"enrolment_date": date(2028, 7, 1)}, None, KNOWN, "expected_graduation_date"),
        ({"disbursement_date": date(2028, 7, 2)}, {}, None, KNOWN, "expected_graduation_date"),
        ({"disbursement_date": date(2024, 11, 20)}, {}, None, KNOWN, "disbursement_date"),
        ({"disbursement_date": date(2024, 12, 20)}, {}, None, KNOWN, "disbursement_date"),
        ({}, {"grace_months": 61}, None, KNOWN, "grace_months"),
        ({}, {"graduation_date": date(2026, 3, 3)}, None, KNOWN, "graduation_date"),
        ({}, {"graduation_date": date(2024, 9, 10)}, None, KNOWN, "graduation_date"),
        ({"maturity_date": date(2043, 7, 2)}, {}, None, KNOWN, "maturity_date"),  # 毕业 + 15 年
        ({"maturity_date": date(2033, 7, 1)}, {}, None, KNOWN, "maturity_date"),  # no principal
    ],
)
def test_each_product_rule_refuses_what_breaks_it_naming_the_field(
    terms, student, kind, institution, field
):
    errors = check_student_terms(
        LoanTerms(**{**TERMS.__dict__, **terms}), StudentTerms(**{**STUDENT.__dict__, **student}),
        DEFAULTS["student"], borrower_kind=kind, business_date=date(2026, 3, 2),
        institution=institution,
    )  # fmt: skip
    assert [e["field"] for e in errors] == [field]
    assert all(e["message"] and e["message_en"] for e in errors)


def test_the_terms_that_follow_the_rules_pass():
    for day in (date(2024, 11, 19), date(2024, 12, 21)):  # either side of the 11-20..12-20 window
        terms = LoanTerms(**{**TERMS.__dict__, "disbursement_date": day})
        assert check_student_terms(terms, STUDENT, DEFAULTS["student"], business_date=day,
                                   borrower_kind=BorrowerKind.individual, institution=KNOWN) == []  # fmt: skip


def test_an_interest_free_loan_bills_nothing_before_the_repayment_start(session, org, clock):
    """A zero-amount installment would count as unpaid, so the loan would look overdue."""
    loan = make_student_loan(session, org, clock, rate="0")
    insts = installments_of(session, loan.id)
    assert insts[0].due_date == date(2033, 8, 1) and all(i.principal_due_cents for i in insts)
    assert {r.interest_cents for r in _subsidy(session, loan.id)} == {0}
