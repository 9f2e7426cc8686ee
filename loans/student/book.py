"""Booking a student loan (国家助学贷款): its terms checked against the product's rules, the loan
opened with the borrower's installments, the school facts and the state's subsidy periods stored
and journaled — in the caller's transaction. `open_student_loan` is the one way in: the CSV
importer and the simulator both call it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import insert
from sqlmodel import Session, select

from audit import journal
from core.errors import ValidationError
from loans.book import LOAN, LoanTerms, open_loan
from loans.models import Borrower, BorrowerKind, Loan
from loans.schedule import add_months
from loans.student.models import (
    InstitutionKind,
    SchoolStatus,
    StudentInstitution,
    StudentLoan,
    StudentSubsidy,
)
from loans.student.plan import StudentPlan, StudentPlanFacts, plan_student_loan
from loans.student.rules import StudentLoanRules, rules_for

STUDENT_MACHINE = "student_loan"  # journal entries about the school facts, not a machine's state


@dataclass(frozen=True)
class StudentTerms:
    """What a student loan has beyond any loan's terms. Field names are the CSV columns."""

    institution_code: str  # 经办机构代码
    enrolment_date: date  # 入学日期
    expected_graduation_date: date  # 预计毕业日期
    institution_name: str | None = None  # needed when the institution is new
    institution_kind: InstitutionKind | None = None
    graduation_date: date | None = None  # already confirmed (a loan booked after graduation)
    grace_months: int | None = None  # default: the product's
    subsidised: bool | None = None  # default: the product's

    def facts(self, terms: LoanTerms, rules: StudentLoanRules) -> StudentPlanFacts:
        return StudentPlanFacts(
            principal_cents=terms.principal_cents,
            annual_rate=terms.annual_rate,
            method=terms.repayment_method,
            disbursement_date=terms.disbursement_date,
            maturity_date=terms.maturity_date,
            leaves_school_on=self.graduation_date or self.expected_graduation_date,
            grace_months=rules.grace_months if self.grace_months is None else self.grace_months,
            subsidised=rules.subsidy_in_school if self.subsidised is None else self.subsidised,
        )


def _err(field: str, zh: str, en: str) -> dict[str, str]:
    return {"field": field, "message": zh, "message_en": en}


def check_student_terms(
    terms: LoanTerms,
    student: StudentTerms,
    rules: StudentLoanRules,
    *,
    borrower_kind: BorrowerKind | None,
    business_date: date,
    institution: StudentInstitution | None,
) -> list[dict[str, str]]:
    """Every way the terms break the product's rules, each naming its field (CSV column)."""
    errors: list[dict[str, str]] = []
    if borrower_kind is not None and borrower_kind != BorrowerKind.individual:
        errors.append(_err("borrower_kind", "助学贷款的借款人须为个人",
                           "a student loan's borrower is an individual"))  # fmt: skip
    if terms.repayment_method not in rules.repayment_methods:
        allowed = "|".join(rules.repayment_methods)
        errors.append(_err("repayment_method", f"{rules.name_zh}的还款方式须为 {allowed}",
                           f"{rules.name_en}: repayment method must be {allowed}"))  # fmt: skip
    if institution is None and not student.institution_name:
        errors.append(_err("institution_name", f"新的经办机构 {student.institution_code} 须填写名称",
                           f"new institution {student.institution_code} needs a name"))  # fmt: skip
    elif institution and student.institution_name and institution.name != student.institution_name:
        errors.append(_err("institution_name",
                           f"经办机构 {institution.code} 已登记为 {institution.name!r}",
                           f"institution {institution.code} is already {institution.name!r}"))  # fmt: skip
    expected, start = student.expected_graduation_date, terms.disbursement_date
    if student.enrolment_date >= expected:
        errors.append(_err("expected_graduation_date", "预计毕业日期须晚于入学日期",
                           "must be after the enrolment date"))  # fmt: skip
    if start >= expected:
        errors.append(_err("expected_graduation_date", f"须晚于放款日 {start}（在校期间发放）",
                           f"must be after disbursement {start} (lent while in school)"))  # fmt: skip
    if rules.in_no_disbursement_window(start):
        window = f"{rules.no_disbursement_from}～{rules.no_disbursement_to}"
        errors.append(_err("disbursement_date", f"每年 {window} 不发放{rules.name_zh}（贴息与风险补偿金核算期）",
                           f"no {rules.name_en} is disbursed {window} (subsidy settlement)"))  # fmt: skip
    grace = rules.grace_months if student.grace_months is None else student.grace_months
    if not 0 <= grace <= rules.max_grace_months:
        errors.append(_err("grace_months", f"宽限期须在 0 至 {rules.max_grace_months} 个月之间",
                           f"must be 0 to {rules.max_grace_months} months"))  # fmt: skip
    if student.subsidised and not rules.subsidy_in_school:
        errors.append(_err("subsidised", f"{rules.name_zh}在校期间不贴息",
                           f"{rules.name_en} has no in-school subsidy"))  # fmt: skip
    graduated = student.graduation_date
    if graduated is not None:
        if graduated > business_date:
            errors.append(_err("graduation_date", f"已确认的毕业日期不能晚于今天 {business_date}",
                               f"a confirmed graduation cannot be after today {business_date}"))  # fmt: skip
        if graduated <= max(start, student.enrolment_date):
            errors.append(_err("graduation_date", "毕业日期须晚于入学日期和放款日",
                               "must be after the enrolment and the disbursement"))  # fmt: skip
    errors += _term_errors(terms, expected, graduated or expected, grace, rules)
    return errors


def _term_errors(
    terms: LoanTerms, expected: date, leaves: date, grace: int, rules: StudentLoanRules
) -> list[dict[str, str]]:
    """学制 + 15 年, 最长 22 年 (the term limits), and principal repayment inside the term."""
    errors = []
    latest = min(add_months(expected, 12 * rules.max_years_after_graduation),
                 add_months(terms.disbursement_date, 12 * rules.max_term_years))  # fmt: skip
    if terms.maturity_date > latest:
        errors.append(_err("maturity_date",
                           f"期限最长为学制加 {rules.max_years_after_graduation} 年、不超过 "
                           f"{rules.max_term_years} 年：到期日不能晚于 {latest}",
                           f"at most {rules.max_years_after_graduation} years after graduation "
                           f"and {rules.max_term_years} years in all: not after {latest}"))  # fmt: skip
    starts = add_months(leaves, grace)
    if starts >= terms.maturity_date:
        errors.append(_err("maturity_date", f"还本起始日 {starts}（毕业后宽限 {grace} 个月）须早于到期日",
                           f"repayment start {starts} ({grace} months after graduation) must be "
                           "before maturity"))  # fmt: skip
    return errors


def institutions_by_code(session: Session, codes: set[str]) -> dict[str, StudentInstitution]:
    if not codes:
        return {}
    found = session.exec(
        select(StudentInstitution).where(StudentInstitution.code.in_(sorted(codes)))  # type: ignore[attr-defined]
    ).all()
    return {i.code: i for i in found}


def open_student_loan(
    session: Session,
    terms: LoanTerms,
    student: StudentTerms,
    *,
    actor: str,
    now: datetime,
    business_date: date,
    institutions: dict[str, StudentInstitution] | None = None,
    reason: str = "助学贷款入账 (student loan booked)",
) -> Loan:
    """Book a student loan: check the terms (ValidationError naming each field), open the loan
    with the borrower's installments, store the school facts and the subsidy periods, journal
    it. A new institution is created; `institutions` (by code) saves a lookup per loan when many
    are booked at once, and gains the new ones. Only flushes: the caller's transaction commits."""
    rules = rules_for(terms.product)
    if rules is None:
        raise ValidationError(
            f"产品 {terms.product!r} 不是助学贷款产品 (product {terms.product!r} is not a "
            "student-loan product)",
            errors=[_err("product", "不是助学贷款产品", "not a student-loan product")],
        )
    known = institutions if institutions is not None else {}
    if student.institution_code not in known:
        known |= institutions_by_code(session, {student.institution_code})
    institution = known.get(student.institution_code)
    borrower = session.get(Borrower, terms.borrower_id)
    errors = check_student_terms(
        terms, student, rules, business_date=business_date, institution=institution,
        borrower_kind=BorrowerKind(borrower.kind) if borrower else None,
    )  # fmt: skip
    if errors:
        fields = ", ".join(dict.fromkeys(e["field"] for e in errors))
        raise ValidationError(
            f"助学贷款 {terms.loan_no} 不符合产品规则：{fields} "
            f"(student loan {terms.loan_no} breaks the product's rules: {fields})",
            errors=errors,
            loan_no=terms.loan_no,
        )
    if institution is None:
        institution = StudentInstitution(
            code=student.institution_code,
            name=student.institution_name or student.institution_code,
            kind=student.institution_kind,
        )
        session.add(institution)
        session.flush()
        known[institution.code] = institution
    facts = student.facts(terms, rules)
    plan = plan_student_loan(facts)
    loan = open_loan(
        session, terms, actor=actor, now=now, business_date=business_date,
        schedule=plan.installments, reason=reason,
    )  # fmt: skip
    assert loan.id is not None and institution.id is not None
    record = StudentLoan(
        loan_id=loan.id,
        institution_id=institution.id,
        enrolment_date=student.enrolment_date,
        expected_graduation_date=student.expected_graduation_date,
        graduation_date=student.graduation_date,
        graduation_confirmed_on=business_date if student.graduation_date else None,
        status=SchoolStatus.graduated if student.graduation_date else SchoolStatus.in_school,
        grace_months=facts.grace_months,
        repayment_start=facts.repayment_start,
        subsidised=facts.subsidised,
    )
    session.add(record)
    store_subsidy(session, loan.id, plan, business_date)
    journal.append(
        session,
        aggregate_type=LOAN,
        aggregate_id=loan.loan_no,
        machine=STUDENT_MACHINE,
        event="book_student_loan",
        from_state=None,
        to_state=None,
        actor=actor,
        now=now,
        business_date=business_date,
        reason=reason,
        payload={"institution": institution.code, **school_facts(record), **plan_summary(plan)},
    )
    session.flush()
    return loan


def store_subsidy(session: Session, loan_id: int, plan: StudentPlan, on: date) -> None:
    if plan.subsidy:  # one multi-row INSERT (years of monthly periods)
        session.execute(
            insert(StudentSubsidy.__table__),  # type: ignore[attr-defined]
            [{"loan_id": loan_id, "period_start": p.start, "period_end": p.end,
              "interest_cents": p.interest_cents, "recorded_on": on} for p in plan.subsidy],
        )  # fmt: skip


def school_facts(record: StudentLoan) -> dict[str, Any]:
    return {
        "enrolment_date": record.enrolment_date,
        "expected_graduation_date": record.expected_graduation_date,
        "graduation_date": record.graduation_date,
        "status": record.status,
        "grace_months": record.grace_months,
        "repayment_start": record.repayment_start,
        "subsidised": record.subsidised,
    }


def plan_summary(plan: StudentPlan) -> dict[str, Any]:
    return {
        "installments": len(plan.installments),
        "subsidy_periods": len(plan.subsidy),
        "subsidy_interest_cents": sum(p.interest_cents for p in plan.subsidy),
        "subsidy_withdrawn": len(plan.withdraw),
        "carried_interest_cents": plan.carried_interest_cents,
    }
