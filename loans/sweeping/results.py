"""What the sweep's steps share: its actor and machine, the tables, the states it reads, and the
results a chunk and a date report."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import ARRAY, Integer, Table, any_, literal
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session

from core.db import is_postgres
from loans.models import (
    Borrower,
    Installment,
    Loan,
    LoanBucketHistory,
)
from statemachines.enums import LoanState, RiskClass

ACTOR = "system:daily-sweep"
MACHINE = "loan_lifecycle"
MARK_OVERDUE, CURE, SETTLE = "mark_overdue", "cure", "settle"
STEPS = ("payments", "dpd", "buckets", "moves", "floors")

LOANS: Table = Loan.__table__  # type: ignore[attr-defined]
INSTALLMENTS: Table = Installment.__table__  # type: ignore[attr-defined]
HISTORY: Table = LoanBucketHistory.__table__  # type: ignore[attr-defined]
BORROWERS: Table = Borrower.__table__  # type: ignore[attr-defined]
OPEN = tuple(s.value for s in LoanState if s.is_open)
AGED = (*OPEN, LoanState.settled.value)  # a loan settled between sweeps drops its bucket too
NPL = tuple(c.value for c in RiskClass if c.is_npl)
IN_LIST = 1000  # ids per IN (…) list


@dataclass(frozen=True)
class FloorProposal:
    """A loan whose regulatory floor is worse than its class: a downgrade to propose to the
    classification chain (客户经理 → 部门负责人 → 信贷评审委员会), never applied here."""

    loan_id: int
    loan_no: str
    current_class: RiskClass
    floor_class: RiskClass
    reasons: tuple[str, ...]  # rule codes binding at floor_class
    rule_refs: tuple[str, ...]  # "<source> <article> (<effective_from>)"
    days_past_due: int = 0


@dataclass(frozen=True)
class SkippedMove:
    """A move the sweep did not make: refused by the machine, or lost to a concurrent writer."""

    loan_id: int
    loan_no: str
    event: str
    state: str
    reason: str


@dataclass
class ChunkResult:
    business_date: date
    loan_id_from: int
    loan_id_to: int
    loans: int = 0  # open loans in the chunk
    payments_applied: int = 0
    dpd_updated: int = 0
    bucket_changes: int = 0
    bucket_rows_opened: int = 0
    bucket_rows_closed: int = 0
    moves: Counter[str] = field(default_factory=Counter)
    conflicts: list[SkippedMove] = field(default_factory=list)  # next run picks them up
    refused: list[SkippedMove] = field(default_factory=list)  # the machine said no: a human's turn
    proposals: list[FloorProposal] = field(default_factory=list)
    journal_entries: int = 0
    elapsed: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STEPS, 0.0))
    # loans whose days past due, bucket, state or balances this chunk changed: their open tasks'
    # business columns are refreshed from them (tasks.opening.refresh_business_columns)
    changed: set[int] = field(default_factory=set)
    settled: list[int] = field(default_factory=list)  # loans this chunk settled


@dataclass
class SweepResult:
    business_date: date
    chunks: int = 0
    loans: int = 0
    payments_applied: int = 0
    dpd_updated: int = 0
    bucket_changes: int = 0
    bucket_rows_opened: int = 0
    bucket_rows_closed: int = 0
    moves: Counter[str] = field(default_factory=Counter)
    conflicts: list[SkippedMove] = field(default_factory=list)
    refused: list[SkippedMove] = field(default_factory=list)
    proposals: list[FloorProposal] = field(default_factory=list)
    journal_entries: int = 0
    elapsed: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STEPS, 0.0))
    seconds: float = 0.0
    anchored: bool = False  # this run wrote a journal anchor (there was something new to cover)

    def add(self, chunk: ChunkResult) -> None:
        self.chunks += 1
        for name in (
            "loans",
            "payments_applied",
            "dpd_updated",
            "bucket_changes",
            "bucket_rows_opened",
            "bucket_rows_closed",
            "journal_entries",
        ):
            setattr(self, name, getattr(self, name) + getattr(chunk, name))
        self.moves.update(chunk.moves)
        self.conflicts += chunk.conflicts
        self.refused += chunk.refused
        self.proposals += chunk.proposals
        for step, seconds in chunk.elapsed.items():
            self.elapsed[step] = self.elapsed.get(step, 0.0) + seconds


def id_parts(session: Session, ids: Sequence[int]) -> list[list[int]]:
    """Id lists for `among`: all at once on Postgres (one array parameter), else by IN_LIST."""
    ids = sorted(ids)
    if not ids:
        return []
    if is_postgres(session):
        return [ids]
    return [ids[start : start + IN_LIST] for start in range(0, len(ids), IN_LIST)]


def among(session: Session, column: Any, ids: list[int]) -> ColumnElement[bool]:
    """`column IN ids`: on Postgres `= ANY(array)`, one parameter however many ids (a thousand
    bound parameters cost more to send than the statement costs to run)."""
    if is_postgres(session):
        return column == any_(literal(ids, ARRAY(Integer)))
    return column.in_(ids)
