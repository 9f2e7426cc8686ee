"""Tables of approval requests: the request (its own aggregate, journaled as "approval") and one
row per decision taken at a level of its chain."""

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
    UniqueConstraint,
    text,
)
from sqlmodel import Field, SQLModel

from core.db import path_type
from statemachines.enums import RequestState

_VERSION = Column("version", Integer, nullable=False)
LIVE_STATES = tuple(s.value for s in RequestState if s.is_live)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class ApprovalRequest(SQLModel, table=True):
    __tablename__ = "approval_requests"
    __mapper_args__: ClassVar[dict[str, object]] = {"version_id_col": _VERSION}
    __table_args__ = (
        # One live request of a kind per loan (DOMAIN §6); a concurrent second one loses cleanly.
        Index(
            "ux_approval_requests_live",
            "loan_id",
            "kind",
            unique=True,
            postgresql_where=text("state IN ('submitted', 'pending', 'returned')"),
            sqlite_where=text("state IN ('submitted', 'pending', 'returned')"),
        ),
        Index("ix_approval_requests_branch", "branch_path", "state"),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(sa_column=Column(String(20), nullable=False))
    state: RequestState = Field(
        default=RequestState.submitted, sa_column=Column(String(20), nullable=False)
    )
    loan_id: int = Field(foreign_key="loans.id", index=True)
    loan_no: str = Field(sa_column=Column(String(40), nullable=False, index=True))
    branch_id: int = Field(foreign_key="org_units.id")
    branch_path: str = Field(sa_column=Column(path_type(), nullable=False))
    level: int = 0  # the level deciding now (0 before the chain starts)
    round: int = 1  # a request returned for revision and resubmitted starts a new round
    # The chain as it stood when the request was submitted (a later change of configuration
    # does not move a request already under way).
    chain: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    amount_cents: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    requested_by: str = Field(sa_column=Column(String(100), nullable=False))  # "u:…"/"system:…"
    requested_by_id: int | None = Field(default=None, foreign_key="users.id")
    requested_on: date = Field(sa_column=Column(Date, nullable=False))
    reason: str = Field(sa_column=Column(Text, nullable=False))
    # What is asked for, per kind (new maturity, proposed class, signals …), and its facts then.
    subject: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    outcome: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    decided_on: date | None = Field(default=None, sa_column=Column(Date))
    version: int = Field(default=1, sa_column=_VERSION)
    created_at: datetime = Field(
        default_factory=_utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
    updated_at: datetime = Field(
        default_factory=_utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )


class ApprovalDecision(SQLModel, table=True):
    """What one level decided: by whom (and for whom), with the form as submitted."""

    __tablename__ = "approval_decisions"
    __table_args__ = (UniqueConstraint("request_id", "round", "level"),)

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="approval_requests.id", index=True)
    round: int
    level: int
    task_id: int = Field(foreign_key="human_tasks.id")
    decision: str = Field(sa_column=Column(String(30), nullable=False))
    concluded: bool = False  # this decision ended the chain
    decided_by_id: int = Field(foreign_key="users.id")
    decided_by: str = Field(sa_column=Column(String(64), nullable=False))
    on_behalf_of: str | None = Field(default=None, sa_column=Column(String(64)))
    opinion: str | None = Field(default=None, sa_column=Column(Text))
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    business_date: date = Field(sa_column=Column(Date, nullable=False))
    decided_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
