"""Tables of early-warning cases (预警) and collection cases (催收) with their promises to pay."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlmodel import Field, SQLModel

from core.db import path_type
from statemachines.enums import WarningState


def _utcnow() -> datetime:
    return datetime.now(UTC)


_WARNING_VERSION = Column("version", Integer, nullable=False)
_CASE_VERSION = Column("version", Integer, nullable=False)


class WarningCase(SQLModel, table=True):
    """预警: a signal about a loan, graded and given an owner and a disposal plan by the
    warning-disposition chain, then tracked to closure (000 个人授信 第三条 快速处置)."""

    __tablename__ = "warning_cases"
    __mapper_args__: ClassVar[dict[str, object]] = {"version_id_col": _WARNING_VERSION}

    id: int | None = Field(default=None, primary_key=True)
    # Idempotency of signals raised by flows, e.g. "broken_promises:L1:2"; people's are unique.
    key: str = Field(sa_column=Column(String(200), unique=True, nullable=False))
    loan_id: int = Field(foreign_key="loans.id", index=True)
    loan_no: str = Field(sa_column=Column(String(40), nullable=False))
    branch_path: str = Field(sa_column=Column(path_type(), nullable=False))
    state: WarningState = Field(
        default=WarningState.raised, sa_column=Column(String(20), nullable=False)
    )
    signals: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    description: str = Field(sa_column=Column(Text, nullable=False))
    evidence: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    raised_by: str = Field(sa_column=Column(String(100), nullable=False))
    raised_on: date = Field(sa_column=Column(Date, nullable=False))
    grade: str | None = Field(default=None, sa_column=Column(String(20)))
    owner_id: int | None = Field(default=None, foreign_key="users.id")
    measures: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    disposal_plan: str | None = Field(default=None, sa_column=Column(Text))
    deadline: date | None = Field(default=None, sa_column=Column(Date))
    request_id: int | None = Field(default=None, foreign_key="approval_requests.id")
    closed_on: date | None = Field(default=None, sa_column=Column(Date))
    outcome: str | None = Field(default=None, sa_column=Column(Text))
    version: int = Field(default=1, sa_column=_WARNING_VERSION)
    created_at: datetime = Field(
        default_factory=_utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )


class CollectionCase(SQLModel, table=True):
    """催收: a loan in arrears on the pressure ladder (003 §11; 001 二 §2). The step only rises
    while the case is open; a cured loan leaves the ladder (the case closes)."""

    __tablename__ = "collection_cases"
    __mapper_args__: ClassVar[dict[str, object]] = {"version_id_col": _CASE_VERSION}
    __table_args__ = (
        Index(
            "ux_collection_cases_open",
            "loan_id",
            unique=True,
            postgresql_where=text("closed_on IS NULL"),
            sqlite_where=text("closed_on IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    loan_id: int = Field(foreign_key="loans.id", index=True)
    loan_no: str = Field(sa_column=Column(String(40), nullable=False))
    step: int = 1  # position on the ladder (1 = negotiation … 5 = legal referral)
    step_since: date = Field(sa_column=Column(Date, nullable=False))
    opened_on: date = Field(sa_column=Column(Date, nullable=False))
    closed_on: date | None = Field(default=None, sa_column=Column(Date))
    close_reason: str | None = Field(default=None, sa_column=Column(String(40)))
    missed_consecutive: int = 0  # installments missed in a row (as of the last run)
    missed_cumulative: int = 0  # installments ever missed (paid late or unpaid)
    broken_promises: int = 0
    quadrant: str | None = Field(default=None, sa_column=Column(String(4)))  # I..IV (003)
    last_contact_on: date | None = Field(default=None, sa_column=Column(Date))
    version: int = Field(default=1, sa_column=_CASE_VERSION)


class CollectionPromise(SQLModel, table=True):
    """承诺还款: an amount the borrower promised by a date, kept or broken (checked by the ladder)."""

    __tablename__ = "collection_promises"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="collection_cases.id", index=True)
    task_id: int = Field(foreign_key="human_tasks.id", unique=True)
    amount_cents: int = Field(sa_column=Column(BigInteger, nullable=False))
    promised_for: date = Field(sa_column=Column(Date, nullable=False))
    made_on: date = Field(sa_column=Column(Date, nullable=False))
    state: str = Field(default="open", sa_column=Column(String(10), nullable=False))
    checked_on: date | None = Field(default=None, sa_column=Column(Date))
