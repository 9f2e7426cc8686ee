"""What every CSV import kind shares: the kinds and their columns, the report, the refusal naming
every bad line, the job a file is imported as."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from sqlmodel import Session, select

from core.errors import ValidationError
from loans.csv_rows import (
    Cells,
    LineError,
    distinct,
    fetch_in,
)
from loans.models import Loan


class ImportKind(StrEnum):
    loans = "loans"  # 贷款台账
    installments = "installments"  # 还款计划
    payments = "payments"  # 还款流水


class ScheduleSource(StrEnum):
    generate = "generate"  # built from the loan terms by loans.schedule
    imported = "imported"  # loaded afterwards from installments.csv


# 国家助学贷款 (loans/imports/student.py): required on a student-loan product's rows as its rules
# say, refused on any other product's.
STUDENT_COLUMNS = (
    "institution_code",
    "institution_name",
    "institution_kind",
    "enrolment_date",
    "expected_graduation_date",
    "graduation_date",
    "grace_months",
    "subsidised",
)

COLUMNS: dict[ImportKind, tuple[tuple[str, ...], tuple[str, ...]]] = {  # (required, optional)
    ImportKind.loans: (
        (
            "loan_no",
            "customer_no",
            "borrower_name",
            "borrower_kind",
            "branch",
            "account_manager",
            "product",
            "principal",
            "annual_rate_pct",
            "disbursement_date",
            "maturity_date",
            "repayment_method",
        ),
        (
            "key_client",
            "assistant_manager",
            "risk_manager",
            "currency",
            "schedule",
            *STUDENT_COLUMNS,
        ),
    ),
    ImportKind.installments: (("loan_no", "seq_no", "due_date", "principal", "interest"), ()),
    ImportKind.payments: (("payment_ref", "loan_no", "value_date", "amount"), ()),
}


class ImportRejectedError(ValidationError):
    """The file was refused as a whole, nothing imported; `line_errors` lists every problem."""

    code = "import_rejected"

    def __init__(self, source: str, line_errors: list[LineError]) -> None:
        self.line_errors = sorted(line_errors, key=lambda e: e.line)
        bad = len({e.line for e in line_errors})
        super().__init__(
            f"{source}：{bad} 行有误，未导入任何数据 "
            f"({source}: {bad} bad line{'' if bad == 1 else 's'}, nothing imported)",
            errors=[
                {"line": e.line, "field": e.column, "message": e.message} for e in self.line_errors
            ],
            source=source,
        )


@dataclass
class ImportReport:
    kind: ImportKind
    rows: int
    created: int = 0
    skipped: int = 0  # already present and identical (a re-imported payment)
    details: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Job:
    source: str
    actor: str
    now: datetime
    business_date: date


Writer = Callable[[ImportReport], None]


def loans_by_no(session: Session, rows: list[Cells]) -> dict[str, Loan]:
    found = fetch_in(session, select(Loan), Loan.loan_no, distinct(rows, "loan_no"))
    return {loan.loan_no: loan for loan in found}


def yuan(cents: int) -> str:
    return f"{Decimal(cents) / 100:.2f}"
