"""Student-loan forms (国家助学贷款, DOMAIN §8; 000 国家助学贷款信息管理系统): the graduation
confirmation (毕业确认) — what became of the student, and how to reach them now — and the contact
record (联系记录) the student-loan system keeps: yearly while in school, after the graduation
confirmation, and by the means it names (短信、邮件、电话、家访、即时通讯).

Pure pydantic: imports no DB, HTTP or Prefect library.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date
from typing import Annotated, Any, ClassVar

from pydantic import Field

from forms.base import (
    AttachmentRef,
    LabelledEnum,
    LongText,
    RuleViolation,
    ShortText,
    TaskForm,
    label,
    missing,
)

Phone = Annotated[str, Field(pattern=r"^[0-9+\-() ]{5,30}$")]
Email = Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=200)]


class SchoolOutcome(LabelledEnum):
    """What the institution confirms (its values are loans.student.models.SchoolStatus)."""

    graduated = "graduated", "已毕业", "Graduated"
    in_school = "in_school", "继续在校（升学、延期毕业）", "Still in school (further degree, delay)"
    left_school = "left_school", "退学、结业或肄业", "Left school (withdrew, without a degree)"


class Employment(LabelledEnum):
    employed = "employed", "已就业", "Employed"
    further_study = "further_study", "升学深造", "Further study"
    seeking = "seeking", "待就业", "Seeking work"
    other = "other", "其他", "Other"


class GraduationConfirmationForm(TaskForm):
    """毕业确认 (000 §3.1): whether the student graduated on the expected date, left school, or
    stays in school until a new date — the in-school subsidy ends, and repayment starts after
    the grace period, from the date confirmed here — and the contact details after school."""

    kind: ClassVar[str] = "graduation_confirmation"
    title_zh: ClassVar[str] = "毕业确认"
    title_en: ClassVar[str] = "Graduation confirmation"

    status: SchoolOutcome = label("学籍状况", "School status")
    graduation_date: date | None = label(
        "毕业（离校）日期", "Graduation (leaving) date", default=None
    )
    new_expected_graduation_date: date | None = label(
        "新的预计毕业日期", "New expected graduation date", default=None
    )
    employment: Employment | None = label("就业情况", "Employment", default=None)
    employer: ShortText | None = label("工作单位", "Employer", default=None)
    phone: Phone = label("联系电话", "Phone")
    address: ShortText = label("联系地址", "Address")
    email: Email | None = label("电子邮箱", "Email", default=None)
    emergency_contact: ShortText | None = label(
        "紧急联系人及电话", "Emergency contact and phone", default=None
    )
    confirmation_sheet: AttachmentRef | None = label(
        "毕业确认表（签字）", "Signed graduation confirmation sheet", default=None
    )
    notes: LongText | None = label("备注", "Notes", default=None)

    @classmethod
    def rule_violations(cls, v: Mapping[str, Any]) -> Iterator[RuleViolation]:
        status = v.get("status")
        if status in (SchoolOutcome.graduated, SchoolOutcome.left_school):
            if missing(v, "graduation_date"):
                yield RuleViolation("graduation_date", "请填写毕业（离校）日期",
                                    "give the graduation (leaving) date")  # fmt: skip
            if not missing(v, "new_expected_graduation_date"):
                yield RuleViolation("new_expected_graduation_date", "仅继续在校时填写",
                                    "only when still in school")  # fmt: skip
            if missing(v, "employment"):
                yield RuleViolation("employment", "离校时请填写就业情况",
                                    "give the employment after school")  # fmt: skip
        if status == SchoolOutcome.in_school:
            if missing(v, "new_expected_graduation_date"):
                yield RuleViolation("new_expected_graduation_date", "继续在校须填写新的预计毕业日期",
                                    "still in school: give the new expected date")  # fmt: skip
            if not missing(v, "graduation_date"):
                yield RuleViolation("graduation_date", "继续在校时不填写毕业日期",
                                    "still in school: no graduation date")  # fmt: skip
        if v.get("employment") == Employment.employed and missing(v, "employer"):
            yield RuleViolation("employer", "已就业时请填写工作单位", "give the employer")


class ContactChannel(LabelledEnum):
    """联系方式 (000 联系记录): 短信、邮件、电话、家访、即时通讯."""

    sms = "sms", "短信", "Text message"
    email = "email", "邮件", "Email"
    phone = "phone", "电话", "Phone"
    home_visit = "home_visit", "家访", "Home visit"
    instant_message = "instant_message", "即时通讯", "Instant message"


class StudentContactForm(TaskForm):
    """助学贷款联系记录: a contact with the borrowing student (000: 在校生每年联系一次、毕业确认后
    学生信息确认联系). A student who cannot be reached is a warning signal (DOMAIN §5)."""

    kind: ClassVar[str] = "student_contact"
    title_zh: ClassVar[str] = "助学贷款联系记录"
    title_en: ClassVar[str] = "Student-loan contact"

    contacted_on: date = label("联系日期", "Contacted on")
    channel: ContactChannel = label("联系方式", "Channel")
    reached: bool = label("是否联系上", "Reached", default=False)
    school_status: SchoolOutcome | None = label(
        "学生自述学籍状况", "School status the student reports", default=None
    )
    phone: Phone | None = label("新的联系电话（如有变化）", "New phone (if changed)", default=None)
    address: ShortText | None = label(
        "新的联系地址（如有变化）", "New address (if changed)", default=None
    )
    employer: ShortText | None = label("工作单位（如有）", "Employer (if any)", default=None)
    repayment_explained: bool = label(
        "已告知还款安排（宽限期、还款起始日）", "Repayment plan explained (grace, start)",
        default=False,
    )  # fmt: skip
    notes: LongText = label("联系情况", "What was said")

    @classmethod
    def rule_violations(cls, v: Mapping[str, Any]) -> Iterator[RuleViolation]:
        if v.get("reached") is False and not missing(v, "school_status"):
            yield RuleViolation("school_status", "未联系上时不填写学籍状况",
                                "not reached: no school status")  # fmt: skip
