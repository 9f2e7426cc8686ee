"""Labels of the student-loan book (国家助学贷款): the loan page's student section and the
student-loan report page, Chinese first."""

from __future__ import annotations

STUDENT_LABELS: dict[str, tuple[str, str]] = {
    "student_loan": ("助学贷款信息", "Student loan"),
    "institution": ("经办机构", "Institution"),
    "school_status": ("学籍状况", "School status"),
    "enrolment_date": ("入学日期", "Enrolled"),
    "expected_graduation": ("预计毕业日期", "Expected graduation"),
    "graduation_date": ("毕业（离校）日期", "Graduated (left school)"),
    "graduation_confirmed_on": ("毕业确认日", "Graduation confirmed on"),
    "grace_months": ("还本宽限期（月）", "Grace period (months)"),
    "repayment_start": ("还本起始日", "Repayment start"),
    "subsidised": ("在校期间财政贴息", "State pays in-school interest"),
    "subsidy_paid": ("财政贴息（截至该日）", "Interest paid by the state (to date)"),
    "student_report": ("助学贷款报表", "Student-loan report"),
    "school_in_school": ("在校", "in school"),
    "school_graduated": ("已毕业", "graduated"),
    "school_left_school": ("已离校（退学、结业）", "left school"),
}
