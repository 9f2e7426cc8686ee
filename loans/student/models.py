"""Tables of the student-loan book: the handling institutions (经办机构), each student loan's
school facts and plan (enrolment, graduation, grace, repayment start, subsidy), and the interest
the state pays while the student is in school (财政贴息), period by period."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import ClassVar

from sqlalchemy import BigInteger, Column, Date, ForeignKey, Index, Integer, String
from sqlmodel import Field, SQLModel


class InstitutionKind(StrEnum):
    university = "university"  # 高校 (高校国家助学贷款: the school's 资助中心 handles it)
    county_centre = "county_centre"  # 县级学生资助管理中心 (生源地信用助学贷款)


class SchoolStatus(StrEnum):
    """学籍状态 as the student-loan system knows it."""

    in_school = "in_school"  # 在校 (also: continuing to a further degree, 升学)
    graduated = "graduated"  # 已毕业 (confirmed)
    left_school = (
        "left_school"  # 退学 / 结业 / 肄业 (confirmed): the subsidy ends, as at graduation
    )


class StudentInstitution(SQLModel, table=True):
    """经办机构: the school or county student-aid centre that handles a student loan; the
    monthly overdue report and the yearly assessment are per institution."""

    __tablename__ = "student_institutions"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(sa_column=Column(String(32), unique=True, nullable=False))
    name: str = Field(sa_column=Column(String(200), nullable=False))
    kind: InstitutionKind | None = Field(default=None, sa_column=Column(String(20)))


_STUDENT_VERSION = Column("version", Integer, nullable=False)


class StudentLoan(SQLModel, table=True):
    """A loan of a student-loan product: its school facts and the plan they give. Changed only by
    loans.student.graduation (a stale writer gets a conflict: `version`)."""

    __tablename__ = "student_loans"
    __mapper_args__: ClassVar[dict[str, object]] = {"version_id_col": _STUDENT_VERSION}
    __table_args__ = (
        # the scheduler's graduation confirmations: students still in school, by expected date
        Index("ix_student_loans_expected", "status", "expected_graduation_date"),
    )

    loan_id: int = Field(
        sa_column=Column(Integer, ForeignKey("loans.id"), primary_key=True, autoincrement=False)
    )
    institution_id: int = Field(foreign_key="student_institutions.id", index=True)
    enrolment_date: date = Field(sa_column=Column(Date, nullable=False))  # 入学日期
    expected_graduation_date: date = Field(sa_column=Column(Date, nullable=False))  # 预计毕业
    graduation_date: date | None = Field(default=None, sa_column=Column(Date))  # 确认的毕业/离校日
    graduation_confirmed_on: date | None = Field(default=None, sa_column=Column(Date))
    status: SchoolStatus = Field(
        default=SchoolStatus.in_school, sa_column=Column(String(20), nullable=False)
    )
    grace_months: int  # 还本宽限期 of this loan
    repayment_start: date = Field(sa_column=Column(Date, nullable=False))  # 还本起始日
    subsidised: bool = True  # 在校期间财政贴息
    version: int = Field(default=1, sa_column=_STUDENT_VERSION)

    @property
    def leaves_school_on(self) -> date:
        """The day the in-school period ends: confirmed, else expected."""
        return self.graduation_date or self.expected_graduation_date


class StudentSubsidy(SQLModel, table=True):
    """财政贴息: the interest of one in-school period, paid by the state, not the borrower. A
    graduation confirmation that ends the subsidy earlier withdraws the rows it no longer covers
    (withdrawn_on) and records what replaces them, so a figure as of a past date does not move."""

    __tablename__ = "student_loan_subsidies"

    id: int | None = Field(default=None, primary_key=True)
    loan_id: int = Field(foreign_key="loans.id", index=True)
    period_start: date = Field(sa_column=Column(Date, nullable=False))
    period_end: date = Field(sa_column=Column(Date, nullable=False, index=True))
    interest_cents: int = Field(sa_column=Column(BigInteger, nullable=False))
    recorded_on: date = Field(sa_column=Column(Date, nullable=False))
    withdrawn_on: date | None = Field(default=None, sa_column=Column(Date))
