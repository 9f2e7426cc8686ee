"""The student-loan product's rules as data (国家助学贷款, DOMAIN §8), keyed by product code: who
pays interest in school, the grace period, the term limits, when graduation is confirmed and the
student contacted, the disbursement window and the yearly institution assessment. A bank
replaces or adds products with a JSON file (`student_loan_rules_file`); every number has its
source beside it (docs/student-loans.md). Imports no DB, web or Prefect library."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Annotated

import pydantic
from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.errors import ValidationError
from core.settings import get_settings
from loans.schedule import RepaymentMethod

MonthDay = Annotated[str, Field(pattern=r"^(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$")]
Share = Annotated[Decimal, Field(ge=0, le=1)]

SEEDS = "000 国家助学贷款信息管理系统 / 助学贷款系统化使用"
NATIONAL = "《关于调整完善国家助学贷款有关政策措施的通知》(2020)"


def month_day(value: str, year: int) -> date:
    """ "12-20" in `year` (a 29 February outside a leap year is the 28th)."""
    month, day = (int(part) for part in value.split("-"))
    try:
        return date(year, month, day)
    except ValueError:
        return date(year, month, 28)


class Grade(BaseModel):
    """One grade of the yearly institution assessment (机构考核): it is given when every limit it
    sets holds; a measure with nothing to measure (no loans in repayment, no confirmation due)
    does not hold a grade back."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str = Field(min_length=1, max_length=20)
    name_zh: str = Field(min_length=1)
    name_en: str = Field(min_length=1)
    max_overdue_rate: Share | None = None  # overdue balance ÷ balance
    min_contact_coverage: Share | None = None  # loans contacted this year ÷ loans due a contact
    min_confirmation_on_time: Share | None = None  # graduation confirmations done by their due


class Assessment(BaseModel):
    """The yearly institution assessment (机构考核管理, 000): grades best first, the last one given
    when no other holds; and the point at which new lending to an institution is suspended."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    grades: tuple[Grade, ...] = Field(min_length=1)
    fallback: Grade
    # The programme's long-standing rule for a school: default rate above 20 % and more than 20
    # defaulting borrowers → the bank may stop new lending (暂停发放).
    suspend_above_default_rate: Share = Decimal("0.20")
    suspend_above_defaulters: int = Field(default=20, ge=0)
    # A loan in this overdue bucket or a later one (loans.aging.bucket_names) is a default (违约)
    # in the default rate; M1: any arrears the daily sweep recorded.
    default_from_bucket: str = Field(default="M1", pattern=r"^M[0-9]+\+?$")


class StudentLoanRules(BaseModel):
    """The rules of one student-loan product. Per-loan values (grace months, subsidy) default
    from here and are checked against the limits here."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    product: str = Field(min_length=1, max_length=40)
    name_zh: str = Field(min_length=1)
    name_en: str = Field(min_length=1)
    # 财政贴息: while the student is in school the state pays the interest (national programme).
    subsidy_in_school: bool = True
    # 还本宽限期: principal repayment starts this many months after graduation; interest only
    # until then (national programme, 2020: five years).
    grace_months: int = Field(default=60, ge=0)
    max_grace_months: int = Field(default=60, ge=0)
    # 贷款期限 = 学制 + 15 年, 最长不超过 22 年 (national programme, 2020).
    max_years_after_graduation: int = Field(default=15, ge=1)
    max_term_years: int = Field(default=22, ge=1)
    repayment_methods: tuple[RepaymentMethod, ...] = (
        RepaymentMethod.equal_installment,
        RepaymentMethod.equal_principal,
    )
    # 毕业确认 (000 §3.1): opens when the expected graduation date arrives, due N days later.
    graduation_confirmation_days: int = Field(default=30, ge=1)
    # 联系记录 (000): 在校生每年联系一次 — by this day of each year; also after graduation.
    yearly_contact_by: MonthDay = "12-20"
    # 毕业确认后学生信息确认联系 (000): within N days of the confirmation.
    after_graduation_contact_days: int = Field(default=30, ge=1)
    # 生源地助学贷款 (000): no disbursement from 11-20 to 12-20 (inclusive), while the year's
    # subsidy and risk compensation are computed. None: no window.
    no_disbursement_from: MonthDay | None = "11-20"
    no_disbursement_to: MonthDay | None = "12-20"
    # The bank's generic checks (first usage, loan card, customer visit) for this product's
    # loans: the student-loan system's own work replaces them.
    standard_inspections: bool = False
    assessment: Assessment

    @model_validator(mode="after")
    def _check(self) -> StudentLoanRules:
        if self.grace_months > self.max_grace_months:
            raise ValueError("grace_months exceeds max_grace_months")
        if (self.no_disbursement_from is None) != (self.no_disbursement_to is None):
            raise ValueError("give both ends of the no-disbursement window, or neither")
        if not self.repayment_methods:
            raise ValueError("at least one repayment method")
        return self

    def in_no_disbursement_window(self, day: date) -> bool:
        if self.no_disbursement_from is None or self.no_disbursement_to is None:
            return False
        start = month_day(self.no_disbursement_from, day.year)
        end = month_day(self.no_disbursement_to, day.year)
        if start <= end:
            return start <= day <= end
        return day >= start or day <= end  # a window over the new year


def _grade(code: str, zh: str, en: str, *limits: str | None) -> Grade:
    overdue, coverage, on_time = (
        Decimal(x) if x else None for x in (*limits, None, None, None)[:3]
    )
    return Grade(code=code, name_zh=zh, name_en=en, max_overdue_rate=overdue,
                 min_contact_coverage=coverage, min_confirmation_on_time=on_time)  # fmt: skip


# Grade thresholds are the bank's policy (the seeds name the assessment, not its numbers).
ASSESSMENT = Assessment(
    grades=(
        _grade("A", "优秀", "Excellent", "0.03", "0.95", "0.95"),
        _grade("B", "良好", "Good", "0.05", "0.90", "0.90"),
        _grade("C", "合格", "Satisfactory", "0.10", "0.80", None),
    ),
    fallback=_grade("D", "不合格", "Unsatisfactory"),
)

DEFAULTS: dict[str, StudentLoanRules] = {
    "student": StudentLoanRules(
        product="student", name_zh="国家助学贷款", name_en="National student loan",
        assessment=ASSESSMENT,
    ),
}  # fmt: skip


@lru_cache(maxsize=8)
def _from_file(path: str, _mtime_ns: int) -> dict[str, StudentLoanRules]:
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
        products = [StudentLoanRules.model_validate(item) for item in document["products"]]
    except (OSError, ValueError, KeyError, TypeError, pydantic.ValidationError) as exc:
        raise ValidationError(
            f"助学贷款规则文件 {path} 无效 (student-loan rules file {path} is not valid: {exc})",
            path=path,
        ) from exc
    return {**DEFAULTS, **{p.product: p for p in products}}


def all_rules() -> dict[str, StudentLoanRules]:
    """Every student-loan product: the defaults, replaced or added to by the rules file."""
    path = get_settings().student_loan_rules_file
    if not path:
        return DEFAULTS
    try:
        mtime = Path(path).stat().st_mtime_ns  # an edited file is read again
    except OSError:
        mtime = -1  # _from_file names the missing file
    return _from_file(path, mtime)


def rules_for(product: str | None) -> StudentLoanRules | None:
    """The product's student-loan rules, or None for any other product."""
    return all_rules().get(product or "")


def student_products() -> tuple[str, ...]:
    return tuple(sorted(all_rules()))
