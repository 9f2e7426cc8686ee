"""Tables of the loan book. Amounts are integers in cents (分); rates are Decimal fractions."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    Numeric,
    String,
    UniqueConstraint,
    text,
)
from sqlmodel import Field, SQLModel

from statemachines.enums import LoanState, RiskClass


def _utcnow() -> datetime:
    return datetime.now(UTC)


class BorrowerKind(StrEnum):
    corporate = "corporate"  # 对公
    individual = "individual"  # 个人 (retail)


class CollateralKind(StrEnum):
    guarantee = "guarantee"  # 保证
    mortgage = "mortgage"  # 抵押
    pledge = "pledge"  # 质押


class ExtensionStatus(StrEnum):
    pending = "pending"  # on its approval chain
    approved = "approved"  # decided; applied in the same transaction (never left unused)
    rejected = "rejected"
    applied = "applied"  # the loan is extended
    withdrawn = "withdrawn"


_LOAN_VERSION = Column("version", Integer, nullable=False)


class Borrower(SQLModel, table=True):
    __tablename__ = "borrowers"

    id: int | None = Field(default=None, primary_key=True)
    customer_no: str = Field(sa_column=Column(String(32), unique=True, nullable=False))
    name: str = Field(max_length=200)
    kind: BorrowerKind = Field(sa_column=Column(String(20), nullable=False))
    is_key_client: bool = False  # 重点客户 (002: amount, risk, difficulty)
    org_unit_id: int = Field(foreign_key="org_units.id", index=True)
    industry: str | None = Field(default=None, max_length=100)


class Loan(SQLModel, table=True):
    __tablename__ = "loans"
    # Optimistic lock: every UPDATE checks and bumps `version` (a stale writer gets StaleDataError).
    __mapper_args__: ClassVar[dict[str, object]] = {"version_id_col": _LOAN_VERSION}

    id: int | None = Field(default=None, primary_key=True)
    loan_no: str = Field(sa_column=Column(String(40), unique=True, nullable=False))
    borrower_id: int = Field(foreign_key="borrowers.id", index=True)
    product: str = Field(sa_column=Column(String(40), nullable=False, index=True))
    branch_id: int = Field(foreign_key="org_units.id", index=True)
    account_manager_id: int = Field(foreign_key="users.id", index=True)  # 主办客户经理
    assistant_manager_id: int | None = Field(default=None, foreign_key="users.id")  # 协办
    risk_manager_id: int | None = Field(default=None, foreign_key="users.id")  # 风险经理
    principal_cents: int = Field(sa_column=Column(BigInteger, nullable=False))
    annual_rate: Decimal = Field(sa_column=Column(Numeric(9, 6, asdecimal=True), nullable=False))
    currency: str = Field(default="CNY", max_length=3)
    disbursement_date: date = Field(sa_column=Column(Date, nullable=False))
    # The business date the loan entered this system's book (its journal's `open`): no sweep of
    # an earlier date touches it, so nothing is journaled before the loan existed here.
    booked_on: date = Field(sa_column=Column(Date, nullable=False, index=True))
    maturity_date: date = Field(sa_column=Column(Date, nullable=False, index=True))
    original_maturity_date: date = Field(sa_column=Column(Date, nullable=False))
    repayment_method: str = Field(sa_column=Column(String(32), nullable=False))
    state: LoanState = Field(
        default=LoanState.normal, sa_column=Column(String(20), nullable=False, index=True)
    )
    risk_class: RiskClass = Field(
        default=RiskClass.pass_, sa_column=Column(String(20), nullable=False, index=True)
    )
    days_past_due: int = 0  # maintained by the daily sweep; rules recompute it from installments
    handed_over: bool = False  # 移交资产处置
    # Restructuring (分类办法 第十七–二十条): set when an extension is granted for financial difficulty.
    restructured_on: date | None = Field(default=None, sa_column=Column(Date))
    class_before_restructure: RiskClass | None = Field(default=None, sa_column=Column(String(20)))
    version: int = Field(default=1, sa_column=_LOAN_VERSION)
    created_at: datetime = Field(
        default_factory=_utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
    # Overdue bucket M1..M6+ (003) as of the last daily sweep; None while current.
    bucket: str | None = Field(default=None, sa_column=Column(String(8)))


class Installment(SQLModel, table=True):
    __tablename__ = "installments"
    __table_args__ = (UniqueConstraint("loan_id", "seq_no"),)

    id: int | None = Field(default=None, primary_key=True)
    loan_id: int = Field(foreign_key="loans.id", index=True)
    seq_no: int
    due_date: date = Field(sa_column=Column(Date, nullable=False, index=True))
    principal_due_cents: int = Field(sa_column=Column(BigInteger, nullable=False))
    interest_due_cents: int = Field(sa_column=Column(BigInteger, nullable=False))
    principal_paid_cents: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    interest_paid_cents: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    paid_off_on: date | None = Field(default=None, sa_column=Column(Date))

    @property
    def outstanding_cents(self) -> int:
        return (self.principal_due_cents - self.principal_paid_cents) + (
            self.interest_due_cents - self.interest_paid_cents
        )


class Payment(SQLModel, table=True):
    __tablename__ = "payments"

    id: int | None = Field(default=None, primary_key=True)
    # The bank's transaction reference: re-importing the same file never double-counts.
    payment_ref: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    loan_id: int = Field(foreign_key="loans.id", index=True)
    value_date: date = Field(sa_column=Column(Date, nullable=False))
    amount_cents: int = Field(sa_column=Column(BigInteger, nullable=False))
    interest_applied_cents: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    principal_applied_cents: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    unapplied_cents: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    allocated: bool = False
    source: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(
        default_factory=_utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )


class Collateral(SQLModel, table=True):
    """担保/抵押/质押: a guarantor or a pledged/mortgaged asset securing a loan."""

    __tablename__ = "collaterals"

    id: int | None = Field(default=None, primary_key=True)
    loan_id: int = Field(foreign_key="loans.id", index=True)
    kind: CollateralKind = Field(sa_column=Column(String(20), nullable=False))
    description: str = Field(max_length=400)
    guarantor_name: str | None = Field(default=None, max_length=200)
    value_cents: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    released_on: date | None = Field(default=None, sa_column=Column(Date))


class ExtensionRequest(SQLModel, table=True):
    """展期申请: the terms asked for, whether it is a restructuring (decided from the book's facts,
    never from the applicant's word alone), and what became of it. Its approval chain lives in
    approvals/; the loan's lifecycle applies it only when it is granted."""

    __tablename__ = "extension_requests"
    __table_args__ = (
        # One extension on its way per loan (a second is refused; a race loses cleanly).
        Index(
            "ux_extension_requests_pending",
            "loan_id",
            unique=True,
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    loan_id: int = Field(foreign_key="loans.id", index=True)
    requested_by: str = Field(max_length=64)
    requested_on: date = Field(sa_column=Column(Date, nullable=False))
    new_maturity_date: date = Field(sa_column=Column(Date, nullable=False))
    reason: str = Field(max_length=1000)
    financial_difficulty: bool = False  # declared by the applicant (可能逾期、无法市场融资 …)
    # Restructuring (分类办法 第十七条): declared, or already in arrears, or other debts 不良.
    restructuring: bool = False
    restructuring_reasons: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    days_past_due_at_request: int = 0
    # Guarantors' written consent (贷款通则): [{"guarantor": name, "sha256": file}]
    guarantor_consents: list[dict[str, str]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    status: ExtensionStatus = Field(
        default=ExtensionStatus.pending, sa_column=Column(String(20), nullable=False)
    )
    approved_by: str | None = Field(default=None, max_length=64)
    approved_months: int | None = None
    decided_on: date | None = Field(default=None, sa_column=Column(Date))
    applied_on: date | None = Field(default=None, sa_column=Column(Date))
    class_before: RiskClass | None = Field(default=None, sa_column=Column(String(20)))
    approval_request_id: int | None = Field(default=None, index=True)


class SweptChunk(SQLModel, table=True):
    """A chunk of a date's sweep as it last ran, written in the chunk's own transaction: its
    loan ids, what it did (the counts its step returns) and the machine that ran it — how a
    sweep spread over a work pool's workers adds up its counts, and where an operator sees
    which worker ran which chunk. A re-run of the chunk replaces it."""

    __tablename__ = "swept_chunks"

    business_date: date = Field(sa_column=Column(Date, primary_key=True))
    loan_id_from: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    loan_id_to: int = Field(sa_column=Column(BigInteger, nullable=False))
    counts: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    node: str = Field(sa_column=Column(String(200), nullable=False))
    finished_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class SweptDay(SQLModel, table=True):
    """A business date the daily sweep ran for. The sweep moves forward only: a date before the
    last one swept is refused (loans.sweep.begin_sweep)."""

    __tablename__ = "swept_days"

    business_date: date = Field(sa_column=Column(Date, primary_key=True))
    started_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    finished_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))


class LoanBucketHistory(SQLModel, table=True):
    """逾期分档历史: the overdue bucket a loan was in and for which days, written by the daily sweep.

    A row covers [entered_on, left_on); left_on NULL is the loan's current bucket. A current loan
    (no days past due) has no open row: only arrears leave a history.
    """

    __tablename__ = "loan_bucket_history"
    __table_args__ = (
        # At most one open row per loan: a re-run of the sweep can never open a second one.
        Index(
            "ux_loan_bucket_history_open",
            "loan_id",
            unique=True,
            postgresql_where=text("left_on IS NULL"),
            sqlite_where=text("left_on IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    loan_id: int = Field(foreign_key="loans.id", index=True)
    bucket: str = Field(sa_column=Column(String(8), nullable=False))
    entered_on: date = Field(sa_column=Column(Date, nullable=False))
    left_on: date | None = Field(default=None, sa_column=Column(Date))


# 第七条 contagion: "does this borrower have another 不良 loan?" is asked of every loan in the daily
# sweep; this index holds only the 不良 loans (a few percent), so the answer rarely reads a page.
Index(
    "ix_loans_npl_borrower",
    Loan.__table__.c.borrower_id,  # type: ignore[attr-defined]
    postgresql_where=text("risk_class IN ('substandard', 'doubtful', 'loss')"),
    sqlite_where=text("risk_class IN ('substandard', 'doubtful', 'loss')"),
)

# The daily sweep allocates payments a feed recorded without allocating them: a handful among
# millions, found through this index of the unallocated ones only. The predicates are the SQL each
# dialect renders for `~Payment.allocated`, so the planners match them.
Index(
    "ix_payments_unallocated",
    Payment.__table__.c.loan_id,  # type: ignore[attr-defined]
    postgresql_where=text("NOT allocated"),
    sqlite_where=text("allocated = 0"),
)
