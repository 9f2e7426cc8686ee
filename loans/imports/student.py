"""The student-loan columns of loans.csv (国家助学贷款): read and checked for a student-loan
product's rows against its rules (loans/student/book.py says what a student loan needs), refused
on any other product's rows. Institutions are looked up once per file."""

from __future__ import annotations

import re
from datetime import date

from sqlmodel import Session

from loans.book import LoanTerms
from loans.csv_rows import CellError, Cells, distinct, one_of, parse_date, parse_flag
from loans.imports.common import STUDENT_COLUMNS, ScheduleSource
from loans.models import BorrowerKind
from loans.student.book import StudentTerms, check_student_terms, institutions_by_code
from loans.student.models import InstitutionKind, StudentInstitution
from loans.student.rules import rules_for


def parse_months(raw: str) -> int:
    if not re.fullmatch("[0-9]{1,3}", raw):
        raise CellError(f"不是月数：{raw!r} (not a number of months: {raw!r})")
    return int(raw)


class StudentColumns:
    """Reads the student columns of each row; `institutions` grows as the file's new ones are
    written (open_student_loan adds them)."""

    def __init__(self, session: Session, rows: list[Cells], business_date: date) -> None:
        self.institutions: dict[str, StudentInstitution] = institutions_by_code(
            session, distinct(rows, "institution_code")
        )
        self.business_date = business_date
        self._new_names: dict[str, tuple[str, int]] = {}  # a new code → (its name, first line)

    def read(
        self,
        c: Cells,
        product: str | None,
        terms: LoanTerms | None,
        borrower_kind: BorrowerKind | None,
        source: ScheduleSource | None,
    ) -> StudentTerms | None:
        rules = rules_for(product)
        if rules is None:
            for column in STUDENT_COLUMNS:
                if (c.values.get(column) or "").strip():
                    c.fail(column, f"仅适用于助学贷款产品，{product!r} 不是 "
                                   f"(only for student-loan products; {product!r} is not one)")  # fmt: skip
            return None
        code = c.text("institution_code", max_len=32)
        name = c.text("institution_name", required=False, max_len=200)
        kind = c.get("institution_kind", one_of(InstitutionKind), required=False)
        enrolled = c.get("enrolment_date", parse_date)
        expected = c.get("expected_graduation_date", parse_date)
        graduated = c.get("graduation_date", parse_date, required=False)
        grace = c.get("grace_months", parse_months, required=False)
        subsidised = c.get("subsidised", parse_flag, required=False)
        if source is ScheduleSource.imported:
            c.fail("schedule", f"{rules.name_zh}的还款计划按产品规则生成，不能导入 "
                               f"({rules.name_en}: the plan follows the product's rules, "
                               "it is not imported)")  # fmt: skip
        if code and name and code not in self.institutions:
            first = self._new_names.setdefault(code, (name, c.line))
            if first[0] != name:
                c.fail("institution_name", f"经办机构 {code} 在第 {first[1]} 行名为 {first[0]!r} "
                                           f"(institution {code} is {first[0]!r} on line {first[1]})")  # fmt: skip
        if c.bad or terms is None or not (code and enrolled and expected):
            return None
        student = StudentTerms(
            institution_code=code,
            enrolment_date=enrolled,
            expected_graduation_date=expected,
            institution_name=name or (self._new_names.get(code) or (None,))[0],
            institution_kind=kind,
            graduation_date=graduated,
            grace_months=grace,
            subsidised=subsidised,
        )
        for e in check_student_terms(
            terms, student, rules, borrower_kind=borrower_kind,
            business_date=self.business_date, institution=self.institutions.get(code),
        ):  # fmt: skip
            c.fail(e["field"], f"{e['message']} ({e['message_en']})")
        return None if c.bad else student
