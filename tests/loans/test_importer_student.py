"""loans.csv with the student-loan columns (国家助学贷款): a student product's rows are booked
through loans.student.book.open_student_loan with their school facts and subsidy; a row that
breaks a product rule, or a student column on another product's row, rejects the file naming
the line and column, nothing written."""

from __future__ import annotations

from datetime import date

from sqlmodel import func, select

from loans.importer import ImportKind
from loans.models import Loan
from loans.student.models import SchoolStatus, StudentInstitution, StudentLoan, StudentSubsidy
from tests.loans.test_importer import LOAN_ROW, _csv, _import, _rejected, _single_error
from tests.loans.test_importer import org as org  # noqa: F401  (the importer's org and users)

STUDENT_ROW = {
    **LOAN_ROW,
    "loan_no": "S1",
    "customer_no": "P1",
    "borrower_name": "王小明",
    "borrower_kind": "individual",
    "product": "student",
    "principal": "8000.00",
    "annual_rate_pct": "3.00",
    "disbursement_date": "2024-09-15",
    "maturity_date": "2043-07-01",
    "institution_code": "U10001",
    "institution_name": "北京某大学",
    "institution_kind": "university",
    "enrolment_date": "2024-09-01",
    "expected_graduation_date": "2028-07-01",
    "graduation_date": "",
    "grace_months": "",
    "subsidised": "",
}
OTHER_ROW = {**LOAN_ROW, **{c: "" for c in STUDENT_ROW if c not in LOAN_ROW}}


def _count(session, model) -> int:
    return session.exec(select(func.count()).select_from(model)).one()


def test_import_student_rows_books_them_with_their_school_facts(session, clock, org):
    rows = [
        STUDENT_ROW,
        {**STUDENT_ROW, "loan_no": "S2", "customer_no": "P2", "borrower_name": "李小红",
         "institution_name": "", "grace_months": "36", "subsidised": "否",
         "repayment_method": "equal_principal"},
        {**STUDENT_ROW, "loan_no": "S3", "customer_no": "P3", "borrower_name": "赵小刚",
         "institution_code": "C110108", "institution_name": "海淀区学生资助管理中心",
         "institution_kind": "county_centre", "graduation_date": "2026-01-10",
         "expected_graduation_date": "2026-07-01", "maturity_date": "2041-07-01"},
        OTHER_ROW,
    ]  # fmt: skip
    report = _import(session, clock, ImportKind.loans, _csv(*rows))
    assert report.created == 4
    schools = {i.code: i for i in session.exec(select(StudentInstitution)).all()}
    assert sorted(schools) == ["C110108", "U10001"] and schools["U10001"].name == "北京某大学"
    records = {session.get(Loan, r.loan_id).loan_no: r for r in session.exec(select(StudentLoan))}
    assert sorted(records) == ["S1", "S2", "S3"]  # L1 (working capital) is no student loan
    assert records["S1"].repayment_start == date(2033, 7, 1) and records["S1"].subsidised
    assert records["S2"].grace_months == 36 and not records["S2"].subsidised
    assert records["S2"].institution_id == schools["U10001"].id  # named on the first line
    assert records["S3"].status == SchoolStatus.graduated
    assert records["S3"].repayment_start == date(2031, 1, 10)
    subsidised = session.exec(select(StudentSubsidy.loan_id).distinct()).all()
    assert sorted(subsidised) == sorted([records["S1"].loan_id, records["S3"].loan_id])


def _one_bad(session, clock, row, column, fragment):
    error = _rejected(session, clock, ImportKind.loans, _csv(row))
    _single_error(error, 2, column, fragment)
    assert _count(session, StudentLoan) == 0 and _count(session, StudentInstitution) == 0


def test_student_columns_on_another_product_are_refused(session, clock, org):
    _one_bad(session, clock, {**OTHER_ROW, "enrolment_date": "2024-09-01"}, "enrolment_date",
             "only for student-loan products")  # fmt: skip


def test_a_student_row_needs_its_school_facts(session, clock, org):
    _one_bad(session, clock, {**STUDENT_ROW, "institution_code": ""}, "institution_code",
             "required value is empty")  # fmt: skip
    _one_bad(session, clock, {**STUDENT_ROW, "expected_graduation_date": ""},
             "expected_graduation_date", "required value is empty")  # fmt: skip
    _one_bad(session, clock, {**STUDENT_ROW, "institution_name": ""}, "institution_name",
             "needs a name")  # fmt: skip


def test_student_cells_that_do_not_parse_are_refused(session, clock, org):
    _one_bad(session, clock, {**STUDENT_ROW, "grace_months": "五年"}, "grace_months",
             "not a number of months")  # fmt: skip
    _one_bad(session, clock, {**STUDENT_ROW, "subsidised": "maybe"}, "subsidised", "not yes/no")
    _one_bad(session, clock, {**STUDENT_ROW, "institution_kind": "school"}, "institution_kind",
             "unknown value")  # fmt: skip
    _one_bad(session, clock, {**STUDENT_ROW, "enrolment_date": "2024/09/01"}, "enrolment_date",
             "YYYY-MM-DD")  # fmt: skip


def test_student_rows_that_break_a_product_rule_are_refused(session, clock, org):
    for change, column, fragment in [
        ({"borrower_kind": "corporate"}, "borrower_kind", "is an individual"),
        ({"repayment_method": "bullet"}, "repayment_method", "must be equal_installment"),
        ({"disbursement_date": "2024-12-01"}, "disbursement_date", "subsidy settlement"),
        ({"grace_months": "72"}, "grace_months", "0 to 60 months"),
        ({"maturity_date": "2044-07-01"}, "maturity_date", "15 years after graduation"),
        ({"graduation_date": "2027-07-01"}, "graduation_date", "cannot be after today"),
        ({"schedule": "imported"}, "schedule", "not imported"),
    ]:
        _one_bad(session, clock, {**STUDENT_ROW, **change}, column, fragment)


def test_an_institution_named_two_ways_is_refused(session, clock, org):
    rows = [STUDENT_ROW, {**STUDENT_ROW, "loan_no": "S2", "customer_no": "P2",
                          "borrower_name": "李小红", "institution_name": "北京另一大学"}]  # fmt: skip
    error = _rejected(session, clock, ImportKind.loans, _csv(*rows))
    _single_error(error, 3, "institution_name", "is '北京某大学' on line 2")
    _import(session, clock, ImportKind.loans, _csv(STUDENT_ROW))
    later = {**STUDENT_ROW, "loan_no": "S9", "customer_no": "P9", "borrower_name": "孙小美",
             "institution_name": "北京另一大学"}  # fmt: skip
    error = _rejected(session, clock, ImportKind.loans, _csv(later))
    _single_error(error, 2, "institution_name", "is already '北京某大学'")


def test_import_the_student_sample_file(session, clock, org):
    from tests.loans.test_importer import _import_file

    report = _import_file(session, clock, ImportKind.loans, "student_loans.csv")
    assert (report.rows, report.created) == (3, 3)
    records = {session.get(Loan, r.loan_id).loan_no: r for r in session.exec(select(StudentLoan))}
    assert records["S2023BJ0002"].repayment_start == date(2029, 7, 1)  # 36 months' grace
    assert records["S2021SH0003"].status == SchoolStatus.graduated
    assert _count(session, StudentInstitution) == 2
