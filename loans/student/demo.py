"""The demo book's student loans (国家助学贷款): a loan the demo draws as product `student` is
booked as one — a small principal, the school years around its disbursement, a term inside the
product's limits, at a school of its branch — through open_student_loan, like any import."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from loans.book import LoanTerms
from loans.schedule import RepaymentMethod, add_months
from loans.student.book import StudentTerms
from loans.student.models import InstitutionKind
from loans.student.rules import rules_for

SCHOOLS = {  # branch → (code, name, kind): 高校 in Beijing, a county aid centre in Shanghai
    "BJ01": ("U-BJ-001", "北京示范理工大学", InstitutionKind.university),
    "SH01": ("C-SH-115", "上海市浦东新区学生资助管理中心", InstitutionKind.county_centre),
}


def student_terms(terms: LoanTerms, branch: str, n: int) -> tuple[LoanTerms, StudentTerms]:
    """The demo's loan `n` as a student loan (deterministic: no draw from the demo's random
    stream, so the rest of the book stays as it was)."""
    rules = rules_for(terms.product)
    assert rules is not None
    disbursed = terms.disbursement_date
    while rules.in_no_disbursement_window(disbursed):  # 11-20 … 12-20: lent before it instead
        disbursed = disbursed.replace(day=19, month=11)
    year_began = disbursed.year if disbursed.month >= 9 else disbursed.year - 1
    enrolled = date(year_began - n % 4, 9, 1)  # lent in the student's first … fourth year
    expected = date(enrolled.year + 4, 7, 1)
    if expected <= disbursed:  # lent in July or August of the final year: one more year
        expected = expected.replace(year=expected.year + 1)
    code, name, kind = SCHOOLS[branch]
    return (
        replace(
            terms,
            disbursement_date=disbursed,
            principal_cents=(n % 8 + 1) * 2_000_00,  # ¥2,000 … ¥16,000 a year
            maturity_date=add_months(expected, 12 * 10),
            repayment_method=RepaymentMethod.equal_installment,
        ),
        StudentTerms(code, enrolled, expected, institution_name=name, institution_kind=kind),
    )
